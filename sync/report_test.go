package sync

import (
	"strings"
	"testing"

	"github.com/trustsync/trustsync/crdt"
)

func TestWords(t *testing.T) {
	for _, tc := range []struct {
		tally map[string]int
		want  string
	}{
		{nil, ""},
		{map[string]int{crdt.KindApology: 1}, "1 apology"},
		{map[string]int{crdt.KindApology: 2}, "2 apologies"},
		{map[string]int{crdt.KindCommitmentEntry: 1}, "1 kept-or-missed entry"},
		{map[string]int{crdt.KindCommitmentEntry: 3}, "3 kept-or-missed entries"},
		{map[string]int{crdt.KindCheckIn: 1, crdt.KindBoundary: 2}, "2 boundaries and 1 check-in"},
		{map[string]int{crdt.KindMoment: 1, crdt.KindQuestion: 2, crdt.KindDevice: 1},
			"2 questions, 1 moment and changes to the devices"},
		{map[string]int{crdt.KindMember: 1}, "changes to the devices"},
		{map[string]int{crdt.KindGoal: 0}, ""},
		{map[string]int{"newer": 2}, `2 items of kind "newer"`},
	} {
		if got := Words(tc.tally); got != tc.want {
			t.Errorf("Words(%v) = %q, want %q", tc.tally, got, tc.want)
		}
	}
}

// TestWords_EveryKind: every kind of the table reads in its own words, one
// and several, and none falls back to its stored name.
func TestWords_EveryKind(t *testing.T) {
	for _, k := range crdt.Kinds() {
		if k.Plumbing {
			if got := Words(map[string]int{k.Name: 2}); got != "changes to the devices" {
				t.Errorf("Words of 2 %s = %q, want changes to the devices", k.Name, got)
			}
			continue
		}
		one, two := Words(map[string]int{k.Name: 1}), Words(map[string]int{k.Name: 2})
		if one != "1 "+k.One || two != "2 "+k.Many {
			t.Errorf("kind %s reads %q and %q, want %q and %q", k.Name, one, two, "1 "+k.One, "2 "+k.Many)
		}
		if strings.Contains(one+two, "_") || strings.Contains(one+two, "kind") || k.One == k.Many {
			t.Errorf("kind %s reads %q and %q: not words a person says", k.Name, one, two)
		}
	}
}
