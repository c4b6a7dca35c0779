package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestPair_TerminalAsksBothSides runs two real 'pair' commands on
// 127.0.0.1 whose input is a terminal. Each shows the code and asks; a no
// on the inviting side refuses the pairing on both, stores nothing (Sam
// gets none of Alex's boundaries) and uses the invite up. Two yeses pair,
// printing the code line once.
func TestPair_TerminalAsksBothSides(t *testing.T) {
	alex := initDevice(t, "Alex", "alex-laptop")
	sam := initDevice(t, "Sam", "sam-laptop")
	sam.tty = true
	alex.create("boundary", "add", "Only for Sam, once we compared the codes")

	pairRound := func(alexAnswer, samAnswer string) (inviter, joiner result) {
		t.Helper()
		f, out, errOut := testFactory(alex)
		f.IOStreams.In = strings.NewReader(alexAnswer)
		f.IOStreams.StdinTTY = true
		code := make(chan int, 1)
		go func() {
			code <- Execute(context.Background(), f, NewCmdRoot(f), []string{"--home", alex.home, "pair", "--timeout", "1m"})
		}()
		waitFor(t, "Waiting until", errOut.String)
		invite := regexp.MustCompile(`(?m)^invite: (\S+)$`).FindStringSubmatch(out.String())
		if invite == nil {
			t.Fatalf("no invite line in %q", out.String())
		}
		joiner = sam.runIn(samAnswer, "pair", invite[1])
		inviter = result{code: <-code, out: out.String(), errOut: errOut.String()}
		return inviter, joiner
	}

	ir, jr := pairRound("n\n", "y\n")
	for _, r := range []result{ir, jr} {
		if !regexp.MustCompile(`(?m)^code: [0-9]{6}$`).MatchString(r.out) ||
			!regexp.MustCompile(`Does your partner's screen show code [0-9]{3} [0-9]{3}\? \[y/N\] `).MatchString(r.errOut) {
			t.Fatalf("a side did not show the code and ask: stdout %q, stderr %q", r.out, r.errOut)
		}
	}
	if ir.code != ExitFailure || !strings.Contains(ir.errOut, "trustsync: pairing refused: the codes were not confirmed: Alex said the codes differ: nothing was paired and the invite is used up") {
		t.Fatalf("inviting pair: exit %d, stderr %q", ir.code, ir.errOut)
	}
	if jr.code != ExitFailure || !strings.Contains(jr.errOut, "trustsync: the other device says: pairing refused: the codes were not confirmed: Alex said the codes differ") {
		t.Fatalf("joining pair: exit %d, stderr %q", jr.code, jr.errOut)
	}
	if got := sam.ok("boundary", "list", "--json"); strings.Contains(got, "Only for Sam") {
		t.Fatalf("Sam holds Alex's boundary after a refusal: %s", got)
	}
	if got := alex.ok("devices", "--json"); strings.Count(got, `"id"`) != 1 {
		t.Fatalf("Alex lists devices after a refusal: %s", got)
	}

	ir, jr = pairRound("y\n", "yes\n")
	if ir.code != ExitOK || jr.code != ExitOK {
		t.Fatalf("two yeses: inviter exit %d (%q), joiner exit %d (%q)", ir.code, ir.errOut, jr.code, jr.errOut)
	}
	if strings.Count(ir.out, "code: ") != 1 || strings.Count(jr.out, "code: ") != 1 {
		t.Fatalf("the code line is not printed once: %q / %q", ir.out, jr.out)
	}
	waitFor(t, "Only for Sam", func() string { return sam.ok("boundary", "list", "--json") })
}
