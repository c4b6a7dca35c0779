package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Background processes of the scripts (start, await, halt). Unlike
// testscript's own "exec ... &", their output goes to files, so that a
// script can wait for a line ("listening on") while the process runs.

type procKey struct {
	ts   *testscript.TestScript
	name string
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // of Wait, once done is closed
	out  string
	eout string
}

var (
	procsMu sync.Mutex
	procs   = map[procKey]*proc{}
)

// scriptEnv is the environment of the script for a process it starts:
// the test process's own, with the variables a script sets overriding it.
func scriptEnv(ts *testscript.TestScript) []string {
	keys := []string{"PATH", "HOME", "TMPDIR", "WORK", "XDG_DATA_HOME",
		"TRUSTSYNC_HOME", "TRUSTSYNC_LISTEN", "TRUSTSYNC_MDNS", "NO_COLOR", "GOCOVERDIR",
		"XDG_RUNTIME_DIR", "TRUSTSYNC_KEYRING", "TRUSTSYNC_PASSPHRASE",
		"TRUSTSYNC_RELAY", "TRUSTSYNC_RELAYS", "TRUSTSYNC_HOLEPUNCH", "TRUSTSYNC_AUTONAT"}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "TRUSTSYNC_") {
			env = append(env, kv)
		}
	}
	for _, k := range keys {
		env = append(env, k+"="+ts.Getenv(k))
	}
	return env
}

func cmdStart(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: start NAME prog [args...]")
	}
	name := args[0]
	key := procKey{ts, name}
	procsMu.Lock()
	_, dup := procs[key]
	procsMu.Unlock()
	if dup {
		ts.Fatalf("start %s: already started", name)
	}
	p := &proc{done: make(chan struct{}), out: ts.MkAbs(name + ".out"), eout: ts.MkAbs(name + ".err")}
	stdout, err := os.Create(p.out)
	ts.Check(err)
	stderr, err := os.Create(p.eout)
	ts.Check(err)
	path, err := exec.LookPath(args[1])
	if err != nil {
		// LookPath uses the test process's PATH; the script's has the
		// commands of testscript.Main too.
		for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
			if fi, err2 := os.Stat(filepath.Join(dir, args[1])); err2 == nil && !fi.IsDir() {
				path, err = filepath.Join(dir, args[1]), nil
				break
			}
		}
	}
	ts.Check(err)
	p.cmd = exec.Command(path, args[2:]...)
	p.cmd.Dir = ts.MkAbs(".")
	p.cmd.Env = scriptEnv(ts)
	p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
	ts.Check(p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		stdout.Close()
		stderr.Close()
		close(p.done)
	}()
	procsMu.Lock()
	procs[key] = p
	procsMu.Unlock()
	ts.Defer(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		procsMu.Lock()
		delete(procs, key)
		procsMu.Unlock()
	})
}

func findProc(ts *testscript.TestScript, name string) *proc {
	procsMu.Lock()
	defer procsMu.Unlock()
	p := procs[procKey{ts, name}]
	if p == nil {
		ts.Fatalf("no process %q: start it first", name)
	}
	return p
}

func cmdAwait(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: await NAME REGEXP")
	}
	p := findProc(ts, args[0])
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := os.ReadFile(p.out)
		eout, _ := os.ReadFile(p.eout)
		if re.Match(out) || re.Match(eout) {
			return
		}
		select {
		case <-p.done:
			// One last look: the process may have written and exited.
			out, _ = os.ReadFile(p.out)
			eout, _ = os.ReadFile(p.eout)
			if re.Match(out) || re.Match(eout) {
				return
			}
			ts.Fatalf("await %s: exited (%v) without a line matching %q\nstdout:\n%s\nstderr:\n%s", args[0], p.err, args[1], out, eout)
		default:
		}
		if time.Now().After(deadline) {
			ts.Fatalf("await %s: no line matching %q in 30s\nstdout:\n%s\nstderr:\n%s", args[0], args[1], out, eout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func cmdHalt(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 3 {
		ts.Fatalf("usage: halt NAME [INT|TERM [CODE]]")
	}
	p := findProc(ts, args[0])
	sig := os.Signal(os.Interrupt)
	if len(args) > 1 {
		switch args[1] {
		case "INT":
		case "TERM":
			sig = syscall.SIGTERM
		default:
			ts.Fatalf("halt: unknown signal %q", args[1])
		}
	}
	want := 0
	if len(args) > 2 {
		var err error
		want, err = strconv.Atoi(args[2])
		ts.Check(err)
	}
	ts.Check(p.cmd.Process.Signal(sig))
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		ts.Fatalf("halt %s: still running 30s after SIG%s", args[0], args[1:])
	}
	got := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(p.err, &exitErr):
		got = exitErr.ExitCode()
	case p.err != nil:
		ts.Fatalf("halt %s: %v", args[0], p.err)
	}
	out, _ := os.ReadFile(p.out)
	eout, _ := os.ReadFile(p.eout)
	ts.Logf("[%s stdout]\n%s[%s stderr]\n%s", args[0], out, args[0], eout)
	if got != want {
		ts.Fatalf("halt %s: exit code %d, want %d", args[0], got, want)
	}
}
