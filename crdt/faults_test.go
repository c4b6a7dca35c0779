package crdt

// The crdt part of the fault battery (issue 6: no byte from a peer or a disk
// can crash trustsync or lose data). docs/RELIABILITY.md lists every test of
// the battery with the figures of a real run. The default mode is short;
// TRUSTSYNC_LONG=1 runs the long one (see package internal/faults).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt/internal/hostile"
	"github.com/trustsync/trustsync/internal/faults"
	"github.com/trustsync/trustsync/store"
)

// fltCreate makes a space for member in a new disk home dir.
func fltCreate(t *testing.T, dir, member, device string, opts Options) (*Space, *store.Disk) {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Create(context.Background(), st, CreateOptions{Options: opts, MemberName: member, DeviceName: device})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	return s, st
}

// fltOpen opens the space of the disk home dir.
func fltOpen(t *testing.T, dir string) (*Space, *store.Disk) {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), st, Options{})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	return s, st
}

// fltPair joins b to a's space the way pairing does (pairByHand) and
// syncs them.
func fltPair(t *testing.T, a, b *Space) {
	t.Helper()
	pairByHand(t, a, b)
	fltSync(t, a, b, nil)
}

// fltRecorder keeps the sync messages of real sessions, as hostile seeds.
type fltRecorder struct{ seeds []hostile.Seed }

// fltSync runs the sync protocol between a and b on every document until
// neither has anything to send; rec, when not nil, keeps every message.
func fltSync(t *testing.T, a, b *Space, rec *fltRecorder) {
	t.Helper()
	ctx := context.Background()
	pa, pb := a.Peer(b.Self().DeviceID), b.Peer(a.Self().DeviceID)
	docs := append(must[[]string](t)(a.Docs(ctx)), must[[]string](t)(b.Docs(ctx))...)
	slices.Sort(docs)
	for _, doc := range slices.Compact(docs) {
		var sent [2][][]byte
		for round := 0; ; round++ {
			if round > 50 {
				t.Fatalf("sync of %q did not settle", doc)
			}
			busy := false
			for i, dir := range [][2]*Peer{{pa, pb}, {pb, pa}} {
				msg, ok, err := dir[0].GenerateMessage(ctx, doc)
				if err != nil {
					t.Fatalf("GenerateMessage(%q): %v", doc, err)
				}
				if !ok {
					continue
				}
				busy = true
				sent[i] = append(sent[i], msg)
				if _, err := dir[1].ReceiveMessage(ctx, doc, msg); err != nil {
					t.Fatalf("ReceiveMessage(%q): %v", doc, err)
				}
			}
			if !busy {
				break
			}
		}
		if rec != nil {
			for side, msgs := range sent {
				for i, m := range msgs {
					rec.seeds = append(rec.seeds, hostile.Seed{Kind: hostile.Sync,
						Name: fmt.Sprintf("real %s side %d msg %d", doc, side, i), Data: m, Session: msgs})
				}
			}
		}
	}
}

// fltState renders what a user sees of a space, without times and with
// lines sorted, so that two devices, or two runs, compare equal exactly when
// they show the same items.
func fltState(t *testing.T, s *Space, withIDs bool) string {
	t.Helper()
	ctx := context.Background()
	var lines []string
	id := func(x string) string {
		if withIDs {
			return x + " "
		}
		return ""
	}
	for _, b := range must[[]trustsync.Boundary](t)(s.Boundaries(ctx, ListOptions{All: true})) {
		var ag []string
		for _, a := range b.Agreements {
			ag = append(ag, fmt.Sprintf("%s:%v", a.By.Name, a.Current))
		}
		slices.Sort(ag)
		lines = append(lines, fmt.Sprintf("boundary %s%q by %s agreed=%v archived=%v agreements=%v",
			id(b.ID), b.Text, b.ProposedBy.Name, b.Agreed, b.Archived, ag))
	}
	for _, g := range must[[]trustsync.Goal](t)(s.Goals(ctx, ListOptions{All: true})) {
		var steps []string
		for _, st := range g.Steps {
			steps = append(steps, fmt.Sprintf("%s%q by %s done=%v", id(st.ID), st.Text, st.AddedBy.Name, st.Done))
		}
		slices.Sort(steps)
		lines = append(lines, fmt.Sprintf("goal %s%q why=%q by %s done=%v archived=%v steps=%v",
			id(g.ID), g.Title, g.Why, g.CreatedBy.Name, g.Done, g.Archived, steps))
	}
	for _, c := range must[[]trustsync.CheckIn](t)(s.CheckIns(ctx)) {
		var acks []string
		for _, a := range c.Acks {
			acks = append(acks, a.By.Name+":"+a.Reply)
		}
		slices.Sort(acks)
		lines = append(lines, fmt.Sprintf("checkin %s%q by %s mood=%d feelings=%v acks=%v",
			id(c.ID), c.Note, c.Author.Name, c.Mood, c.Feelings, acks))
	}
	for _, m := range must[[]trustsync.Member](t)(s.Members(ctx)) {
		var devs []string
		for _, d := range m.Devices {
			devs = append(devs, d.Name)
		}
		slices.Sort(devs)
		lines = append(lines, fmt.Sprintf("member %s devices=%v", m.Name, devs))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// fltAcked is what a device acknowledged: item IDs by kind.
type fltAcked map[string]string // ID -> kind

// check fails the test for every acknowledged item s does not show, and
// returns how many it found.
func (a fltAcked) check(t *testing.T, s *Space, where string) int {
	t.Helper()
	ctx := context.Background()
	found := 0
	for id, kind := range a {
		var err error
		switch kind {
		case KindBoundary:
			_, err = s.Boundary(ctx, id)
		case KindGoal:
			_, err = s.Goal(ctx, id)
		case KindCheckIn:
			_, err = s.CheckIn(ctx, id)
		}
		if err != nil {
			t.Errorf("%s: acknowledged %s %s is lost: %v", where, kind, id, err)
			continue
		}
		found++
	}
	return found
}

// fltAbortSeeds returns the inputs that killed a bare process when the
// sandbox battery found them (crdt/internal/sandbox/testdata).
func fltAbortSeeds(t *testing.T) map[string]struct {
	Kind string `json:"kind"`
	Data []byte `json:"data"`
} {
	t.Helper()
	paths, err := filepath.Glob("internal/sandbox/testdata/abort-*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no abort seeds in internal/sandbox/testdata: %v", err)
	}
	out := map[string]struct {
		Kind string `json:"kind"`
		Data []byte `json:"data"`
	}{}
	for _, p := range paths {
		var c struct {
			Kind string `json:"kind"`
			Data []byte `json:"data"`
		}
		noErr(t, json.Unmarshal(must[[]byte](t)(os.ReadFile(p)), &c))
		out[filepath.Base(p)] = c
	}
	return out
}

// TestFaults_HostileInputThroughAPI feeds hostile mutations of real sync
// messages and saved documents to Peer.ReceiveMessage and Space.Import of a
// space on disk that keeps syncing with its legitimate partner throughout.
// Every input is accepted or rejected with an error wrapping ErrInvalid (or ErrForged: bytes that decode but carry changes no verified device signed); the
// test process never dies (inputs that abort automerge kill only the
// sandbox child, counted as crashes); afterwards the store reopens with
// every acknowledged edit, every document loads and takes writes, and an
// edit made after the attack converges on both devices.
func TestFaults_HostileInputThroughAPI(t *testing.T) {
	ctx := context.Background()
	dirA, dirB := t.TempDir(), t.TempDir()
	a, stA := fltCreate(t, dirA, "Sam", "sam-laptop", Options{})
	b, stB := fltCreate(t, dirB, "Alex", "alex-phone", Options{})
	defer func() { b.Close(); stB.Close() }()
	fltPair(t, a, b)

	acked := fltAcked{}
	legit := func(round int) {
		t.Helper()
		acked[must[string](t)(a.AddBoundary(ctx, fmt.Sprintf("Sam's boundary %d", round)))] = KindBoundary
		acked[must[string](t)(b.AddBoundary(ctx, fmt.Sprintf("Alex's boundary %d", round)))] = KindBoundary
		acked[must[string](t)(b.AddGoal(ctx, fmt.Sprintf("goal %d", round), "why not"))] = KindGoal
		acked[must[string](t)(a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: fmt.Sprintf("note %d", round)}))] = KindCheckIn
	}
	rec := &fltRecorder{}
	for round := range 4 {
		legit(round)
		fltSync(t, a, b, rec)
	}
	// Seeds: the messages of those real sessions, the real documents and
	// chunks of both devices, and the generator's own seeds.
	seeds := rec.seeds
	docs := must[[]string](t)(a.Docs(ctx))
	for _, doc := range docs {
		seeds = append(seeds, hostile.Seed{Kind: hostile.Doc, Name: "real save " + doc, Data: must[[]byte](t)(b.SaveSigned(ctx, doc))})
	}
	noErr(t, stA.View(ctx, func(tx trustsync.ReadTx) error {
		chunks, err := tx.Chunks("", 0)
		for _, c := range chunks {
			k := hostile.Incremental
			if c.Snapshot {
				k = hostile.Doc
			}
			seeds = append(seeds, hostile.Seed{Kind: k, Name: fmt.Sprintf("real chunk %d of %s", c.Seq, c.Doc), Data: c.Data})
		}
		return err
	}))
	base := must[[]hostile.Seed](t)(hostile.Seeds())
	seeds = append(seeds, base...)
	gen := hostile.New(6, seeds)

	// The hostile peer: a device the test trusts (crdt trusts every device
	// ID it is given; sync checks the space's devices).
	evil := strings.Repeat("e7", 16)
	pe := a.Peer(evil)
	type tally struct{ tried, accepted, rejected int }
	counts := map[string]*tally{}
	var other []string
	apply := func(kind string, doc string, data []byte) {
		var err error
		if kind == "sync" || kind == "session" {
			_, err = pe.ReceiveMessage(ctx, doc, data)
		} else {
			_, err = a.Import(ctx, doc, data, evil)
		}
		c := counts[kind]
		if c == nil {
			c = &tally{}
			counts[kind] = c
		}
		c.tried++
		switch {
		case err == nil:
			c.accepted++
		case errors.Is(err, trustsync.ErrInvalid), errors.Is(err, trustsync.ErrForged):
			c.rejected++
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("rejection is not one line: %q", err)
			}
		default:
			other = append(other, fmt.Sprintf("%s into %s: %v", kind, doc, err))
		}
	}

	// The known killers first.
	before := a.checker.Stats()
	for name, c := range fltAbortSeeds(t) {
		doc := BoundariesDoc
		if c.Kind == "doc" {
			doc = GoalsDoc
		}
		apply(c.Kind, doc, c.Data)
		t.Logf("abort seed %s (%s): checker stats now %+v", name, c.Kind, a.checker.Stats())
	}
	seedCrashes := a.checker.Stats().Crashes - before.Crashes
	if seedCrashes == 0 {
		t.Errorf("none of the abort seeds crashed the sandbox child: are they still killers?")
	}

	n := faults.EnvInt(faults.HostileEnv, faults.N(240, 10000))
	targets := []string{BoundariesDoc, GoalsDoc, SpaceDoc, CheckInDoc(time.Now())}
	sessions := 0
	for i := 0; i < n; i++ {
		doc := targets[(i/5)%len(targets)]
		if i%5 == 4 {
			// A whole mutated conversation: duplicated, reordered,
			// dropped messages, from a fresh sync state.
			_, msgs := gen.Session()
			pe.Reset()
			for _, m := range msgs {
				apply("session", doc, m)
			}
			sessions++
		} else {
			in := gen.Next(hostile.Kinds[i%5])
			apply(in.Kind.String(), doc, in.Data)
		}
		if i%40 == 39 {
			// The legitimate partner keeps editing and syncing during
			// the attack.
			legit(1000 + i)
			fltSync(t, a, b, nil)
		}
	}
	st := a.checker.Stats()
	total, accepted, rejected := 0, 0, 0
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range counts {
			if !yield(k) {
				return
			}
		}
	}) {
		c := counts[k]
		t.Logf("%-12s tried %5d  accepted %5d  rejected %5d", k, c.tried, c.accepted, c.rejected)
		total += c.tried
		accepted += c.accepted
		rejected += c.rejected
	}
	t.Logf("hostile inputs: %d (%d generated, %d sessions, abort seeds); accepted %d, rejected %d, other errors %d; sandbox: %d checks, %d rejected, %d child crashes (%d from the abort seeds), %d child starts",
		total, n, sessions, accepted, rejected, len(other), st.Checks, st.Rejected, st.Crashes, seedCrashes, st.Starts)
	for i, o := range other {
		if i < 10 {
			t.Errorf("neither accepted nor rejected as invalid: %s", o)
		}
	}
	if accepted+rejected != total {
		t.Errorf("%d inputs, %d accepted + %d rejected", total, accepted, rejected)
	}
	if st.Crashes < seedCrashes || st.Starts < 1+st.Crashes-st.BaseCrashes {
		t.Errorf("sandbox stats inconsistent: %+v", st)
	}

	// The partner still syncs: an edit made after the attack converges.
	after := must[string](t)(b.AddBoundary(ctx, "made after the attack"))
	acked[after] = KindBoundary
	fltSync(t, a, b, nil)
	if got := must[trustsync.Boundary](t)(a.Boundary(ctx, after)); got.Text != "made after the attack" {
		t.Errorf("edit after the attack reads %q on Sam's device", got.Text)
	}
	if sa, sb := fltState(t, a, true), fltState(t, b, true); sa != sb {
		t.Errorf("devices differ after the attack:\n%s\n---\n%s", sa, sb)
	}

	// The store is unharmed: it reopens, every acknowledged edit is there,
	// every document loads and takes a write, and sync still converges.
	noErr(t, a.Close())
	noErr(t, stA.Close())
	a2, stA2 := fltOpen(t, dirA)
	defer func() { a2.Close(); stA2.Close() }()
	found := acked.check(t, a2, "reopened store")
	for _, doc := range must[[]string](t)(a2.Docs(ctx)) {
		if _, err := a2.Heads(ctx, doc); err != nil {
			t.Errorf("document %s does not load after the attack: %v", doc, err)
		}
	}
	acked[must[string](t)(a2.AddBoundary(ctx, "after reopening"))] = KindBoundary
	acked[must[string](t)(a2.AddGoal(ctx, "after reopening", ""))] = KindGoal
	acked[must[string](t)(a2.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 5, Note: "after reopening"}))] = KindCheckIn
	fltSync(t, a2, b, nil)
	if sa, sb := fltState(t, a2, true), fltState(t, b, true); sa != sb {
		t.Errorf("devices differ after reopening:\n%s\n---\n%s", sa, sb)
	}
	t.Logf("acknowledged edits: %d, found after reopening: %d, lost: %d", len(acked)-3, found, len(acked)-3-found)
}

// chunkChildEnv makes this test binary the process that opens damaged homes
// in TestFaults_DamagedStoredChunk.
const chunkChildEnv = "TRUSTSYNC_FAULTS_CHUNK_HOMES"

// TestFaults_DamagedStoredChunk writes hostile chunks straight into a
// document's stored chunks, with a valid checksum, as an attacker with the
// disk or a bug might, then opens each home in a child process. Opening
// and listing never crash it; a write to the damaged document either works
// (the bytes were harmless) or fails with a *DamagedError naming the
// document; other documents keep taking writes. A child that dies fails
// the test.
func TestFaults_DamagedStoredChunk(t *testing.T) {
	if homes := os.Getenv(chunkChildEnv); homes != "" {
		fltOpenDamaged(homes)
		return
	}
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "home")
	s, st := fltCreate(t, home, "Sam", "sam-laptop", Options{})
	const nBoundaries = 5
	for i := range nBoundaries {
		must[string](t)(s.AddBoundary(ctx, fmt.Sprint("boundary ", i)))
	}
	must[string](t)(s.AddGoal(ctx, "a goal", ""))
	must[string](t)(s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 2}))
	var seeds []hostile.Seed
	noErr(t, st.View(ctx, func(tx trustsync.ReadTx) error {
		chunks, err := tx.Chunks(BoundariesDoc, 0)
		for _, c := range chunks {
			k := hostile.Incremental
			if c.Snapshot {
				k = hostile.Doc
			}
			seeds = append(seeds, hostile.Seed{Kind: k, Name: fmt.Sprint("stored chunk ", c.Seq), Data: c.Data})
		}
		return err
	}))
	seeds = append(seeds, hostile.Seed{Kind: hostile.Doc, Name: "saved boundaries", Data: must[[]byte](t)(s.SaveSigned(ctx, BoundariesDoc))})
	noErr(t, s.Close())
	noErr(t, st.Close())
	db := must[[]byte](t)(os.ReadFile(filepath.Join(home, store.FileName)))
	if _, err := os.Stat(filepath.Join(home, store.FileName+"-wal")); err == nil {
		t.Fatal("the store left a write-ahead log behind at Close; copying its file alone would lose data")
	}

	type chunkCase struct {
		name string
		data []byte
	}
	var cases []chunkCase
	for name, c := range fltAbortSeeds(t) {
		if c.Kind == "doc" || c.Kind == "incremental" {
			cases = append(cases, chunkCase{name, c.Data})
		}
	}
	slices.SortFunc(cases, func(x, y chunkCase) int { return strings.Compare(x.name, y.name) })
	gen := hostile.New(7, append(seeds, must[[]hostile.Seed](t)(hostile.Seeds())...))
	m := faults.N(30, 600)
	for i := range m {
		in := gen.Next([]hostile.Kind{hostile.Doc, hostile.Incremental}[i%2])
		cases = append(cases, chunkCase{in.String(), in.Data})
	}
	root := t.TempDir()
	var homes []string
	for i, c := range cases {
		dir := filepath.Join(root, fmt.Sprint(i))
		noErr(t, os.MkdirAll(dir, 0o700))
		noErr(t, os.WriteFile(filepath.Join(dir, store.FileName), db, 0o600))
		st, err := store.Open(dir, store.Options{})
		noErr(t, err)
		noErr(t, st.Update(ctx, func(tx trustsync.Tx) error {
			_, err := tx.AppendChunk(BoundariesDoc, c.data)
			return err
		}))
		noErr(t, st.Close())
		homes = append(homes, dir)
	}
	list := filepath.Join(root, "homes")
	noErr(t, os.WriteFile(list, []byte(strings.Join(homes, "\n")), 0o600))

	cmd := exec.Command(os.Args[0], "-test.run=^TestFaults_DamagedStoredChunk$", "-test.count=1")
	cmd.Env = append(os.Environ(), chunkChildEnv+"="+list)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		stderr := ""
		if errors.As(err, &ee) {
			stderr = string(ee.Stderr)
			if len(stderr) > 3000 {
				stderr = stderr[:3000]
			}
		}
		done := strings.Count(string(out), "RESULT ")
		name := "?"
		if done < len(cases) {
			name = cases[done].name
		}
		t.Fatalf("the process opening damaged homes died at case %d (%s): %v\n%s", done, name, err, stderr)
	}
	results := map[string]int{}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if r, ok := strings.CutPrefix(l, "RESULT "); ok {
			lines = append(lines, r)
		}
	}
	if len(lines) != len(cases) {
		t.Fatalf("%d results for %d cases:\n%s", len(lines), len(cases), out)
	}
	for i, l := range lines {
		verdict, msg, _ := strings.Cut(l, " ")
		results[verdict]++
		switch verdict {
		case "ok":
		case "damaged":
			if !strings.Contains(msg, `"boundaries"`) {
				t.Errorf("case %d (%s): the error does not name the document: %s", i, cases[i].name, msg)
			}
		default:
			t.Errorf("case %d (%s): %s", i, cases[i].name, l)
		}
		if i < 2 {
			t.Logf("case %d (%s): %s", i, cases[i].name, l)
		}
	}
	t.Logf("damaged homes opened: %d (%d abort seeds, %d generated); writes to the document worked: %d, refused as damaged: %d, failures: %d; process deaths: 0",
		len(cases), len(cases)-m, m, results["ok"], results["damaged"], len(cases)-results["ok"]-results["damaged"])
	if results["damaged"] < 2 {
		t.Errorf("the abort seeds were not refused as damaged: %v", results)
	}
}

// fltOpenDamaged is the child of TestFaults_DamagedStoredChunk: for each
// home listed in the file homes it prints one line, "RESULT " followed by
// "ok", "damaged MSG" or "fail MSG". It exits early (with the test's failure) only by dying.
func fltOpenDamaged(homes string) {
	ctx := context.Background()
	list, err := os.ReadFile(homes)
	if err != nil {
		fmt.Println("fail", err)
		return
	}
	for _, dir := range strings.Split(string(list), "\n") {
		fmt.Println("RESULT", fltOpenOne(ctx, dir))
	}
}

func fltOpenOne(ctx context.Context, dir string) string {
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		return "fail open store: " + err.Error()
	}
	defer st.Close()
	s, err := Open(ctx, st, Options{})
	if err != nil {
		return "fail open: " + err.Error()
	}
	defer s.Close()
	bs, err := s.Boundaries(ctx, ListOptions{})
	if err != nil || len(bs) != 5 {
		return fmt.Sprintf("fail listing: %d boundaries, %v", len(bs), err)
	}
	if _, err := s.History(ctx, HistoryOptions{}); err != nil {
		return "fail history: " + err.Error()
	}
	if _, err := s.Refresh(ctx); err != nil {
		return "fail refresh: " + err.Error()
	}
	if _, err := s.AddGoal(ctx, "another document", ""); err != nil {
		return "fail other document: " + err.Error()
	}
	_, err = s.AddBoundary(ctx, "written to the damaged document")
	var de *trustsync.DamagedError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &de):
		if strings.Contains(err.Error(), "\n") {
			return "fail two lines: " + err.Error()
		}
		// Other documents still work after the refusal.
		if _, err := s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4}); err != nil {
			return "fail other document after refusal: " + err.Error()
		}
		return "damaged " + de.Error()
	default:
		return "fail write: " + err.Error()
	}
}

// killChildEnv makes this test binary the writer that
// TestFaults_KillDuringWrites kills.
const killChildEnv = "TRUSTSYNC_FAULTS_KILL_HOME"

// TestFaults_KillDuringWrites runs a writer process on a disk home, which
// adds boundaries, agrees to them and adds check-ins and prints each ID as
// soon as the call returned, and SIGKILLs it at a random moment, many
// times. After each kill the home reopens with every acknowledged item.
func TestFaults_KillDuringWrites(t *testing.T) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		fltWriter(dir)
		return
	}
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "home")
	s, st := fltCreate(t, home, "Sam", "sam-laptop", Options{})
	noErr(t, s.Close())
	noErr(t, st.Close())
	rounds := faults.N(12, 150)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6))
	acked := fltAcked{}
	killedMidWrite := 0
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFaults_KillDuringWrites$", "-test.count=1")
		cmd.Env = append(os.Environ(), killChildEnv+"="+home)
		out, err := cmd.StdoutPipe()
		noErr(t, err)
		cmd.Stderr = os.Stderr
		noErr(t, cmd.Start())
		// Kill after a random number of acknowledgements, then a random
		// delay of up to 30 ms (a write takes a few ms).
		killAfter := 1 + rng.IntN(12)
		delay := time.Duration(rng.IntN(30_000)) * time.Microsecond
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		n := 0
		var timer <-chan time.Time
		killed := false
		for !killed {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("round %d: the writer ended before it was killed", round)
				}
				kind, id, _ := strings.Cut(l, " ")
				if kind != KindBoundary && kind != KindCheckIn {
					t.Fatalf("round %d: writer says %q", round, l)
				}
				acked[id] = kind
				if n++; n == killAfter {
					timer = time.After(delay)
				}
			case <-timer:
				noErr(t, cmd.Process.Kill())
				killed = true
			}
		}
		// Acknowledgements printed before the kill landed count too.
		for l := range lines {
			kind, id, _ := strings.Cut(l, " ")
			acked[id] = kind
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: writer ended with %v, want SIGKILL", round, err)
		}
		killedMidWrite++

		s, st := fltOpen(t, home)
		found := acked.check(t, s, fmt.Sprintf("round %d", round))
		for _, doc := range must[[]string](t)(s.Docs(ctx)) {
			if _, err := s.Heads(ctx, doc); err != nil {
				t.Errorf("round %d: document %s does not load: %v", round, doc, err)
			}
		}
		noErr(t, s.Close())
		noErr(t, st.Close())
		if t.Failed() {
			t.Fatalf("round %d: %d of %d acknowledged items found", round, found, len(acked))
		}
	}
	t.Logf("%d writer processes killed with SIGKILL at random points; %d acknowledged items, all present after each reopening (lost: 0)", killedMidWrite, len(acked))
	if len(acked) < rounds {
		t.Errorf("only %d acknowledgements in %d rounds", len(acked), rounds)
	}
}

// fltWriter is the child of TestFaults_KillDuringWrites. It writes until
// it is killed and prints "kind ID" after each acknowledged write.
func fltWriter(dir string) {
	ctx := context.Background()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	s, err := Open(ctx, st, Options{CompactAfter: 5})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	w := io.Writer(os.Stdout)
	for i := 0; ; i++ {
		var line string
		switch i % 3 {
		case 0, 1:
			id, err := s.AddBoundary(ctx, fmt.Sprintf("boundary %d written at %s", i, time.Now().Format(time.RFC3339Nano)))
			if err == nil && i%3 == 1 {
				err = s.AgreeBoundary(ctx, id)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
			line = KindBoundary + " " + id
		case 2:
			id, err := s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: trustsync.Mood(1 + i%5), Note: strings.Repeat("a longer note ", i%40)})
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
			line = KindCheckIn + " " + id
		}
		fmt.Fprintln(w, line)
	}
}

// TestFaults_DiskFull fills the disk under a home (a 1 MiB tmpfs, or a file
// size limit where mounting is not permitted): writes then fail with an
// error wrapping ErrNoSpace, in one line, nothing failed is acknowledged,
// everything acknowledged before stays, and writing resumes once space is
// freed.
func TestFaults_DiskFull(t *testing.T) {
	ctx := context.Background()
	disk := faults.Small(t, 1<<20)
	home := filepath.Join(disk.Dir, "home")
	s, st := fltCreate(t, home, "Sam", "sam-laptop", Options{})
	closed := false
	defer func() {
		if !closed {
			s.Close()
			st.Close()
		}
	}()
	acked := fltAcked{}
	for i := range 10 {
		acked[must[string](t)(s.AddBoundary(ctx, fmt.Sprint("before the disk filled ", i)))] = KindBoundary
	}
	var free func()
	if disk.Tmpfs {
		t.Logf("home on a 1 MiB tmpfs; filling it")
		n := faults.Fill(t, disk.Dir, "filler")
		t.Logf("filler took %d bytes", n)
		free = func() { noErr(t, os.Remove(filepath.Join(disk.Dir, "filler"))) }
	} else {
		t.Logf("no tmpfs (%s): limiting the file size of this process instead", disk.Why)
		size := must[int64](t)(st.Size())
		restore, err := faults.SetFSize(size + 64<<10)
		noErr(t, err)
		free = func() { noErr(t, restore()) }
	}
	var failed []string
	var firstErr error
	note := strings.Repeat("a check-in long enough to fill pages quickly. ", 40)
	for i := 0; i < 5000 && len(failed) < 5; i++ {
		text := fmt.Sprintf("while full %d", i)
		id, err := s.AddBoundary(ctx, text)
		if err == nil {
			acked[id] = KindBoundary
			text += " (check-in)"
			id, err = s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: note + text})
			if err == nil {
				acked[id] = KindCheckIn
				continue
			}
		}
		if firstErr == nil {
			firstErr = err
		}
		failed = append(failed, text)
	}
	if firstErr == nil {
		t.Fatalf("%d writes on a full disk all succeeded", len(acked))
	}
	t.Logf("first failure after %d acknowledged writes: %v", len(acked), firstErr)
	// A full file system is ENOSPC (SQLite: "database or disk is full");
	// a file size limit is EFBIG (SQLite: an I/O error): both ErrNoSpace.
	if !errors.Is(firstErr, trustsync.ErrNoSpace) {
		t.Errorf("the error does not wrap ErrNoSpace: %v", firstErr)
	}
	if strings.Contains(firstErr.Error(), "\n") {
		t.Errorf("the error is not one line: %q", firstErr)
	}
	// Everything acknowledged is readable while the disk is full.
	acked.check(t, s, "disk full")

	free()
	for i := range 5 {
		acked[must[string](t)(s.AddBoundary(ctx, fmt.Sprint("after freeing space ", i)))] = KindBoundary
	}
	noErr(t, s.Close())
	noErr(t, st.Close())
	closed = true
	s2, st2 := fltOpen(t, home)
	defer func() { s2.Close(); st2.Close() }()
	found := acked.check(t, s2, "reopened")
	falseAcks := 0
	for _, b := range must[[]trustsync.Boundary](t)(s2.Boundaries(ctx, ListOptions{All: true})) {
		if slices.Contains(failed, b.Text) {
			falseAcks++
			t.Errorf("boundary %q was refused but is stored", b.Text)
		}
	}
	for _, c := range must[[]trustsync.CheckIn](t)(s2.CheckIns(ctx)) {
		if text, ok := strings.CutPrefix(c.Note, note); ok && slices.Contains(failed, text) {
			falseAcks++
			t.Errorf("check-in %q was refused but is stored", text)
		}
	}
	for _, doc := range must[[]string](t)(s2.Docs(ctx)) {
		if _, err := s2.Heads(ctx, doc); err != nil {
			t.Errorf("document %s does not load: %v", doc, err)
		}
	}
	t.Logf("tmpfs=%v: %d acknowledged, %d found after reopening, %d refused writes (%d of them stored anyway)", disk.Tmpfs, len(acked), found, len(failed), falseAcks)
}

// TestFaults_ClockSkew runs the same edits on two devices three times: with
// true clocks, with Sam's device five years ahead and Alex's five years
// behind, and the other way round. The merged items must be the same in
// every run (times aside).
func TestFaults_ClockSkew(t *testing.T) {
	const year = 365 * 24 * time.Hour
	runs := []struct {
		name string
		a, b time.Duration
	}{{"no skew", 0, 0}, {"Sam +5y, Alex -5y", 5 * year, -5 * year}, {"Sam -5y, Alex +5y", -5 * year, 5 * year}}
	var want string
	for _, r := range runs {
		got := fltSkewRun(t, r.a, r.b)
		if want == "" {
			want = got
			t.Logf("merged state without skew:\n%s", got)
			continue
		}
		if got != want {
			t.Errorf("%s: merged state differs from the run without skew:\n%s\n--- want ---\n%s", r.name, got, want)
		} else {
			t.Logf("%s: merged state identical (%d lines)", r.name, strings.Count(got, "\n")+1)
		}
	}
}

// fltSkewRun plays a fixed scenario of concurrent edits between two
// devices whose clocks are off by skewA and skewB, and returns the merged
// state (both devices must show the same).
func fltSkewRun(t *testing.T, skewA, skewB time.Duration) string {
	t.Helper()
	ctx := context.Background()
	clock := func(skew time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(skew) } }
	a, stA := fltCreate(t, t.TempDir(), "Sam", "sam-laptop", Options{Now: clock(skewA), NoSandbox: true})
	b, stB := fltCreate(t, t.TempDir(), "Alex", "alex-phone", Options{Now: clock(skewB), NoSandbox: true})
	defer func() { a.Close(); stA.Close(); b.Close(); stB.Close() }()
	fltPair(t, a, b)
	m := func(id string, err error) string { t.Helper(); noErr(t, err); return id }

	b1 := m(a.AddBoundary(ctx, "I tell you when my plans change"))
	b2 := m(b.AddBoundary(ctx, "We keep phones out of the bedroom"))
	b3 := m(b.AddBoundary(ctx, "No checking each other's messages"))
	g := m(a.AddGoal(ctx, "A weekly walk", "time to talk"))
	c1 := m(a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Feelings: []string{"hopeful"}, Note: "I felt heard"}))
	fltSync(t, a, b, nil)

	// Concurrent: Sam edits b1 while Alex agrees to its old text; Sam
	// archives b2 while Alex edits it; both agree to b3; steps on both
	// sides; Alex marks the goal done while Sam edits why; acks both ways.
	noErr(t, a.EditBoundary(ctx, b1, "I tell you when my plans change, the same day"))
	noErr(t, b.AgreeBoundary(ctx, b1))
	noErr(t, a.ArchiveBoundary(ctx, b2))
	noErr(t, b.EditBoundary(ctx, b2, "We keep phones out of the bedroom after ten"))
	noErr(t, a.AgreeBoundary(ctx, b3))
	noErr(t, b.AgreeBoundary(ctx, b3))
	m(a.AddStep(ctx, g, "Pick a day"))
	m(b.AddStep(ctx, g, "Pick a route"))
	m(b.MarkDone(ctx, g))
	noErr(t, a.EditGoal(ctx, g, GoalEdit{Why: ptr("time to talk without screens")}))
	noErr(t, b.AckCheckIn(ctx, c1, "thank you"))
	c2 := m(b.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 2, Note: "a hard week"}))
	fltSync(t, a, b, nil)
	noErr(t, a.AckCheckIn(ctx, c2, "I am here"))
	noErr(t, a.AgreeBoundary(ctx, b1))
	noErr(t, b.RestoreBoundary(ctx, b2))
	fltSync(t, a, b, nil)

	sa, sb := fltState(t, a, false), fltState(t, b, false)
	if sa != sb {
		t.Fatalf("devices differ (skew %v, %v):\n%s\n---\n%s", skewA, skewB, sa, sb)
	}
	return sa
}

func ptr[T any](v T) *T { return &v }
