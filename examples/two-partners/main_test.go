package main

import (
	"bytes"
	"regexp"
	"testing"
)

// TestRun runs the example as `go run ./examples/two-partners` does: the
// boundary and the check-in Alex writes reach Sam's phone, and Sam's reply
// reaches Alex's.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("two-partners: %v\noutput so far:\n%s", err, out.String())
	}
	want := regexp.MustCompile(`^Alex's and Sam's phones are paired and online together\.
Alex proposes a boundary; Sam's phone shows it [0-9.]+m?s later: "We say it when we need space, and when we will be back"
Alex writes a check-in; it reaches Sam's phone [0-9.]+m?s later\.
Sam replies; Alex's phone shows Sam: "It was lovely\."
$`)
	if !want.MatchString(out.String()) {
		t.Errorf("output:\n%s\nwant it to match:\n%s", out.String(), want)
	}
}
