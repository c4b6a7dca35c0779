package main

// Fault tests of the checks made before stored or received bytes are loaded
// (issue 12): when the checker process cannot start, nothing is loaded
// unchecked, the process lives, the user reads one line, nothing
// acknowledged is lost, and the work resumes once the checker can start;
// removing or replacing the binary while serve runs does not stop it.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

// injectAbortChunk appends to the boundaries of home a chunk that aborts a
// process which loads it unchecked (a seed the sandbox battery found), with
// a valid checksum, as someone who can write the home could.
func injectAbortChunk(t *testing.T, home string) {
	t.Helper()
	raw, err := os.ReadFile("../../crdt/internal/sandbox/testdata/abort-doc.json")
	if err != nil {
		t.Fatal(err)
	}
	var seed struct {
		Data []byte `json:"data"`
	}
	if err := json.Unmarshal(raw, &seed); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(home, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Update(context.Background(), func(tx trustsync.Tx) error {
		_, err := tx.AppendChunk(crdt.BoundariesDoc, seed.Data)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// oneRefusal checks that a command ran to its end (no signal), exited 1
// and wrote exactly one line to stderr, containing want.
func oneRefusal(t *testing.T, what, stderr string, code int, want string) {
	t.Helper()
	if code != 1 {
		t.Errorf("%s: exit %d, want 1 (a refusal, not a crash); stderr:\n%s", what, code, stderr)
	}
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Errorf("%s: stderr is not one line saying %q:\n%s", what, want, stderr)
	}
}

// TestFaults_CLIChecksUnavailable runs trustsync commands on a home whose
// boundaries hold a chunk that aborts automerge, under an open-file limit
// of 16 (prlimit --nofile=16, as after 'ulimit -n 16'): the store opens,
// the checker process cannot start. Before stored chunks failed closed,
// 'boundary add' loaded the chunk unchecked and died of SIGABRT.
//
// Under the limit: listings work; adding to the damaged document, or to a
// healthy one whose chunks must be checked (the home's chunk key that
// marked them as checked is gone), is refused in one line that says the
// check could not run, nothing changed and what to do; a healthy document
// this home wrote under its key, and a document with no stored chunk yet,
// take a write. Without the limit: the
// damaged document is refused as damaged, the healthy one takes writes,
// and every acknowledged item is listed.
func TestFaults_CLIChecksUnavailable(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Fatalf("prlimit (util-linux) is needed to limit a command's open files: %v", err)
	}
	home := t.TempDir()
	fltInit(t, home, "Sam")
	acked := map[string]map[string]bool{"boundary": {}, "goal": {}, "moment": {}}
	add := func(wrap []string, kind string, args ...string) (string, int) {
		t.Helper()
		out, stderr, code := fltRun(t, home, wrap, append([]string{kind, "add"}, args...)...)
		if code == 0 {
			id := fltAckedID(out)
			if id == "" {
				t.Fatalf("%s add printed no ID: %q", kind, out)
			}
			acked[kind][id] = true
		}
		return stderr, code
	}
	for i := range 3 {
		if stderr, code := add(nil, "boundary", fmt.Sprint("boundary ", i)); code != 0 {
			t.Fatalf("boundary add: exit %d: %s", code, stderr)
		}
	}
	if stderr, code := add(nil, "goal", "a goal"); code != 0 {
		t.Fatalf("goal add: exit %d: %s", code, stderr)
	}
	injectAbortChunk(t, home)

	limit := []string{"prlimit", "--nofile=16"}
	if got := fltListedWith(t, home, limit, "boundary"); len(got) != 3 {
		t.Errorf("boundary list under the limit: %d boundaries, want 3", len(got))
	}
	const unavailable = "the process that checks data before it is loaded could not run"
	stderr, code := add(limit, "boundary", "written under the limit")
	oneRefusal(t, "boundary add under the limit", stderr, code, `cannot load document "boundaries" safely right now: `+unavailable)
	if !strings.Contains(stderr, "too many open files") || !strings.Contains(stderr, "ulimit -n") || !strings.Contains(stderr, "nothing was changed") {
		t.Errorf("the line does not say why, that nothing changed, or what to do: %s", stderr)
	}
	t.Logf("under the limit: %s", strings.TrimSpace(stderr))
	// The goals were written by this home under its chunk key: checked
	// once, they load without the checker.
	if stderr, code := add(limit, "goal", "a goal under the limit"); code != 0 {
		t.Errorf("goal add under the limit (chunks this home wrote and checked): exit %d: %s", code, stderr)
	}
	// Without the key that marked them, they must be checked again.
	if err := os.Remove(filepath.Join(home, "chunk.key")); err != nil {
		t.Fatal(err)
	}
	stderr, code = add(limit, "goal", "another goal under the limit")
	oneRefusal(t, "goal add under the limit, chunk key gone", stderr, code, `cannot load document "goals" safely right now: `+unavailable)
	if stderr, code := add(limit, "moment", "a walk together"); code != 0 {
		t.Errorf("moment add under the limit (a document without stored chunks): exit %d: %s", code, stderr)
	}

	stderr, code = add(nil, "boundary", "written without the limit")
	oneRefusal(t, "boundary add without the limit", stderr, code, `document "boundaries" is damaged`)
	if stderr, code := add(nil, "goal", "another goal"); code != 0 {
		t.Errorf("goal add without the limit: exit %d: %s", code, stderr)
	}
	for kind, ids := range acked {
		listed := fltListed(t, home, kind)
		for id := range ids {
			if !listed[id] {
				t.Errorf("acknowledged %s %s is not listed", kind, id)
			}
		}
	}
	t.Logf("acknowledged: %d boundaries, %d goals, %d moments; all listed", len(acked["boundary"]), len(acked["goal"]), len(acked["moment"]))
}

// fltListedWith is fltListed with the command prefixed by wrap.
func fltListedWith(t *testing.T, home string, wrap []string, kind string) map[string]bool {
	t.Helper()
	out, stderr, code := fltRun(t, home, wrap, kind, "list", "--json")
	if code != 0 {
		t.Fatalf("%s list: exit %d: %s", kind, code, stderr)
	}
	var items []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &items); err != nil {
		t.Fatalf("%s list --json: %v\n%s", kind, err, out)
	}
	ids := map[string]bool{}
	for _, it := range items {
		ids[it.ID] = true
	}
	return ids
}

// servingProc is `trustsync serve` running in the background.
type servingProc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	err    error
}

// startServeBin starts `serve` on home with the binary bin, waits for its
// "listening on" line and kills it when the test ends if it still runs.
func startServeBin(t *testing.T, bin, home string) *servingProc {
	t.Helper()
	p := &servingProc{cmd: exec.Command(bin, "serve"), stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "TRUSTSYNC_HOME="+home, "NO_COLOR=1")
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
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
		for lines.Scan() {
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	})
	select {
	case ok := <-ready:
		if !ok {
			<-p.done
			t.Fatalf("serve ended before it listened: %v\n%s", p.err, p.stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("serve did not listen within a minute:\n%s", p.stderr.String())
	}
	return p
}

// alive reports whether serve still runs.
func (p *servingProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop interrupts serve and expects it to go offline cleanly.
func (p *servingProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("serve did not stop within a minute after SIGINT:\n%s", p.stderr.String())
	}
	if p.err != nil {
		t.Errorf("serve ended with %v:\n%s", p.err, p.stderr.String())
	}
}

// checkers returns the sandbox children of the process pid (found by the
// variable the sandbox sets in their environment).
func checkers(t *testing.T, pid int) map[int]bool {
	t.Helper()
	kids := map[int]bool{}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			c, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", c))
			if err == nil && strings.Contains(string(env), "TRUSTSYNC_SANDBOX_CHILD=") {
				kids[c] = true
			}
		}
	}
	return kids
}

// killAndWait SIGKILLs pid and waits until it is no longer running.
func killAndWait(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		tasks, terr := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil || terr != nil || strings.Contains(string(stat), ") Z ") && len(tasks) <= 1 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d still runs a minute after SIGKILL", pid)
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestSync_ServeChecksAfterItsBinaryIsGone runs `trustsync serve` from a
// copy of the binary, syncs a partner's write through it (checked by its
// checker process), then removes the copy, or replaces it with a script
// that leaves a marker file when run (as an upgrade or an uninstall would),
// and kills the checker so that a new one must start. The partner's next
// writes must still be checked and taken (a new checker runs, from the
// image serve runs, not from the path; the script never runs), serve's own
// edits still reach the partner, serve prints no refusal and stops cleanly,
// and every acknowledged boundary is on both devices.
func TestSync_ServeChecksAfterItsBinaryIsGone(t *testing.T) {
	for _, mode := range []string{"removed", "replaced"} {
		t.Run(mode, func(t *testing.T) { serveBinaryGone(t, mode) })
	}
}

func serveBinaryGone(t *testing.T, mode string) {
	a, b := t.TempDir(), t.TempDir()
	fltInit(t, a, "Alex")
	fltInit(t, b, "Sam")
	pairHomes(t, a, b)
	exe, err := exec.LookPath("trustsync")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "trustsync")
	copyExecutable(t, exe, bin)
	serve := startServeBin(t, bin, a)
	acked := map[string]bool{}
	write := func(home, text string) {
		t.Helper()
		out, stderr, code := fltRun(t, home, nil, "boundary", "add", text)
		if code != 0 {
			t.Fatalf("boundary add %q: exit %d: %s", text, code, stderr)
		}
		acked[fltAckedID(out)] = true
	}
	syncB := func(when string) {
		t.Helper()
		if _, stderr, code := fltRun(t, b, nil, "sync", "--timeout", "50s"); code != 0 {
			t.Fatalf("sync %s: exit %d: %s\nserve said:\n%s", when, code, stderr, serve.stderr.String())
		}
	}
	write(b, "Sam, before")
	syncB("before")
	before := checkers(t, serve.cmd.Process.Pid)
	if len(before) == 0 {
		t.Fatal("serve runs no checker after it took a sync message")
	}

	marker := filepath.Join(dir, "impostor-ran")
	switch mode {
	case "removed":
		if err := os.Remove(bin); err != nil {
			t.Fatal(err)
		}
	case "replaced":
		script := "#!/bin/sh\necho ran >> '" + marker + "'\nexit 3\n"
		if err := os.WriteFile(bin+".new", []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(bin+".new", bin); err != nil {
			t.Fatal(err)
		}
	}
	for pid := range before {
		killAndWait(t, pid)
	}

	write(b, "Sam, after the binary was "+mode)
	write(a, "Alex, after the binary was "+mode)
	syncB("after the binary was " + mode)
	after := checkers(t, serve.cmd.Process.Pid)
	if len(after) == 0 {
		t.Fatalf("no checker runs after the binary was %s", mode)
	}
	for pid := range after {
		if before[pid] {
			t.Fatalf("checker %d was killed and still runs", pid)
		}
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(link, " (deleted)") {
			t.Errorf("the new checker runs %q, want the image serve runs (its file is gone)", link)
		}
		t.Logf("new checker %d runs %s", pid, link)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the replacement binary ran (%v)", err)
	}
	for _, home := range []string{a, b} {
		listed := fltListed(t, home, "boundary")
		for id := range acked {
			if !listed[id] {
				t.Errorf("acknowledged boundary %s is missing on %s", id, home)
			}
		}
	}
	if !serve.alive() {
		t.Fatalf("serve died: %v\n%s", serve.err, serve.stderr.String())
	}
	if s := serve.stderr.String(); strings.Contains(s, "cannot take changes") || strings.Contains(s, "rejected") {
		t.Errorf("serve refused something:\n%s", s)
	}
	serve.stop(t)
}

// waitFor polls cond every 100ms for up to a minute (a hang detector) and
// fails the test with what when it never holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within a minute", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSync_ServeRecoversWhenChecksRunAgain runs `trustsync serve` on two
// paired homes, live. Then Alex's serve runs out of file descriptors (its
// open-file limit lowered to 3 with prlimit(2), so no new descriptor can be
// made) and its checker is killed, so none can start. Both partners write
// meanwhile. Alex's serve must stay alive and online, say once, in one
// line, that it cannot take changes and why, and apply nothing unchecked.
// When the limit is lifted, without a restart, it says checks work again
// and both devices end up with every acknowledged boundary; both serves
// stop cleanly.
func TestSync_ServeRecoversWhenChecksRunAgain(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	fltInit(t, a, "Alex")
	fltInit(t, b, "Sam")
	pairHomes(t, a, b)
	bin, err := exec.LookPath("trustsync")
	if err != nil {
		t.Fatal(err)
	}
	sa := startServeBin(t, bin, a)
	sb := startServeBin(t, bin, b)
	waitFor(t, "live session", func() bool {
		return strings.Contains(sa.stderr.String(), "in sync with") && strings.Contains(sb.stderr.String(), "in sync with")
	})
	acked := map[string]string{} // ID -> text
	write := func(home, text string) string {
		t.Helper()
		out, stderr, code := fltRun(t, home, nil, "boundary", "add", text)
		if code != 0 {
			t.Fatalf("boundary add %q: exit %d: %s", text, code, stderr)
		}
		id := fltAckedID(out)
		acked[id] = text
		return id
	}
	has := func(home, id string) bool { return fltListed(t, home, "boundary")[id] }
	first := write(b, "Sam, before")
	waitFor(t, "boundary from Sam on Alex's device", func() bool { return has(a, first) })

	pid := sa.cmd.Process.Pid
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatal(err)
	}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 3, Max: old.Max}, nil); err != nil {
		t.Fatal(err)
	}
	lifted := false
	defer func() {
		if !lifted {
			_ = unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil)
		}
	}()
	for c := range checkers(t, pid) {
		killAndWait(t, c)
	}
	fromSam := write(b, "Sam, during the outage")
	fromAlex := write(a, "Alex, during the outage")
	const refusal = "cannot take changes from Sam (Sam-laptop): "
	waitFor(t, "refusal on Alex's serve", func() bool { return strings.Contains(sa.stderr.String(), refusal) })
	time.Sleep(2 * time.Second) // let a few retries fail
	if !sa.alive() {
		t.Fatalf("Alex's serve died: %v\n%s", sa.err, sa.stderr.String())
	}
	if has(a, fromSam) {
		t.Fatal("Alex's serve applied Sam's boundary without a check")
	}
	said := sa.stderr.String()
	if n := strings.Count(said, refusal); n != 1 {
		t.Errorf("Alex's serve said %d times that it cannot take changes, want once:\n%s", n, said)
	}
	for _, l := range strings.Split(said, "\n") {
		if strings.Contains(l, refusal) {
			t.Logf("Alex's serve: %s", l)
			for _, want := range []string{"too many open files", "nothing is lost", "retrying by itself", "ulimit -n"} {
				if !strings.Contains(l, want) {
					t.Errorf("the refusal does not say %q: %s", want, l)
				}
			}
		}
	}

	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil); err != nil {
		t.Fatal(err)
	}
	lifted = true
	waitFor(t, "Sam's outage boundary on Alex's device", func() bool { return has(a, fromSam) })
	waitFor(t, "Alex's outage boundary on Sam's device", func() bool { return has(b, fromAlex) })
	waitFor(t, "recovery line on Alex's serve", func() bool { return strings.Contains(sa.stderr.String(), "checks work again") })
	if len(checkers(t, pid)) == 0 {
		t.Error("no checker runs on Alex's serve after the recovery")
	}
	for _, home := range []string{a, b} {
		listed := fltListed(t, home, "boundary")
		for id, text := range acked {
			if !listed[id] {
				t.Errorf("acknowledged boundary %q is missing on %s", text, home)
			}
		}
	}
	sa.stop(t)
	sb.stop(t)
	t.Logf("Alex's serve said:\n%s", sa.stderr.String())
	t.Logf("Sam's serve said:\n%s", sb.stderr.String())
}
