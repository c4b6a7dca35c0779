package main

import (
	"os"
	"regexp"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdGrab is "grab NAME REGEXP VAR...": it waits up to 30s, as await does,
// for a line of NAME.out or NAME.err matching REGEXP, then sets each VAR
// to the next parenthesized submatch, so that a script can use what a
// background process printed (a relay's address, say).
func cmdGrab(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: grab NAME REGEXP VAR...")
	}
	p := findProc(ts, args[0])
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	if re.NumSubexp() < len(args)-2 {
		ts.Fatalf("grab: %q has %d submatches for %d variables", args[1], re.NumSubexp(), len(args)-2)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var m []string
		for _, f := range []string{p.out, p.eout} {
			b, _ := os.ReadFile(f)
			if m = re.FindStringSubmatch(string(b)); m != nil {
				break
			}
		}
		if m != nil {
			for i, v := range args[2:] {
				ts.Setenv(v, m[i+1])
			}
			return
		}
		select {
		case <-p.done:
			ts.Fatalf("grab %s: exited (%v) without a line matching %q", args[0], p.err, args[1])
		default:
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(p.out)
			eout, _ := os.ReadFile(p.eout)
			ts.Fatalf("grab %s: no line matching %q in 30s\nstdout:\n%s\nstderr:\n%s", args[0], args[1], out, eout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
