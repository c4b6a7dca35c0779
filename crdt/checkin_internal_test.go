package crdt

import (
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
)

// TestReadFeelings: readers take the list when a check-in has one, and the
// JSON string that earlier versions wrote otherwise.
func TestReadFeelings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		legacy any      // the "feelings" field; nil: none
		list   []string // the "feeling_list" field; nil: none
		want   []string
	}{
		{"written by an earlier version", `["tired","hopeful"]`, nil, []string{"tired", "hopeful"}},
		{"written by this version", `["tired","hopeful"]`, []string{"tired", "hopeful"}, []string{"tired", "hopeful"}},
		{"the list wins", `["old"]`, []string{"new"}, []string{"new"}},
		{"an empty list", `[]`, []string{}, []string{}},
		{"none at all", nil, nil, []string{}},
		{"a string that is no list", `tired`, nil, []string{}},
		{"a number instead of a string", int64(3), nil, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := automerge.New()
			m := automerge.NewMap()
			noErrI(t, d.RootMap().Set("c", m))
			if tc.legacy != nil {
				noErrI(t, m.Set("feelings", tc.legacy))
			}
			if tc.list != nil {
				noErrI(t, setFeelings(m, tc.list))
			}
			c, ok := checkInFromDoc(d.RootMap(), "c")
			if !ok || !slices.Equal(c.Feelings, tc.want) || c.Feelings == nil {
				t.Fatalf("feelings %q (found %v), want %q", c.Feelings, ok, tc.want)
			}
		})
	}
}

func noErrI(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
