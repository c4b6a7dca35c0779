package crdt

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/internal/faults"
	"github.com/trustsync/trustsync/store"
)

// headsKillEnv makes this test binary the writer that
// TestSpace_HeadsSurviveKills kills: "homeA" or "homeA\nhomeB".
const headsKillEnv = "TRUSTSYNC_HEADS_KILL_HOMES"

// headsKillChild is that writer. It opens home A with the chunk key (and
// prints "opened" once the store is open, migrated if it was older), then
// writes until it is killed, through every path that records heads: local
// edits (compacting every few chunks), and, with a partner home B, imports
// of B's copy and changes received by sync. It prints "kind ID" after each
// write of an item to A returned.
func headsKillChild(homes string) {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	dirA, dirB, _ := strings.Cut(homes, "\n")
	stA, err := store.Open(dirA, store.Options{ChunkKey: chunkKey})
	if err != nil {
		fail(err)
	}
	fmt.Println("opened")
	a, err := Open(ctx, stA, Options{CompactAfter: 3})
	if err != nil {
		fail(err)
	}
	var b *Space
	var pa, pb *Peer
	if dirB != "" {
		stB, err := store.Open(dirB, store.Options{})
		if err != nil {
			fail(err)
		}
		if b, err = Open(ctx, stB, Options{}); err != nil {
			fail(err)
		}
		pa, pb = a.Peer(b.Self().DeviceID), b.Peer(a.Self().DeviceID)
	}
	ops := 2
	if b != nil {
		ops = 4
	}
	for i := 0; ; i++ {
		var kind, id string
		var err error
		switch i % ops {
		case 0:
			kind = KindBoundary
			id, err = a.AddBoundary(ctx, fmt.Sprintf("boundary %d at %s", i, time.Now().Format(time.RFC3339Nano)))
		case 1:
			kind = KindCheckIn
			id, err = a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: trustsync.Mood(1 + i%5), Note: strings.Repeat("a note ", i%30)})
		case 2:
			kind = KindBoundary
			if id, err = b.AddBoundary(ctx, fmt.Sprint("the partner's boundary ", i)); err == nil {
				var data []byte
				if data, err = b.SaveSigned(ctx, BoundariesDoc); err == nil {
					_, err = a.Import(ctx, BoundariesDoc, data, b.Self().DeviceID)
				}
			}
		case 3:
			kind = KindGoal
			if id, err = b.AddGoal(ctx, fmt.Sprint("the partner's goal ", i), ""); err == nil {
				err = headsSyncDoc(ctx, pb, pa, GoalsDoc)
			}
		}
		if err != nil {
			fail(err)
		}
		fmt.Println(kind + " " + id)
	}
}

// headsSyncDoc runs the sync protocol on doc between two peers until
// neither has anything to send.
func headsSyncDoc(ctx context.Context, x, y *Peer, doc string) error {
	for round := 0; round < 50; round++ {
		busy := false
		for _, dir := range [][2]*Peer{{x, y}, {y, x}} {
			msg, ok, err := dir[0].GenerateMessage(ctx, doc)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			busy = true
			if _, err := dir[1].ReceiveMessage(ctx, doc, msg); err != nil {
				return err
			}
		}
		if !busy {
			return nil
		}
	}
	return fmt.Errorf("sync of %s did not settle", doc)
}

// headsKillRun starts the writer on homes and kills it after killAfter
// acknowledgements and then delay, or, with killAfter < 0, delay after it
// started. It records what the writer acknowledged in acked and returns
// whether the store was open when the kill landed.
func headsKillRun(t *testing.T, homes string, killAfter int, delay time.Duration, acked fltAcked) (opened bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpace_HeadsSurviveKills$", "-test.count=1")
	cmd.Env = append(os.Environ(), headsKillEnv+"="+homes)
	out, err := cmd.StdoutPipe()
	noErr(t, err)
	cmd.Stderr = os.Stderr
	noErr(t, cmd.Start())
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	take := func(l string) {
		if l == "opened" {
			opened = true
			return
		}
		kind, id, _ := strings.Cut(l, " ")
		if kind != KindBoundary && kind != KindCheckIn && kind != KindGoal {
			t.Fatalf("the writer says %q", l)
		}
		acked[id] = kind
	}
	var timer <-chan time.Time
	if killAfter < 0 {
		timer = time.After(delay)
	}
	n := 0
	for killed := false; !killed; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the writer ended before it was killed")
			}
			take(l)
			if l != "opened" {
				if n++; n == killAfter {
					timer = time.After(delay)
				}
			}
		case <-timer:
			noErr(t, cmd.Process.Kill())
			killed = true
		}
	}
	for l := range lines { // printed before the kill landed
		take(l)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the writer ended with %v, want SIGKILL", err)
	}
	return opened
}

// headsCheckHome opens home A after a kill: the store opens, every document
// loads, its recorded heads, when current, are its loaded heads, and every
// acknowledged item is there.
func headsCheckHome(t *testing.T, home string, acked fltAcked, where string) (current int) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(home, store.Options{ChunkKey: chunkKey})
	if err != nil {
		t.Fatalf("%s: the store does not open: %v", where, err)
	}
	defer st.Close()
	s, err := Open(ctx, st, Options{})
	noErr(t, err)
	defer s.Close()
	for _, doc := range must[[]string](t)(s.Docs(ctx)) {
		if _, err := s.Save(ctx, doc); err != nil {
			t.Errorf("%s: document %s does not load: %v", where, doc, err)
			continue
		}
		want := loadedHeads(t, st, doc)
		if rec, ok := recordedHeads(t, st, doc); ok {
			current++
			if !slices.Equal(rec, want) {
				t.Errorf("%s: %s: recorded heads %v, loaded %v", where, doc, rec, want)
			}
		}
	}
	acked.check(t, s, where)
	return current
}

// TestSpace_HeadsSurviveKills kills a writer at random points while it
// writes through every path that records heads, and, on a copy of a large
// store of the previous layout, while it migrates it. After each kill the
// store opens, every document loads, recorded heads that claim to be
// current are the loaded ones, and every acknowledged item is there.
func TestSpace_HeadsSurviveKills(t *testing.T) {
	if homes := os.Getenv(headsKillEnv); homes != "" {
		headsKillChild(homes)
		return
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := mrand.New(mrand.NewPCG(seed, 14))

	t.Run("writes", func(t *testing.T) {
		root := t.TempDir()
		homeA, homeB := filepath.Join(root, "a"), filepath.Join(root, "b")
		a, sta := fltCreate(t, homeA, "Sam", "sam-laptop", Options{})
		b, stb := fltCreate(t, homeB, "Alex", "alex-phone", Options{})
		fltPair(t, a, b)
		for _, x := range []*Space{a, b} {
			noErr(t, x.Close())
		}
		noErr(t, sta.Close())
		noErr(t, stb.Close())
		acked := fltAcked{}
		rounds := faults.N(12, 100)
		current := 0
		for round := range rounds {
			headsKillRun(t, homeA+"\n"+homeB, 1+rng.IntN(12), time.Duration(rng.IntN(30_000))*time.Microsecond, acked)
			current += headsCheckHome(t, homeA, acked, fmt.Sprintf("round %d", round))
			if t.Failed() {
				t.Fatalf("round %d of %d (seed %d)", round, rounds, seed)
			}
		}
		if len(acked) < rounds || current == 0 {
			t.Errorf("%d acknowledged items, %d current heads found in %d rounds: the test hardly wrote", len(acked), current, rounds)
		}
		t.Logf("%d kills; %d acknowledged items all present; %d documents found with current heads, all equal to the loaded ones", rounds, len(acked), current)
	})

	t.Run("migration", func(t *testing.T) {
		ctx := context.Background()
		root := t.TempDir()
		old := filepath.Join(root, "old")
		s, st := fltCreate(t, old, "Sam", "sam-laptop", Options{})
		acked := fltAcked{}
		for i := range 20 {
			acked[must[string](t)(s.AddBoundary(ctx, fmt.Sprint("boundary ", i)))] = KindBoundary
			acked[must[string](t)(s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: strings.Repeat("x", 400)}))] = KindCheckIn
		}
		noErr(t, s.Close())
		noErr(t, st.Close())
		// The previous layout, made large by 24 MB of set-aside chunks,
		// so that its migration (and the VACUUM after it) takes a while.
		db, err := sql.Open("sqlite3", filepath.Join(old, store.FileName))
		noErr(t, err)
		filler := make([]byte, 64<<10)
		for i := range 384 {
			rand.Read(filler)
			_, err := db.Exec(`INSERT INTO quarantine (seq, doc, snapshot, hash, data, reason, at) VALUES (?, 'filler', 0, x'00', ?, 'test', 0)`, i, filler)
			noErr(t, err)
		}
		for _, q := range []string{`DROP TABLE heads`, `ALTER TABLE chunks DROP COLUMN mac`, `PRAGMA user_version = 2`, `PRAGMA wal_checkpoint(TRUNCATE)`} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		noErr(t, db.Close())
		copyHome := func(dst string) {
			t.Helper()
			noErr(t, os.MkdirAll(dst, 0o700))
			for _, f := range []string{store.FileName, store.FileName + "-wal"} {
				b, err := os.ReadFile(filepath.Join(old, f))
				if errors.Is(err, os.ErrNotExist) {
					continue
				}
				noErr(t, err)
				noErr(t, os.WriteFile(filepath.Join(dst, f), b, 0o600))
			}
		}
		// How long opening (migrating) takes, from the writer's start.
		calib := filepath.Join(root, "calibrate")
		copyHome(calib)
		start := time.Now()
		headsKillRun(t, calib, 1, 0, fltAcked{})
		span := time.Since(start)
		t.Logf("a writer starts, migrates and writes once in %v", span)

		rounds := faults.N(8, 40)
		during := 0
		for round := range rounds {
			home := filepath.Join(root, fmt.Sprint(round))
			copyHome(home)
			roundAcked := fltAcked{}
			for id, k := range acked {
				roundAcked[id] = k
			}
			if !headsKillRun(t, home, -1, time.Duration(rng.Int64N(int64(span))), roundAcked) {
				during++
			}
			where := fmt.Sprintf("migration round %d", round)
			headsCheckHome(t, home, roundAcked, where)
			// The store opened after the kill is migrated.
			db, err := sql.Open("sqlite3", filepath.Join(home, store.FileName))
			noErr(t, err)
			var version int
			noErr(t, db.QueryRow("PRAGMA user_version").Scan(&version))
			db.Close()
			if version != 3 {
				t.Errorf("%s: layout %d after reopening, want 3", where, version)
			}
			if t.Failed() {
				t.Fatalf("%s of %d (seed %d)", where, rounds, seed)
			}
		}
		if during == 0 {
			t.Errorf("no kill of %d landed before the store was open: the migration was never interrupted", rounds)
		}
		t.Logf("%d kills of a writer migrating a %d MB store, %d before it was open; every item there after each", rounds, 24, during)
	})
}
