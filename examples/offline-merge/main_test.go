package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRun runs the demo as `go run ./examples/offline-merge` does and
// checks what a reader of its output checks: what each partner typed
// while offline is shown before the merged result, both concurrent edits
// of one boundary survive the merge, and the demo ends saying both
// devices agree.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("offline-merge: %v\noutput so far:\n%s", err, out.String())
	}
	s := out.String()
	merged := strings.Index(s, "== What Alex's laptop shows after the merge")
	if merged < 0 {
		t.Fatalf("no merged result in the output:\n%s", s)
	}
	for _, typed := range []string{
		`Alex edits the purchase boundary to "We talk before any purchase over 100 euros"`,
		`Sam  edits the same boundary, at the same time, to "We always talk before any purchase over 100"`,
		`Sam  writes a check-in, mood 4/5, feeling hopeful: "The walk helped. I want more of those."`,
	} {
		if i := strings.Index(s, typed); i < 0 || i > merged {
			t.Errorf("%q is not shown before the merged result:\n%s", typed, s)
		}
	}
	if got := strings.Count(s[merged:], `"We always talk before any purchase over 100 euros" (proposed by Alex`); got != 2 {
		t.Errorf("the merged boundary shows on %d devices, want 2:\n%s", got, s[merged:])
	}
	if !strings.HasSuffix(s, "Every edit from both devices arrived, and both devices agree.\n") {
		t.Errorf("the demo does not end saying both devices agree:\n%s", s)
	}
}
