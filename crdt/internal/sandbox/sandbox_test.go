package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(rawEnv); path != "" {
		os.Exit(applyRaw(path))
	}
	goleak.VerifyTestMain(m)
}

// newDoc returns a document with n items under "items", committed in
// batches of 10.
func newDoc(t testing.TB, n int) *automerge.Doc {
	t.Helper()
	d := automerge.New()
	items := automerge.NewMap()
	if err := d.RootMap().Set("items", items); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		it := automerge.NewMap()
		if err := items.Set(fmt.Sprintf("item-%04d", i), it); err != nil {
			t.Fatal(err)
		}
		if err := it.Set("text", automerge.NewText(fmt.Sprintf("item number %d", i))); err != nil {
			t.Fatal(err)
		}
		if err := it.Set("n", int64(i)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			if _, err := d.Commit(fmt.Sprintf("batch %d", i/10)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := d.Commit("last", automerge.CommitOptions{AllowEmpty: true}); err != nil {
		t.Fatal(err)
	}
	return d
}

func edit(t testing.TB, d *automerge.Doc, key string, v int64) {
	t.Helper()
	if err := d.RootMap().Set(key, v); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Commit("edit " + key); err != nil {
		t.Fatal(err)
	}
}

// pair is a local document (the caller's, checked) and a remote one that
// sends sync messages to it.
type pair struct {
	local, remote     *automerge.Doc
	localSS, remoteSS *automerge.SyncState
}

func newPair(local, remote *automerge.Doc) *pair {
	return &pair{local: local, remote: remote, localSS: automerge.NewSyncState(local), remoteSS: automerge.NewSyncState(remote)}
}

// TestValidMessagesPassAndMirrorStaysInStep syncs two documents that both
// keep changing, checking every message before applying it, and checks that
// the mirror follows with deltas, not whole loads.
func TestValidMessagesPassAndMirrorStaysInStep(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	ctx := context.Background()
	p := newPair(newDoc(t, 50), automerge.New())
	messages := 0
	for round := 0; round < 40; round++ {
		edit(t, p.local, fmt.Sprintf("local-%d", round), int64(round))
		edit(t, p.remote, fmt.Sprintf("remote-%d", round), int64(round))
		for i := 0; i < 10; i++ {
			progressed := false
			if m, ok := p.remoteSS.GenerateMessage(); ok {
				b := m.Bytes()
				if err := c.CheckMessage(ctx, "doc", p.local, p.localSS.Save(), b); err != nil {
					t.Fatalf("round %d: valid message rejected: %v", round, err)
				}
				if _, err := p.localSS.ReceiveMessage(b); err != nil {
					t.Fatal(err)
				}
				messages++
				progressed = true
			}
			if m, ok := p.localSS.GenerateMessage(); ok {
				if _, err := p.remoteSS.ReceiveMessage(m.Bytes()); err != nil {
					t.Fatal(err)
				}
				progressed = true
			}
			if !progressed {
				break
			}
		}
		if !equalHeads(p.local.Heads(), p.remote.Heads()) {
			t.Fatalf("round %d: not in sync", round)
		}
	}
	st := c.Stats()
	t.Logf("%d messages, stats %+v", messages, st)
	if st.Checks != messages || st.Rejected != 0 || st.Starts != 1 {
		t.Fatalf("stats %+v after %d valid messages", st, messages)
	}
	if st.FullSyncs != 1 || st.OutOfSteps != 0 {
		t.Fatalf("mirror was reloaded: %+v", st)
	}
	if st.DeltaSyncs == 0 {
		t.Fatalf("local edits never reached the mirror as deltas: %+v", st)
	}
}

// TestRejectedMessageDoesNotDesync checks that after garbage and after a
// message the caller checked but did not apply, the next valid message
// still passes.
func TestRejectedMessageDoesNotDesync(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	ctx := context.Background()
	p := newPair(newDoc(t, 20), newDoc(t, 5))
	m, _ := p.remoteSS.GenerateMessage()
	if err := c.CheckMessage(ctx, "doc", p.local, p.localSS.Save(), []byte{0x42, 1, 2, 3}); !errors.Is(err, ErrRejected) {
		t.Fatalf("garbage: %v", err)
	}
	// Checked but not applied: the mirror is now ahead of the caller.
	first := m.Bytes()
	if err := c.CheckMessage(ctx, "doc", p.local, p.localSS.Save(), first); err != nil {
		t.Fatal(err)
	}
	p.localSS.ReceiveMessage(first)
	lm, _ := p.localSS.GenerateMessage()
	p.remoteSS.ReceiveMessage(lm.Bytes())
	m2, ok := p.remoteSS.GenerateMessage()
	if !ok {
		t.Fatal("no second message")
	}
	fresh := automerge.New()
	if err := c.CheckMessage(ctx, "doc", fresh, nil, m2.Bytes()); err != nil {
		t.Fatalf("after the mirror got ahead: %v", err)
	}
	if st := c.Stats(); st.FullSyncs < 2 {
		t.Fatalf("mirror ahead of the caller was not reloaded: %+v", st)
	}
}

// TestKilledChildRestarts kills the child from outside between checks and
// in the middle of a stream of messages: the next check fails or passes,
// the one after starts a new child and passes.
func TestKilledChildRestarts(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	ctx := context.Background()
	local := newDoc(t, 30)
	p := newPair(local, automerge.New())
	for i := 0; i < 5; i++ {
		edit(t, p.remote, fmt.Sprintf("r%d", i), int64(i))
		m, ok := p.remoteSS.GenerateMessage()
		if !ok {
			t.Fatal("nothing to send")
		}
		b := m.Bytes()
		if i == 2 {
			c.mu.Lock()
			pid := c.ch.cmd.Process.Pid
			c.mu.Unlock()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// The next check either finds the child gone before its
			// request is written (the request goes to a new child, and
			// passes) or sees it die with the request in its pipe (a
			// crash of what was checked), depending on how fast the
			// kernel tears the child down.
			err := c.CheckMessage(ctx, "doc", p.local, p.localSS.Save(), b)
			if err != nil && (!errors.Is(err, ErrCrashed) || !errors.Is(err, ErrRejected)) {
				t.Fatalf("check on a killed child: %v", err)
			}
			t.Logf("check on a killed child: %v", err)
		}
		if err := c.CheckMessage(ctx, "doc", p.local, p.localSS.Save(), b); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if _, err := p.localSS.ReceiveMessage(b); err != nil {
			t.Fatal(err)
		}
		lm, ok := p.localSS.GenerateMessage()
		if ok {
			p.remoteSS.ReceiveMessage(lm.Bytes())
		}
	}
	if st := c.Stats(); st.Starts != 2 || st.Crashes > 1 {
		t.Fatalf("stats %+v", st)
	}
}

// The test binary, started as a child with hookEnv set, misbehaves on
// purpose: "hang" sleeps on every sync message, "abort" aborts the process
// (as a Rust panic does) on every sync message, "alloc" allocates and
// touches 1 GiB on every sync message.
const hookEnv = "SANDBOX_TEST_HOOK"

// hangNoteEnv, when set with "hang", names a file the child creates once
// it holds a sync message and starts to hang on it: the test then knows
// the check is under way without guessing how long the child takes.
const hangNoteEnv = "SANDBOX_TEST_HANG_NOTE"

var _ = func() int {
	switch os.Getenv(hookEnv) {
	case "hang":
		childHook = func(op byte) {
			if op == opMessage {
				if note := os.Getenv(hangNoteEnv); note != "" {
					_ = os.WriteFile(note, nil, 0o600)
				}
				time.Sleep(time.Hour)
			}
		}
	case "alloc":
		childHook = func(op byte) {
			if op == opMessage {
				var keep [][]byte
				for i := 0; i < 64; i++ { // 1 GiB, touched
					b := make([]byte, 16<<20)
					for j := range b {
						b[j] = byte(j)
					}
					keep = append(keep, b)
				}
				_ = keep
			}
		}
	case "abort":
		childHook = func(op byte) {
			if op == opMessage {
				syscall.Kill(os.Getpid(), syscall.SIGABRT)
				time.Sleep(time.Hour)
			}
		}
	}
	return 0
}()

func hooked(t *testing.T, mode string) func() (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return func() (*exec.Cmd, error) {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), hookEnv+"="+mode)
		return cmd, nil
	}
}

// TestTimeoutKillsChild: a message that hangs the child is rejected as a
// crash once Options.Timeout has passed, and the child is killed. The
// child is started and mirrors the document under a hang detector's
// timeout first; only the hanging message runs under the short one, so
// a slow start on a loaded machine is not taken for the input's fault.
func TestTimeoutKillsChild(t *testing.T) {
	c := New(Options{Timeout: time.Minute, Command: hooked(t, "hang")})
	defer c.Close()
	d := newDoc(t, 3)
	if err := c.CheckLoad(context.Background(), "doc", d, d.Save()); err != nil {
		t.Fatalf("mirroring the document: %v", err)
	}
	c.mu.Lock()
	c.opts.Timeout = 300 * time.Millisecond
	c.mu.Unlock()
	err := c.CheckMessage(context.Background(), "doc", d, nil, []byte{0x42})
	if !errors.Is(err, ErrRejected) || !errors.Is(err, ErrCrashed) || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("timeout: %v", err)
	}
	if st := c.Stats(); st.Crashes != 1 || st.FullSyncs != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAbortIsRejected(t *testing.T) {
	c := New(Options{Command: hooked(t, "abort")})
	defer c.Close()
	d := newDoc(t, 3)
	for i := 0; i < 3; i++ {
		err := c.CheckMessage(context.Background(), "doc", d, nil, []byte{0x42})
		if !errors.Is(err, ErrRejected) || !errors.Is(err, ErrCrashed) || !strings.Contains(err.Error(), "SIGABRT") && !strings.Contains(err.Error(), "aborted") {
			t.Fatalf("abort: %v", err)
		}
		if i == 0 {
			t.Log(err)
		}
	}
	if st := c.Stats(); st.Crashes != 3 || st.Starts != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestContextCanceledMidCheck ends the caller's context while the child
// hangs on a sync message: the check fails with the context's error, and
// neither rejects the message nor counts a crash -- the message was not
// judged, the caller gave up. The cancel comes once the child says it
// holds the message, however long it took to start.
func TestContextCanceledMidCheck(t *testing.T) {
	note := filepath.Join(t.TempDir(), "hanging")
	hang := hooked(t, "hang")
	c := New(Options{Command: func() (*exec.Cmd, error) {
		cmd, err := hang()
		if err == nil {
			cmd.Env = append(cmd.Env, hangNoteEnv+"="+note)
		}
		return cmd, err
	}})
	defer c.Close()
	d := newDoc(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.CheckMessage(ctx, "doc", d, nil, []byte{0x42}) }()
	// A hang detector, not a speed limit: the child has a minute to start
	// and reach the message.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(note); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the check ended before the child held the message: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the child did not reach the sync message within a minute")
		}
	}
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the check did not end within a minute of the cancel")
	}
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrRejected) || errors.Is(err, ErrCrashed) {
		t.Fatalf("canceled mid-check: %v, want the context's error and no rejection", err)
	}
	if st := c.Stats(); st.Rejected != 0 || st.Crashes != 0 {
		t.Fatalf("canceled mid-check counted as a rejection or crash: %+v", st)
	}
}

// TestContextDeadlineDuringCheck gives the check a short deadline while
// the child hangs on the message. Wherever the deadline falls -- while the
// child starts, mirrors the document or hangs on the message -- the check
// fails with the context's deadline, never as a rejected message: the
// pipes carry the same deadline, and their timeout firing before the
// context's timer is still the caller's deadline, not the input's fault.
func TestContextDeadlineDuringCheck(t *testing.T) {
	c := New(Options{Command: hooked(t, "hang")})
	defer c.Close()
	d := newDoc(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := c.CheckMessage(ctx, "doc", d, nil, []byte{0x42})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrRejected) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("deadline: %v, want the context's deadline and no rejection", err)
	}
	if st := c.Stats(); st.Rejected != 0 || st.Crashes != 0 || st.BaseCrashes != 0 {
		t.Fatalf("a deadline counted as a rejection or crash: %+v", st)
	}
}

func TestContextCanceled(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.CheckMessage(ctx, "doc", nil, nil, []byte{0x42})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrRejected) {
		t.Fatalf("canceled: %v", err)
	}
}

func TestCheckLoad(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	ctx := context.Background()
	local := newDoc(t, 10)
	remote := newDoc(t, 10)
	if err := c.CheckLoad(ctx, "doc", local, remote.Save()); err != nil {
		t.Fatal(err)
	}
	if err := local.LoadIncremental(remote.Save()); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckLoad(ctx, "doc", local, []byte("\x85\x6f\x4a\x83garbage")); !errors.Is(err, ErrRejected) {
		t.Fatalf("garbage: %v", err)
	}
	if err := c.CheckLoad(ctx, "doc", local, []byte("not automerge")); !errors.Is(err, ErrRejected) {
		t.Fatalf("garbage: %v", err)
	}
	chs, _ := remote.Changes()
	if err := c.CheckChanges(ctx, automerge.SaveChanges(chs)); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.FullSyncs != 1 || st.DeltaSyncs != 0 || st.Checks != 4 || st.Rejected != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestCheckImport: a snapshot into an empty document is loaded once, into
// the mirror, and still checked; into a non-empty one, bytes that are not a
// document are refused although LoadIncremental would swallow them.
func TestCheckImport(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	ctx := context.Background()
	remote := newDoc(t, 10)
	empty := automerge.New()
	for _, bad := range [][]byte{[]byte("\x85\x6f\x4a\x83garbage"), []byte("not automerge")} {
		if err := c.CheckImport(ctx, "empty", empty, bad); !errors.Is(err, ErrRejected) {
			t.Fatalf("garbage into an empty document: %v", err)
		}
	}
	if err := c.CheckImport(ctx, "empty", empty, remote.Save()); err != nil {
		t.Fatal(err)
	}
	local := newDoc(t, 10)
	if err := c.CheckImport(ctx, "local", local, remote.Save()); err != nil {
		t.Fatal(err)
	}
	if err := local.LoadIncremental(remote.Save()); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckImport(ctx, "local", local, []byte("not automerge")); !errors.Is(err, ErrRejected) {
		t.Fatalf("garbage into a document: %v", err)
	}
	if st := c.Stats(); st.Checks != 5 || st.Rejected != 3 || st.Crashes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOversizedRejectedWithoutChild(t *testing.T) {
	c := New(Options{MaxInput: 100})
	defer c.Close()
	err := c.CheckMessage(context.Background(), "doc", nil, nil, make([]byte, 101))
	if !errors.Is(err, ErrRejected) || c.Stats().Starts != 0 {
		t.Fatalf("oversized: %v %+v", err, c.Stats())
	}
}

func TestClosed(t *testing.T) {
	c := New(Options{})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := c.CheckMessage(context.Background(), "doc", nil, nil, []byte{0x42}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("after close: %v", err)
	}
}

// TestChildWithoutPipes starts this test binary with EnvVar set but without
// the request pipe: it must not run the tests, and must exit with code 2.
func TestChildWithoutPipes(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=XXX")
	cmd.Env = append(os.Environ(), EnvVar+"="+childMagic)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, output %q", err, out)
	}
	if strings.Contains(string(out), "PASS") {
		t.Fatalf("the tests ran: %q", out)
	}
}

// TestMirrorEviction checks three documents with room for two mirrors:
// each check still passes, and evicted mirrors are reloaded.
func TestMirrorEviction(t *testing.T) {
	c := New(Options{MaxMirrors: 2})
	defer c.Close()
	ctx := context.Background()
	var pairs []*pair
	for i := 0; i < 3; i++ {
		pairs = append(pairs, newPair(newDoc(t, 3), newDoc(t, 2)))
	}
	for round := 0; round < 2; round++ {
		for i, p := range pairs {
			edit(t, p.remote, "k", int64(round))
			m, ok := p.remoteSS.GenerateMessage()
			if !ok {
				t.Fatal("nothing to send")
			}
			if err := c.CheckMessage(ctx, fmt.Sprintf("doc%d", i), p.local, p.localSS.Save(), m.Bytes()); err != nil {
				t.Fatal(err)
			}
			p.localSS.ReceiveMessage(m.Bytes())
		}
	}
	c.mu.Lock()
	n := len(c.mirrors)
	c.mu.Unlock()
	if st := c.Stats(); n != 2 || st.FullSyncs != 6 || st.Rejected != 0 {
		t.Fatalf("%d mirrors, stats %+v", n, st)
	}
}
