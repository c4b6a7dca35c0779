package cli

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

var idRE = regexp.MustCompile(`^[a-z2-7]{16}$`)

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not the JSON expected (%v):\n%s", err, s)
	}
	return v
}

func TestBoundary_Lifecycle(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")

	r := d.run("boundary", "list")
	if r.code != ExitOK || r.out != "" || !strings.Contains(r.errOut, "No boundaries yet") {
		t.Fatalf("empty list: %+v", r)
	}
	if got := d.ok("boundary", "list", "--json"); strings.TrimSpace(got) != "[]" {
		t.Fatalf("empty list --json = %q, want []", got)
	}

	id := d.create("boundary", "add", "  I tell you the same day when my ex contacts me  ")
	if !idRE.MatchString(id) {
		t.Fatalf("boundary ID %q is not 16 base32 characters", id)
	}
	d.now = d.now.Add(time.Minute)
	other := d.create("boundary", "add", "I keep my phone unlocked at home")

	out := d.ok("boundary", "list")
	contains(t, "boundary list", out,
		"ID        STATUS",
		id[:8]+"  waiting for you and your partner  I tell you the same day when my ex contacts me",
		other[:8])

	d.now = d.now.Add(2*time.Hour + 30*time.Second)
	r = d.run("boundary", "agree", id[:6])
	if r.code != ExitOK || r.out != "" || !strings.Contains(r.errOut, "You agreed") {
		t.Fatalf("agree: %+v", r)
	}
	list := decode[[]boundaryJSON](t, d.ok("boundary", "list", "--json"))
	if len(list) != 2 {
		t.Fatalf("list --json has %d boundaries, want 2", len(list))
	}
	b := list[0]
	if b.ID != id || b.Text != "I tell you the same day when my ex contacts me" || b.ProposedBy != "Sam" ||
		strings.Join(b.AgreedBy, ",") != "Sam" || b.Agreed || b.Archived {
		t.Fatalf("boundary after agreeing: %+v", b)
	}
	if b.ProposedAt != "2026-03-14T09:30:00Z" {
		t.Errorf("proposed_at = %q, want the time of the add", b.ProposedAt)
	}

	out = d.ok("boundary", "show", id)
	contains(t, "boundary show", out,
		"Boundary "+id,
		"    I tell you the same day when my ex contacts me",
		"Proposed by:  Sam, 2 hours ago",
		"Agreed by:    Sam (just now)",
		"Not yet:      your partner (not paired yet)",
		"Status:       not agreed yet",
		"History",
		"sam-laptop",
		"agreed to")

	// Editing asks for agreement again.
	d.ok("boundary", "edit", id, "I tell you within a day when my ex contacts me")
	got := decode[boundaryJSON](t, d.ok("boundary", "show", id, "--json"))
	if got.Text != "I tell you within a day when my ex contacts me" || len(got.AgreedBy) != 0 {
		t.Fatalf("after edit: %+v", got)
	}
	if len(got.Agreements) != 1 || got.Agreements[0].Current {
		t.Errorf("after edit the earlier agreement should be kept as not current: %+v", got.Agreements)
	}
	if len(got.History) < 3 {
		t.Errorf("show --json history has %d entries, want proposal, agreement and edit", len(got.History))
	}
	contains(t, "show after edit", d.ok("boundary", "show", id), "Earlier:", "agreed to earlier words")

	// Archive hides, --all shows, restore brings back; nothing is lost.
	d.ok("boundary", "archive", id)
	list = decode[[]boundaryJSON](t, d.ok("boundary", "list", "--json"))
	if len(list) != 1 || list[0].ID != other {
		t.Fatalf("after archive, list = %+v", list)
	}
	all := decode[[]boundaryJSON](t, d.ok("boundary", "list", "--all", "--json"))
	if len(all) != 2 || !all[0].Archived {
		t.Fatalf("after archive, list --all = %+v", all)
	}
	contains(t, "list --all", d.ok("boundary", "list", "--all"), "archived; waiting for")
	d.ok("boundary", "restore", id)
	list = decode[[]boundaryJSON](t, d.ok("boundary", "list", "--json"))
	if len(list) != 2 || list[0].Archived {
		t.Fatalf("after restore, list = %+v", list)
	}
}

func TestBoundary_Errors(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	id := d.create("boundary", "add", "I answer honestly when you ask")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"boundary", "add", "   "}, "the boundary is empty"},
		{[]string{"boundary", "edit", id, ""}, "the new words are empty"},
		{[]string{"boundary", "show", "zzzzzzzz"}, `no boundary with ID "zzzzzzzz": see 'trustsync boundary list --all'`},
		{[]string{"boundary", "agree", "zzzzzzzz"}, `no boundary with ID "zzzzzzzz"`},
		{[]string{"boundary", "edit", "zzzzzzzz", "x"}, `no boundary with ID "zzzzzzzz"`},
		{[]string{"boundary", "archive", "zzzzzzzz"}, `no boundary with ID "zzzzzzzz"`},
		{[]string{"boundary", "restore", "zzzzzzzz"}, `no boundary with ID "zzzzzzzz"`},
		{[]string{"boundary", "show", id[:5]}, "is too short: give at least 6 characters"},
		{[]string{"boundary", "agree", id[:3]}, "is too short"},
		// A goal's ID is not a boundary's.
		{[]string{"boundary", "show", d.create("goal", "add", "Walk")}, "no boundary with ID"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			msg := d.fail(ExitFailure, tt.args...)
			if !strings.Contains(msg, tt.want) {
				t.Errorf("stderr %q, want it to contain %q", msg, tt.want)
			}
		})
	}
	// Nothing above changed the boundary.
	b := decode[[]boundaryJSON](t, d.ok("boundary", "list", "--json"))
	if len(b) != 1 || b[0].Text != "I answer honestly when you ask" {
		t.Fatalf("failed commands changed the boundaries: %+v", b)
	}
}

// TestBoundary_AmbiguousPrefix needs two IDs that share 6 characters, which
// random IDs almost never do; two extra rows with such IDs are put in the
// store's view, where the library looks prefixes up.
func TestBoundary_AmbiguousPrefix(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	d.create("boundary", "add", "a real one")
	st, err := store.Open(d.home, store.Options{})
	must(t, err)
	err = st.Update(context.Background(), func(tx trustsync.Tx) error {
		for _, id := range []string{"aaaaaabbbbbbbbbb", "aaaaaacccccccccc"} {
			data, _ := json.Marshal(trustsync.Boundary{ID: id, Text: "twin " + id})
			if err := tx.PutItem(trustsync.Item{Kind: crdt.KindBoundary, ID: id, Doc: crdt.BoundariesDoc, Data: data}); err != nil {
				return err
			}
		}
		return nil
	})
	must(t, err)
	must(t, st.Close())

	for _, args := range [][]string{
		{"boundary", "show", "aaaaaa"},
		{"boundary", "agree", "aaaaaa"},
		{"boundary", "edit", "aaaaaa", "new words"},
		{"boundary", "archive", "aaaaaa"},
	} {
		msg := d.fail(ExitFailure, args...)
		want := `trustsync: ID "aaaaaa" could mean 2 boundary items (aaaaaabbbbbbbbbb, aaaaaacccccccccc): type more of the ID` + "\n"
		if msg != want {
			t.Errorf("%v: stderr %q, want %q", args, msg, want)
		}
	}
}

func TestBoundary_AgreedByBoth(t *testing.T) {
	sam := initDevice(t, "Sam", "sam-laptop")
	alex := initDevice(t, "Alex", "alex-phone")
	id := sam.create("boundary", "add", "We put our phones away at dinner")
	sam.ok("boundary", "agree", id)
	pair(t, sam, alex)

	contains(t, "Alex's list", alex.ok("boundary", "list"), "agreed by Sam; waiting for you")
	alex.ok("boundary", "agree", id)
	syncDevices(t, sam, alex)

	for who, d := range map[string]*device{"Sam": sam, "Alex": alex} {
		b := decode[boundaryJSON](t, d.ok("boundary", "show", id, "--json"))
		if !b.Agreed || len(b.AgreedBy) != 2 || len(b.WaitingFor) != 0 {
			t.Errorf("%s sees %+v, want agreed by both", who, b)
		}
		contains(t, who+"'s list", d.ok("boundary", "list"), "agreed by both")
	}
	// An edit by either asks both again.
	alex.ok("boundary", "edit", id, "We put our phones in the hall at dinner")
	syncDevices(t, sam, alex)
	b := decode[boundaryJSON](t, sam.ok("boundary", "show", id, "--json"))
	if b.Agreed || len(b.AgreedBy) != 0 || strings.Join(b.WaitingFor, ",") != "Sam,Alex" {
		t.Errorf("after Alex's edit Sam sees %+v, want both asked again", b)
	}
}
