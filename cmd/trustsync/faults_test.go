package main

// The CLI part of the fault battery (issue 6). docs/RELIABILITY.md lists
// every test of the battery with the figures of a real run. The tests run
// the real trustsync main in its own processes: TestMain (main_test.go)
// puts this test binary on $PATH as "trustsync". The default mode is short;
// TRUSTSYNC_LONG=1 runs the long one.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	stdsync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/faults"
	"github.com/trustsync/trustsync/internal/testpair"
	"github.com/trustsync/trustsync/store"
	tsync "github.com/trustsync/trustsync/sync"
)

// fltCmd returns a trustsync command on home, prefixed by wrap (for
// example prlimit) when given.
func fltCmd(t *testing.T, home string, wrap []string, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("trustsync")
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append(append([]string(nil), wrap...), bin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "TRUSTSYNC_HOME="+home, "NO_COLOR=1")
	return cmd
}

// fltRun runs trustsync and returns its stdout, stderr and exit code.
func fltRun(t *testing.T, home string, wrap []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := fltCmd(t, home, wrap, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("trustsync %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// fltInit makes a new home for member.
func fltInit(t *testing.T, home, member string) {
	t.Helper()
	if _, stderr, code := fltRun(t, home, nil, "init", "--name", member, "--device", member+"-laptop",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"); code != 0 {
		t.Fatalf("init: exit %d: %s", code, stderr)
	}
}

// fltListed returns the IDs `trustsync KIND list --json` prints.
func fltListed(t *testing.T, home, kind string) map[string]bool {
	t.Helper()
	out, stderr, code := fltRun(t, home, nil, kind, "list", "--json")
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

// fltAckedID returns the ID a create command printed alone on stdout, or "".
func fltAckedID(out string) string {
	id := strings.TrimSpace(out)
	if len(id) != 16 || strings.ContainsAny(id, " \n") {
		return ""
	}
	return id
}

// TestFaults_CLIKillDuringWrites runs `trustsync boundary add` and
// `trustsync checkin add` one after the other on a home and SIGKILLs one
// of them at a random moment of its run, many times. An ID printed by a
// command that exited 0 is acknowledged; after every kill, `boundary list
// --json` and `checkin list --json` show every acknowledged ID.
func TestFaults_CLIKillDuringWrites(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	fltInit(t, home, "Sam")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	rounds := faults.N(6, 100)
	acked := map[string]string{} // ID -> "boundary" or "checkin"
	kills, finishedFirst := 0, 0
	for r := range rounds {
		victim := rng.IntN(4)
		for i := 0; i <= victim; i++ {
			kind := "boundary"
			args := []string{"boundary", "add", fmt.Sprintf("round %d write %d", r, i)}
			if (r+i)%3 == 2 {
				kind = "checkin"
				args = []string{"checkin", "add", "--mood", "3", "--note", strings.Repeat("words ", 1+rng.IntN(200))}
			}
			cmd := fltCmd(t, home, nil, args...)
			var out bytes.Buffer
			cmd.Stdout = &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if i == victim {
				// A command takes some tens of ms: kill it somewhere
				// between its start and its end.
				time.Sleep(time.Duration(rng.IntN(60_000)) * time.Microsecond)
				cmd.Process.Signal(syscall.SIGKILL)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			switch {
			case err == nil:
				if id := fltAckedID(out.String()); id != "" {
					acked[id] = kind
				} else {
					t.Fatalf("round %d: %v printed %q", r, args, out.String())
				}
				if i == victim {
					finishedFirst++
				}
			case errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL:
				kills++
			default:
				t.Fatalf("round %d: %v: %v", r, args[:2], err)
			}
		}
		listed := map[string]map[string]bool{"boundary": fltListed(t, home, "boundary"), "checkin": fltListed(t, home, "checkin")}
		for id, kind := range acked {
			if !listed[kind][id] {
				t.Fatalf("round %d: acknowledged %s %s is not listed after a kill", r, kind, id)
			}
		}
	}
	t.Logf("%d rounds: %d commands killed mid-run with SIGKILL, %d finished before the kill; %d acknowledged IDs, all listed after every kill (lost: 0)",
		rounds, kills, finishedFirst, len(acked))
	if kills == 0 {
		t.Errorf("no command was killed while running")
	}
}

// TestFaults_CLIDiskFull fills the disk under a home (a 1 MiB tmpfs; where
// mounting is not permitted, a file size limit set with prlimit on each
// command): `boundary add` then fails with exit code 1, one line on stderr
// saying the disk is full, and no ID on stdout; what was acknowledged
// before is listed; once space is freed, writing works again.
func TestFaults_CLIDiskFull(t *testing.T) {
	disk := faults.Small(t, 1<<20)
	home := filepath.Join(disk.Dir, "home")
	fltInit(t, home, "Sam")
	acked := map[string]bool{}
	add := func(text string, wrap []string) (string, string, int) {
		out, stderr, code := fltRun(t, home, wrap, "boundary", "add", text)
		if code == 0 {
			acked[fltAckedID(out)] = true
		}
		return out, stderr, code
	}
	for i := range 5 {
		if _, stderr, code := add(fmt.Sprint("before ", i), nil); code != 0 {
			t.Fatalf("add: %s", stderr)
		}
	}
	var wrap []string
	var free func()
	if disk.Tmpfs {
		n := faults.Fill(t, disk.Dir, "filler")
		t.Logf("home on a 1 MiB tmpfs, filled with %d bytes", n)
		free = func() {
			if err := os.Remove(filepath.Join(disk.Dir, "filler")); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		fi, err := os.Stat(filepath.Join(home, store.FileName))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("no tmpfs (%s): each command runs under prlimit --fsize", disk.Why)
		wrap = []string{"prlimit", fmt.Sprintf("--fsize=%d", fi.Size()+16<<10)}
		free = func() { wrap = nil }
	}
	refused := 0
	var lastErr string
	big := strings.Repeat("a boundary long enough to fill the disk quickly. ", 40) // within crdt.MaxTextLen
	for i := 0; i < 2000 && refused < 3; i++ {
		out, stderr, code := add(fmt.Sprint(big, i), wrap)
		if code == 0 {
			continue
		}
		refused++
		lastErr = stderr
		if code != 1 {
			t.Errorf("exit code %d on a full disk, want 1: %s", code, stderr)
		}
		if out != "" {
			t.Errorf("a refused write printed %q on stdout", out)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "no space left") {
			t.Errorf("stderr is not one line saying the disk is full: %q", stderr)
		}
	}
	if refused == 0 {
		t.Fatalf("%d writes on a full disk all succeeded", len(acked))
	}
	t.Logf("full disk: %q", strings.TrimSpace(lastErr))
	// Reading may need a few bytes too (SQLite's shared-memory file):
	// on a full disk it either works or says the disk is full.
	if out, stderr, code := fltRun(t, home, wrap, "boundary", "list", "--json"); code != 0 {
		if !strings.Contains(stderr, "no space left") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("boundary list on a full disk: exit %d: %q", code, stderr)
		}
		t.Logf("listing on the full disk: %q", strings.TrimSpace(stderr))
	} else if n := strings.Count(out, `"id"`); n != len(acked) {
		t.Errorf("%d boundaries listed on the full disk, %d acknowledged", n, len(acked))
	}
	free()
	if _, stderr, code := add("after freeing space", nil); code != 0 {
		t.Fatalf("add after freeing space: exit %d: %s", code, stderr)
	}
	listed := fltListed(t, home, "boundary")
	for id := range acked {
		if !listed[id] {
			t.Errorf("acknowledged boundary %s not listed after freeing space", id)
		}
	}
	if len(listed) != len(acked) {
		t.Errorf("%d boundaries listed, %d acknowledged: a refused write was kept", len(listed), len(acked))
	}
	t.Logf("tmpfs=%v: %d acknowledged, %d refused with one line, %d listed at the end", disk.Tmpfs, len(acked), refused, len(listed))
}

// fltDevice is a library device in this process: a space on a disk home
// and its sync node.
type fltDevice struct {
	st    *store.Disk
	space *crdt.Space
	node  *tsync.Node
}

func fltOpenDevice(t *testing.T, home string, create string) *fltDevice {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(home, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sp *crdt.Space
	if create != "" {
		sp, err = crdt.Create(ctx, st, crdt.CreateOptions{MemberName: create, DeviceName: create + "-laptop"})
	} else {
		sp, err = crdt.Open(ctx, st, crdt.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	d := &fltDevice{st: st, space: sp}
	t.Cleanup(func() {
		if d.node != nil {
			d.node.Close()
		}
		sp.Close()
		st.Close()
	})
	return d
}

func (d *fltDevice) start(t *testing.T) {
	t.Helper()
	n, err := tsync.New(tsync.Config{Space: d.space, Store: d.st, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		NoMDNS: true, RefreshInterval: 50 * time.Millisecond, RedialMin: 20 * time.Millisecond, RedialMax: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.node = n
}

// fltPairDevices pairs two library devices by hand, as a pairing leaves
// them (internal/testpair).
func fltPairDevices(t *testing.T, a, b *fltDevice) {
	t.Helper()
	testpair.Spaces(t, a.space, b.space)
}

// TestFaults_CLIConcurrentWritersWithNode has many trustsync processes add
// boundaries to one home at once while a sync node runs on that home
// (library level, in this process) with a live session to the partner's
// device. Every acknowledged boundary must end up listed on that home and
// present on the partner's device.
func TestFaults_CLIConcurrentWritersWithNode(t *testing.T) {
	ctx := context.Background()
	homeA, homeB := filepath.Join(t.TempDir(), "sam"), filepath.Join(t.TempDir(), "alex")
	fltInit(t, homeA, "Sam")
	a := fltOpenDevice(t, homeA, "")
	b := fltOpenDevice(t, homeB, "Alex")
	fltPairDevices(t, a, b)
	a.start(t)
	b.start(t)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := a.node.Connect(cctx, b.node.AddrInfo()); err != nil {
		t.Fatal(err)
	}

	procs, each := 8, faults.N(6, 40)
	var mu stdsync.Mutex
	var acked []string
	var failures []string
	var wg stdsync.WaitGroup
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				out, stderr, code := fltRun(t, homeA, nil, "boundary", "add", fmt.Sprintf("process %d boundary %d", p, i))
				mu.Lock()
				if id := fltAckedID(out); code == 0 && id != "" {
					acked = append(acked, id)
				} else {
					failures = append(failures, fmt.Sprintf("exit %d: %s", code, strings.TrimSpace(stderr)))
				}
				mu.Unlock()
			}
		}()
	}
	// The partner edits meanwhile too.
	var partner []string
	for i := range 5 {
		id, err := b.space.AddBoundary(ctx, fmt.Sprint("Alex meanwhile ", i))
		if err != nil {
			t.Fatal(err)
		}
		partner = append(partner, id)
	}
	wg.Wait()
	// A writer that waited longer than the store's busy timeout (5 s) for
	// the others is refused with a clear line and acknowledges nothing:
	// that is counted, not lost. Any other failure fails the test.
	busy := 0
	for _, f := range failures {
		if strings.Contains(f, "is busy with") && strings.Contains(f, "try again in a moment") {
			busy++
			continue
		}
		t.Errorf("a concurrent write failed: %s", f)
	}

	// Everything acknowledged reaches the partner through the node, which
	// notices other processes' writes by polling the store.
	deadline := time.Now().Add(60 * time.Second)
	missing := acked
	for len(missing) > 0 && time.Now().Before(deadline) {
		var still []string
		for _, id := range missing {
			if _, err := b.space.Boundary(ctx, id); err != nil {
				still = append(still, id)
			}
		}
		missing = still
		if len(missing) > 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged boundaries never reached the partner, e.g. %s", len(missing), len(acked), missing[0])
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := a.node.WaitSynced(wctx, b.node.ID()); err != nil {
		t.Fatalf("WaitSynced: %v", err)
	}
	listed := fltListed(t, homeA, "boundary")
	for _, id := range append(acked, partner...) {
		if !listed[id] {
			t.Errorf("boundary %s is not listed on Sam's home", id)
		}
	}
	t.Logf("%d trustsync processes (%d at a time) wrote one home with its sync node running: %d acknowledged, %d refused as busy, %d other failures; all %d on the partner's device and, with the partner's %d, listed on the home (lost: 0)",
		procs*each, procs, len(acked), busy, len(failures)-busy, len(acked), len(partner))
}
