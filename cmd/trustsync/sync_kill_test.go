package main

import (
	"bufio"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trustsync/trustsync/internal/faults"
)

// pairHomes pairs home b with home a through the real `trustsync pair`
// commands: a invites, b joins, both must print the same code.
func pairHomes(t *testing.T, a, b string) {
	t.Helper()
	pairByCommands(t, fltCmd(t, a, nil, "pair", "--timeout", "60s"), func(invite string) (string, string, int) {
		return fltRun(t, b, nil, "pair", invite)
	})
}

// pairByCommands pairs two homes through the real `trustsync pair`
// commands, however the test runs them: inviter is the inviting
// command, not started yet; join runs `trustsync pair INVITE` on the
// joining home to its end and returns its stdout, stderr and exit code.
// Both must print the same code.
func pairByCommands(t *testing.T, inviter *exec.Cmd, join func(invite string) (string, string, int)) {
	t.Helper()
	out, err := inviter.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb lockedBuffer
	inviter.Stderr = &errb
	if err := inviter.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inviter.Process.Kill(); _ = inviter.Wait() })
	lines := bufio.NewScanner(out)
	var invite, codeA string
	for lines.Scan() {
		if s, ok := strings.CutPrefix(lines.Text(), "invite: "); ok {
			invite = s
			break
		}
	}
	if invite == "" {
		t.Fatalf("pair printed no invite: %s", errb.String())
	}
	joinOut, joinErr, code := join(invite)
	if code != 0 {
		t.Fatalf("pair INVITE: exit %d: %s", code, joinErr)
	}
	for lines.Scan() {
		if s, ok := strings.CutPrefix(lines.Text(), "code: "); ok {
			codeA = s
			break
		}
	}
	_, _ = io.Copy(io.Discard, out)
	if err := inviter.Wait(); err != nil {
		t.Fatalf("pair (inviter): %v: %s", err, errb.String())
	}
	if want := "code: " + codeA; codeA == "" || !strings.Contains(joinOut, want) {
		t.Fatalf("codes differ: inviter %q, joiner printed %q", codeA, joinOut)
	}
}

// startServe starts `trustsync serve` on home and waits for its
// "listening on" line.
func startServe(t *testing.T, home string) *exec.Cmd {
	t.Helper()
	cmd := fltCmd(t, home, nil, "serve")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		lines := bufio.NewScanner(out)
		ok := false
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), "listening on ") {
				ok = true
				break
			}
		}
		ready <- ok
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("serve on %s ended before it listened", home)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("serve on %s did not listen within 30s", home)
	}
	return cmd
}

func kill(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// TestSync_KilledMidSyncConverges pairs two real homes, lets both write
// while apart, then repeatedly SIGKILLs `trustsync sync` on one device and
// `trustsync serve` on the other at random moments of their exchange, with
// more writes in between. A final `trustsync sync` must succeed and leave
// both devices with exactly the same boundaries and check-ins, every
// acknowledged one among them.
func TestSync_KilledMidSyncConverges(t *testing.T) {
	rounds := 6
	if faults.Long() {
		rounds = 40
	}
	a, b := t.TempDir(), t.TempDir()
	fltInit(t, a, "Alex")
	fltInit(t, b, "Sam")
	pairHomes(t, a, b)

	acked := map[string]map[string]bool{"boundary": {}, "checkin": {}}
	write := func(home, who string, n int) {
		for i := 0; i < n; i++ {
			out, stderr, code := fltRun(t, home, nil, "boundary", "add", who+" writes boundary "+time.Now().Format(time.RFC3339Nano))
			if code != 0 {
				t.Fatalf("boundary add on %s: exit %d: %s", who, code, stderr)
			}
			acked["boundary"][fltAckedID(out)] = true
		}
		out, stderr, code := fltRun(t, home, nil, "checkin", "add", "--mood", "3", "--note", who+" checks in")
		if code != 0 {
			t.Fatalf("checkin add on %s: exit %d: %s", who, code, stderr)
		}
		acked["checkin"][fltAckedID(out)] = true
	}
	write(a, "Alex", 8)
	write(b, "Sam", 8)

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	serve := startServe(t, a)
	t.Cleanup(func() { kill(serve) })
	killedSync, killedServe := 0, 0
	for r := 0; r < rounds; r++ {
		syncCmd := fltCmd(t, b, nil, "sync", "--timeout", "20s")
		if err := syncCmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		if rng.IntN(2) == 0 {
			kill(serve)
			killedServe++
			kill(syncCmd)
			serve = startServe(t, a)
		} else {
			kill(syncCmd)
		}
		killedSync++
		write(a, "Alex", 1)
		write(b, "Sam", 1)
	}

	out, stderr, code := fltRun(t, b, nil, "sync", "--timeout", "60s")
	if code != 0 {
		t.Fatalf("final sync: exit %d: %s", code, stderr)
	}
	t.Logf("%d rounds: sync killed %d times, serve killed %d times; final sync: %s",
		rounds, killedSync, killedServe, strings.TrimSpace(out))
	for _, kind := range []string{"boundary", "checkin"} {
		onA, onB := fltListed(t, a, kind), fltListed(t, b, kind)
		for id := range acked[kind] {
			if !onA[id] || !onB[id] {
				t.Errorf("%s %s acknowledged but missing (on Alex's device: %v, on Sam's: %v)", kind, id, onA[id], onB[id])
			}
		}
		if len(onA) != len(onB) || len(onA) != len(acked[kind]) {
			t.Errorf("%s: Alex's device has %d, Sam's %d, %d were acknowledged", kind, len(onA), len(onB), len(acked[kind]))
		}
	}
}
