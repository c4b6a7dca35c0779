package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
)

// goneEnv makes this test binary the process of
// TestChildStartsAfterBinaryGone whose own file is removed or replaced
// before its first check: "remove" or "replace:MARKER".
const goneEnv = "TRUSTSYNC_SANDBOX_TEST_GONE"

// TestChildStartsAfterBinaryGone runs a copy of this test binary that
// removes its own file, or replaces it with a script that leaves a marker
// file when run, and only then starts its checker (the default command, as
// in serve). The checker must still start, from the image the process runs:
// a valid message passes, a bad one is rejected by the child (not
// "unavailable"), and the script never runs.
func TestChildStartsAfterBinaryGone(t *testing.T) {
	if mode := os.Getenv(goneEnv); mode != "" {
		goneChild(mode)
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("the running image is reached through /proc/self/exe on Linux only")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"remove", "replace"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "trustsync-copy.test")
			copyFile(t, exe, bin)
			marker := filepath.Join(dir, "impostor-ran")
			env := mode
			if mode == "replace" {
				env += ":" + marker
			}
			cmd := exec.Command(bin, "-test.run=^TestChildStartsAfterBinaryGone$", "-test.count=1")
			cmd.Env = append(os.Environ(), goneEnv+"="+env)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the copy failed: %v\n%s", err, out)
			}
			for _, want := range []string{"GONE " + mode, "ACCEPTED", "REJECTED", "STARTS 1"} {
				if !strings.Contains(string(out), want) {
					t.Fatalf("no %q in the output of the copy:\n%s", want, out)
				}
			}
			if _, err := os.Stat(bin); mode == "remove" && !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the binary was not removed: %v", err)
			}
			if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the replacement ran as the checker (%v)", err)
			}
			t.Logf("binary %sd, then: %s", mode, strings.Join(strings.Fields(string(grepLines(out, "ACCEPTED", "REJECTED", "STARTS"))), " "))
		})
	}
}

// goneChild is the copy of TestChildStartsAfterBinaryGone. It prints what
// happened; a failure prints FAIL and exits 1.
func goneChild(mode string) {
	fail := func(format string, a ...any) {
		fmt.Printf("FAIL "+format+"\n", a...)
		os.Exit(1)
	}
	self := os.Args[0]
	kind, marker, _ := strings.Cut(mode, ":")
	switch kind {
	case "remove":
		if err := os.Remove(self); err != nil {
			fail("remove: %v", err)
		}
	case "replace":
		tmp := self + ".new"
		script := "#!/bin/sh\necho ran > '" + marker + "'\nexit 3\n"
		if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
			fail("write: %v", err)
		}
		if err := os.Rename(tmp, self); err != nil {
			fail("rename: %v", err)
		}
	default:
		fail("unknown mode %q", mode)
	}
	fmt.Println("GONE", kind)
	c := New(Options{})
	defer c.Close()
	ctx := context.Background()
	local, remote := automerge.New(), automerge.New()
	if err := remote.RootMap().Set("k", int64(1)); err != nil {
		fail("%v", err)
	}
	if _, err := remote.Commit("one"); err != nil {
		fail("%v", err)
	}
	m, ok := automerge.NewSyncState(remote).GenerateMessage()
	if !ok {
		fail("nothing to send")
	}
	if err := c.CheckMessage(ctx, "doc", local, nil, m.Bytes()); err != nil {
		fail("a valid message: %v", err)
	}
	fmt.Println("ACCEPTED")
	err := c.CheckMessage(ctx, "doc", local, nil, []byte{0x42, 1, 2, 3})
	if !errors.Is(err, ErrRejected) || errors.Is(err, ErrUnavailable) {
		fail("a bad message: %v", err)
	}
	fmt.Println("REJECTED")
	fmt.Println("STARTS", c.Stats().Starts)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// grepLines returns the lines of out that start with one of the prefixes.
func grepLines(out []byte, prefixes ...string) []byte {
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				keep = append(keep, l)
			}
		}
	}
	return []byte(strings.Join(keep, "\n"))
}

// TestChildKilledBetweenChecks kills the child from outside between two
// checks of one document (its mirror in step, so the next request is the
// input itself), as the OOM killer or a user might. The next input is not
// blamed for the death: it is checked by a new child and passes. The same
// holds for a check that first mirrors a document, and for CheckChanges.
func TestChildKilledBetweenChecks(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	ctx := context.Background()
	p := newPair(newDoc(t, 5), automerge.New())
	kill := func() {
		c.mu.Lock()
		pid := c.ch.cmd.Process.Pid
		c.mu.Unlock()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// Wait until its files are closed: its leader thread turns
		// zombie before the other threads, which share its descriptors,
		// are gone; each closes them before it leaves the task list.
		for i := 0; ; i++ {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			tasks, terr := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
			if err != nil || terr != nil || strings.Contains(string(stat), ") Z ") && len(tasks) <= 1 {
				return
			}
			if i > 6000 {
				t.Fatal("the killed child is still running after a minute")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	send := func() {
		t.Helper()
		edit(t, p.remote, "k", time.Now().UnixNano())
		m, ok := p.remoteSS.GenerateMessage()
		if !ok {
			t.Fatal("nothing to send")
		}
		if err := c.CheckMessage(ctx, "doc", p.local, p.localSS.Save(), m.Bytes()); err != nil {
			t.Fatalf("a valid message after the child was killed: %v", err)
		}
		if _, err := p.localSS.ReceiveMessage(m.Bytes()); err != nil {
			t.Fatal(err)
		}
		if m, ok := p.localSS.GenerateMessage(); ok {
			if _, err := p.remoteSS.ReceiveMessage(m.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
	}
	send()
	for range 3 {
		kill()
		send()
	}
	// A kill before a check whose mirror must be brought in step first (a
	// new document): the mirror goes to a new child, blamed on nothing.
	kill()
	other := newDoc(t, 2)
	if err := c.CheckLoad(ctx, "other", nil, other.Save()); err != nil {
		t.Fatalf("a valid document after the child was killed: %v", err)
	}
	chs, err := p.remote.Changes()
	if err != nil {
		t.Fatal(err)
	}
	kill()
	if err := c.CheckChanges(ctx, automerge.SaveChanges(chs)); err != nil {
		t.Fatalf("valid changes after the child was killed: %v", err)
	}
	st := c.Stats()
	if st.Crashes != 0 || st.Rejected != 0 || st.BaseCrashes != 0 || st.Starts != 6 {
		t.Fatalf("stats %+v: want 6 starts and nothing rejected or blamed", st)
	}
	t.Logf("5 kills between checks: %+v", st)
}
