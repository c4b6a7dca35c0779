package crdt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// noFilesEnv makes this test binary the process of
// TestFaults_CheckUnavailable that runs out of file descriptors.
const noFilesEnv = "TRUSTSYNC_FAULTS_NOFILES_DIR"

// TestFaults_CheckUnavailable opens a home whose boundaries document holds
// a stored chunk that aborts automerge, in a child process that cannot
// start the sandbox child: its open-file limit (RLIMIT_NOFILE) is lowered
// so that no new file descriptor can be made. Before stored chunks failed
// closed, the first write to that document loaded the chunk unchecked and
// the process died of SIGABRT.
//
// The child process must live through every step: listings and history
// work; every operation that needs a check (a cold load of the damaged
// document or of a healthy one, a peer's document) is refused with an
// error wrapping ErrCheckUnavailable, on one line, never as damaged or
// invalid data; a document already in memory (loaded before the checker
// was killed) and a document with no stored chunks take writes. Once the
// limit is lifted, in the same process, the damaged document is refused as
// damaged and the healthy ones take writes. Afterwards every acknowledged
// item is in the home. A partner's document is taken only once it can be
// checked.
func TestFaults_CheckUnavailable(t *testing.T) {
	if dir := os.Getenv(noFilesEnv); dir != "" {
		fltNoFiles(dir)
		return
	}
	ctx := context.Background()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	s, st := fltCreate(t, home, "Sam", "sam-laptop", Options{})
	acked := fltAcked{}
	for i := range 5 {
		acked[must[string](t)(s.AddBoundary(ctx, fmt.Sprint("boundary ", i)))] = KindBoundary
	}
	acked[must[string](t)(s.AddGoal(ctx, "a goal", ""))] = KindGoal
	acked[must[string](t)(s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3}))] = KindCheckIn
	// A peer's document, for Import: the partner's moments.
	peer, peerSt := fltCreate(t, filepath.Join(dir, "peer"), "Alex", "alex-phone", Options{})
	must[string](t)(peer.AddMoment(ctx, "the partner's moment", true))
	noErr(t, os.WriteFile(filepath.Join(dir, "import"), must[[]byte](t)(peer.SaveSigned(ctx, MomentsDoc)), 0o600))
	// Sam met the partner's device (pairing), so its signed changes count.
	noErr(t, s.TrustDevice(ctx, trustsync.Device{ID: peer.Self().DeviceID, PeerID: must[string](t)(peer.PeerID(ctx)),
		Owner: trustsync.Person{ID: peer.Self().MemberID}}))
	noErr(t, peer.Close())
	noErr(t, peerSt.Close())
	noErr(t, s.Close())
	noErr(t, st.Close())

	// The damaged chunk: the first abort seed that kills a process that
	// loads the boundaries unchecked (fltRawLoad finds it).
	var names []string
	seeds := fltAbortSeeds(t)
	for name, c := range seeds {
		if c.Kind == "doc" || c.Kind == "incremental" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	st2, err := store.Open(home, store.Options{})
	noErr(t, err)
	noErr(t, st2.Update(ctx, func(tx trustsync.Tx) error {
		_, err := tx.AppendChunk(BoundariesDoc, seeds[names[0]].Data)
		return err
	}))
	noErr(t, st2.Close())

	cmd := exec.Command(os.Args[0], "-test.run=^TestFaults_CheckUnavailable$", "-test.count=1")
	cmd.Env = append(os.Environ(), noFilesEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the process without file descriptors died or failed: %v\n%s", err, out)
	}
	steps := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if r, ok := strings.CutPrefix(l, "STEP "); ok {
			name, verdict, _ := strings.Cut(r, " ")
			steps[name] = verdict
			t.Log(r)
		}
		if r, ok := strings.CutPrefix(l, "ACKED "); ok {
			kind, id, _ := strings.Cut(r, " ")
			acked[id] = kind
		}
	}
	want := []string{
		"limited", "list", "history", "write-damaged", "write-healthy", "write-loaded-document", "write-new-document", "import",
		"lifted", "write-damaged-after", "write-healthy-after", "import-after", "list-after",
	}
	for _, name := range want {
		v, ok := steps[name]
		if !ok {
			t.Errorf("step %s did not run:\n%s", name, out)
			continue
		}
		if !strings.HasPrefix(v, "ok") {
			t.Errorf("step %s: %s", name, v)
		}
	}
	s, st = fltOpen(t, home)
	defer st.Close()
	defer s.Close()
	if n := acked.check(t, s, "after the run"); n != len(acked) {
		t.Errorf("%d of %d acknowledged items found", n, len(acked))
	}
}

// fltNoFiles is the child of TestFaults_CheckUnavailable. It prints one
// "STEP name ok ..." or "STEP name fail ..." line per step and an "ACKED
// kind id" line per item it wrote.
func fltNoFiles(dir string) {
	ctx := context.Background()
	step := func(name string, err error, detail string) {
		if err != nil {
			fmt.Println("STEP", name, "fail", oneLine(err.Error()))
			return
		}
		fmt.Println("STEP", name, "ok", detail)
	}
	// refused checks that err is the refusal of a check that could not be
	// made: ErrCheckUnavailable, one line, neither damaged nor invalid.
	refused := func(err error) error {
		switch {
		case err == nil:
			return errors.New("not refused")
		case !errors.Is(err, trustsync.ErrCheckUnavailable):
			return fmt.Errorf("refused for another reason: %w", err)
		case errors.Is(err, trustsync.ErrDamaged), errors.Is(err, trustsync.ErrInvalid):
			return fmt.Errorf("blames the data: %w", err)
		case strings.Contains(err.Error(), "\n"):
			return fmt.Errorf("two lines: %q", err.Error())
		}
		return nil
	}
	home := filepath.Join(dir, "home")
	peerDoc, err := os.ReadFile(filepath.Join(dir, "import"))
	if err != nil {
		step("setup", err, "")
		return
	}
	st, err := store.Open(home, store.Options{})
	if err != nil {
		step("setup", err, "")
		return
	}
	defer st.Close()
	s, err := Open(ctx, st, Options{})
	if err != nil {
		step("setup", err, "")
		return
	}
	defer s.Close()

	// A document loaded while checks work stays in memory: the check-ins.
	// Then the checker is killed, so a new one would have to start.
	id, err := s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4})
	if err != nil {
		step("setup", err, "")
		return
	}
	fmt.Println("ACKED", KindCheckIn, id)
	killed := 0
	for _, pid := range fltCheckers() {
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			killed++
		}
	}
	if killed == 0 {
		step("setup", errors.New("no checker ran after a checked load"), "")
		return
	}

	// No new file descriptor from here on: the soft limit is below every
	// free descriptor number (0, 1 and 2 are open).
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		step("limited", err, "")
		return
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 3, Max: old.Max}); err != nil {
		step("limited", err, "")
		return
	}
	_, perr := os.Open(os.DevNull)
	if perr == nil {
		step("limited", errors.New("a file could still be opened"), "")
		return
	}
	step("limited", nil, "open: "+perr.Error())

	bs, err := s.Boundaries(ctx, ListOptions{})
	if err == nil && len(bs) != 5 {
		err = fmt.Errorf("%d boundaries listed, want 5", len(bs))
	}
	step("list", err, fmt.Sprint(len(bs), " boundaries"))
	_, err = s.History(ctx, HistoryOptions{})
	step("history", err, "")

	_, err = s.AddBoundary(ctx, "written while no check can be made")
	step("write-damaged", refused(err), fmt.Sprint(err))
	_, err = s.AddGoal(ctx, "a goal written while no check can be made", "")
	step("write-healthy", refused(err), fmt.Sprint(err))
	// The check-ins are in memory and no other process wrote them:
	// nothing to check.
	id, err = s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: "written while no check can be made"})
	if err == nil {
		fmt.Println("ACKED", KindCheckIn, id)
	}
	step("write-loaded-document", err, "")
	// The moments document has no stored chunk: nothing to check.
	id, err = s.AddMoment(ctx, "a good moment, written while no check can be made", false)
	if err == nil {
		fmt.Println("ACKED", KindMoment, id)
	}
	step("write-new-document", err, "")
	// The partner's moments reach the loaded document only through a check.
	_, err = s.Import(ctx, MomentsDoc, peerDoc, "the partner")
	step("import", refused(err), fmt.Sprint(err))

	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		step("lifted", err, "")
		return
	}
	step("lifted", nil, "")
	_, err = s.AddBoundary(ctx, "written once checks can be made")
	var de *trustsync.DamagedError
	if errors.As(err, &de) && strings.Contains(err.Error(), `"boundaries"`) {
		step("write-damaged-after", nil, err.Error())
	} else {
		step("write-damaged-after", fmt.Errorf("not refused as damaged: %v", err), "")
	}
	id, err = s.AddGoal(ctx, "a goal written once checks can be made", "")
	if err == nil {
		fmt.Println("ACKED", KindGoal, id)
	}
	step("write-healthy-after", err, "")
	rec, err := s.Import(ctx, MomentsDoc, peerDoc, "the partner")
	step("import-after", err, fmt.Sprint(rec.Changes, " changes"))
	gs, err := s.Goals(ctx, ListOptions{})
	ms, merr := s.Moments(ctx)
	if err == nil && merr == nil && (len(gs) != 2 || len(ms) != 2) {
		err = fmt.Errorf("%d goals and %d moments, want 2 and 2", len(gs), len(ms))
	}
	step("list-after", errors.Join(err, merr), fmt.Sprint(len(gs), " goals, ", len(ms), " moments"))
}

// fltCheckers returns the sandbox children of this process.
func fltCheckers() []int {
	var pids []int
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			env, err := os.ReadFile("/proc/" + f + "/environ")
			if err != nil || !strings.Contains(string(env), "TRUSTSYNC_SANDBOX_CHILD=") {
				continue
			}
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
