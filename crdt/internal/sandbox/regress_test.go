package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
)

// rawEnv makes this test binary apply one crash case directly, without the
// sandbox, the way the crdt package would, and exit 0 if it survives.
const rawEnv = "SANDBOX_TEST_APPLY_RAW"

func readCase(path string) (crashCase, error) {
	var cc crashCase
	b, err := os.ReadFile(path)
	if err != nil {
		return cc, err
	}
	return cc, json.Unmarshal(b, &cc)
}

func (cc crashCase) base() (*automerge.Doc, error) {
	if len(cc.Base) == 0 {
		return automerge.New(), nil
	}
	return automerge.Load(cc.Base)
}

// applyRaw applies a crash case in this process, unprotected.
func applyRaw(path string) int {
	cc, err := readCase(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	base, err := cc.base()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	before := base.Heads()
	switch cc.Kind {
	case "doc":
		if _, err = automerge.Load(cc.Data); err == nil {
			err = base.LoadIncremental(cc.Data)
		}
	case "incremental":
		err = base.LoadIncremental(cc.Data)
	case "changes":
		err = checkChanges(cc.Data)
	case "sync", "session":
		ss := automerge.NewSyncState(base)
		if len(cc.SyncState) > 0 {
			if ss, err = automerge.LoadSyncState(base, cc.SyncState); err != nil {
				break
			}
		}
		if _, err = ss.ReceiveMessage(cc.Data); err == nil {
			ss.GenerateMessage()
		}
	}
	if err == nil {
		err = exercise(base, before, false, true)
	}
	fmt.Fprintf(os.Stderr, "survived: %v\n", err)
	return 0
}

// TestRegressionSeedsAbort replays the inputs in testdata that crashed the
// checker when the battery found them (go test -run Battery -args
// -hostile.save=testdata). Each must really kill a bare process that
// applies it as the crdt package would, and must be rejected by the
// checker with ErrCrashed, after which the checker still approves a valid
// message.
func TestRegressionSeedsAbort(t *testing.T) {
	paths, err := filepath.Glob("testdata/abort-*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no regression seeds in testdata")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := New(Options{})
	defer c.Close()
	ctx := context.Background()
	for _, path := range paths {
		cc, err := readCase(path)
		if err != nil {
			t.Fatal(err)
		}
		// 1. It kills a process that applies it unprotected.
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), rawEnv+"="+path)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !strings.Contains(string(out), "SIGABRT") {
			t.Fatalf("%s: applied unprotected, the process did not abort: %v\n%s", path, err, tail(out))
		}
		t.Logf("%s (%s): unprotected process died: %v, %s", path, cc.Op, err, firstPanic(out))

		// 2. The checker rejects it as a crash.
		base, err := cc.base()
		if err != nil {
			t.Fatal(err)
		}
		key := "regress/" + filepath.Base(path)
		switch cc.Kind {
		case "doc":
			err = c.CheckLoad(ctx, key, base, cc.Data)
		case "incremental":
			err = c.CheckIncremental(ctx, key, base, cc.Data)
		case "changes":
			err = c.CheckChanges(ctx, cc.Data)
		default:
			err = c.CheckMessage(ctx, key, base, cc.SyncState, cc.Data)
		}
		if !errors.Is(err, ErrCrashed) || !errors.Is(err, ErrRejected) {
			t.Fatalf("%s: checker said %v", path, err)
		}
		// 3. The next valid input passes, in a new child.
		local := newDoc(t, 5)
		p := newPair(local, newDoc(t, 2))
		m, _ := p.remoteSS.GenerateMessage()
		if err := c.CheckMessage(ctx, key+"/after", local, nil, m.Bytes()); err != nil {
			t.Fatalf("%s: valid message after the crash: %v", path, err)
		}
	}
	if st := c.Stats(); st.Crashes != len(paths) || st.Starts != len(paths)+1 {
		t.Fatalf("stats %+v for %d seeds", st, len(paths))
	}
}

func firstPanic(out []byte) string {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "panicked at") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
