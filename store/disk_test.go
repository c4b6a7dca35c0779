package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

func openDisk(t *testing.T, dir string, opts store.Options) *store.Disk {
	t.Helper()
	d, err := store.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// ack is one write a helper acknowledged.
type ack struct {
	id  string
	i   int
	seq int64
}

// checkStore opens the store in dir as a user would after a crash and checks
// that it opens, that nothing is damaged, that every acknowledged write is
// there with its bytes, that each write is all there or not at all, and that
// no failed write shows.
func checkStore(t *testing.T, dir string, acked []ack, failed []ack) {
	t.Helper()
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatalf("reopen after the helpers stopped: %v", err)
	}
	defer s.Close()
	view(t, s, func(tx trustsync.ReadTx) error {
		cs, err := tx.Chunks("", 0)
		if err != nil {
			t.Fatalf("Chunks: %v", err)
		}
		bySeq := map[int64]trustsync.Chunk{}
		for _, c := range cs {
			bySeq[c.Seq] = c
		}
		for _, a := range acked {
			c, ok := bySeq[a.seq]
			if !ok {
				t.Errorf("acknowledged chunk %d (%s #%d) is missing", a.seq, a.id, a.i)
				continue
			}
			if c.Doc != "doc-"+a.id || !bytes.Equal(c.Data, chunkData(a.id, a.i)) {
				t.Errorf("acknowledged chunk %d holds %s/%d bytes, not those of %s #%d", a.seq, c.Doc, len(c.Data), a.id, a.i)
			}
			it, err := tx.Item("ack", itemID(a.id, a.i))
			if err != nil || string(it.Data) != strconv.FormatInt(a.seq, 10) {
				t.Errorf("view row of acknowledged write %s #%d: %q, %v", a.id, a.i, it.Data, err)
			}
		}
		for _, f := range failed {
			if _, err := tx.Item("ack", itemID(f.id, f.i)); !errors.Is(err, trustsync.ErrNotFound) {
				t.Errorf("the failed write %s #%d is visible: %v", f.id, f.i, err)
			}
		}
		// Every Update wrote one chunk, one item, one history entry and
		// incremented count: a torn write would break these equalities.
		items, err := tx.Items("ack")
		if err != nil {
			return err
		}
		hist, err := tx.History(0, 0)
		if err != nil {
			return err
		}
		count := 0
		if v, err := tx.Get("count"); err == nil {
			count, _ = strconv.Atoi(string(v))
		}
		if len(items) != len(cs) || len(hist) != len(cs) || count != len(cs) {
			t.Errorf("torn writes: %d chunks, %d items, %d history entries, count %d", len(cs), len(items), len(hist), count)
		}
		return nil
	})
}

// TestDisk_CrashSafety kills a writing process with SIGKILL at random points,
// again and again on one store, and checks after each kill that the store
// opens and holds every write the process acknowledged.
func TestDisk_CrashSafety(t *testing.T) {
	rounds := 40
	if testing.Short() {
		rounds = 20
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	var acked []ack
	for r := range rounds {
		id := "r" + strconv.Itoa(r)
		h := startHelper(t, "append", helperConfig{Dir: dir, ID: id})
		// Kill after a random number of acknowledgements (0: possibly
		// while opening or migrating), then a random few hundred
		// microseconds into the next write.
		killAfter := rng.IntN(25)
		n := 0
		for n < killAfter {
			l, ok := h.next(t)
			if !ok {
				break
			}
			if l.kind != "ack" {
				t.Fatalf("round %d: helper: %s %s", r, l.kind, l.msg)
			}
			acked = append(acked, ack{id, l.i, l.seq})
			n++
		}
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// Acknowledgements already in the pipe count too.
		for {
			l, ok := h.next(t)
			if !ok {
				break
			}
			if l.kind != "ack" {
				t.Fatalf("round %d: helper: %s %s", r, l.kind, l.msg)
			}
			acked = append(acked, ack{id, l.i, l.seq})
		}
		err := h.cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: helper ended with %v, not by SIGKILL", r, err)
		}
		checkStore(t, dir, acked, nil)
		if t.Failed() {
			t.Fatalf("round %d of %d (seed %d)", r, rounds, seed)
		}
	}
	if len(acked) < rounds {
		t.Errorf("only %d writes acknowledged in %d rounds: the crash test hardly wrote", len(acked), rounds)
	}
	t.Logf("%d acknowledged writes survived %d kills", len(acked), rounds)
}

// TestDisk_ConcurrentProcesses has two processes write one store at once with
// the default busy timeout: both succeed every time, their writes are
// serialised (an exact shared counter) and all of them are kept.
func TestDisk_ConcurrentProcesses(t *testing.T) {
	const each = 40
	dir := t.TempDir()
	// Create the store first so that the writers race on writes, not on
	// creating the schema (which TestDisk_CrashSafety covers).
	openDisk(t, dir, store.Options{}).Close()
	var helpers []*helper
	for _, id := range []string{"alex", "sam"} {
		helpers = append(helpers, startHelper(t, "append", helperConfig{Dir: dir, ID: id, Count: each, Wait: true}))
	}
	for _, h := range helpers {
		h.stdin.Write([]byte("go\n"))
	}
	var acked []ack
	for hi, h := range helpers {
		id := []string{"alex", "sam"}[hi]
		for {
			l, ok := h.next(t)
			if !ok {
				break
			}
			if l.kind != "ack" {
				t.Errorf("%s: write #%d failed: %s", id, l.i, l.msg)
				continue
			}
			acked = append(acked, ack{id, l.i, l.seq})
		}
		if err := h.cmd.Wait(); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if len(acked) != 2*each {
		t.Errorf("%d writes acknowledged, want %d", len(acked), 2*each)
	}
	seqs := map[int64]bool{}
	for _, a := range acked {
		if seqs[a.seq] {
			t.Errorf("seq %d acknowledged twice", a.seq)
		}
		seqs[a.seq] = true
	}
	checkStore(t, dir, acked, nil)
}

// TestDisk_Busy has another process hold the write lock without writing; an
// Update with a short busy timeout gives up with ErrBusy and says why, reads
// go on meanwhile, and writing works again once the other process is done.
func TestDisk_Busy(t *testing.T) {
	dir := t.TempDir()
	openDisk(t, dir, store.Options{}).Close()
	h := startHelper(t, "hold", helperConfig{Dir: dir, ID: "holder"})
	if l, ok := h.next(t); !ok || l.kind != "holding" {
		t.Fatalf("helper did not take the lock: %+v", l)
	}

	// Opening and reading do not wait for the writer.
	s := openDisk(t, dir, store.Options{BusyTimeout: 100 * time.Millisecond})
	if got := lastSeq(t, s); got != 0 {
		t.Errorf("LastSeq while the other process holds the lock = %d", got)
	}
	called := false
	err := s.Update(context.Background(), func(tx trustsync.Tx) error {
		called = true
		return nil
	})
	if !errors.Is(err, trustsync.ErrBusy) {
		t.Fatalf("Update while another process holds the store: %v, want ErrBusy", err)
	}
	if want := "another trustsync process has held the store for 100ms"; !strings.Contains(err.Error(), want) {
		t.Errorf("busy error %q does not say %q", err, want)
	}
	if called {
		t.Error("fn ran without the write lock")
	}

	h.stdin.Write([]byte("go\n"))
	l, ok := h.next(t)
	if !ok || l.kind != "ack" {
		t.Fatalf("holder did not commit: %+v", l)
	}
	if err := h.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if seq := appendChunk(t, s, "after", "x"); seq != l.seq+1 {
		t.Errorf("append after the holder committed chunk %d: seq %d", l.seq, seq)
	}
}

// TestDisk_BusyInProcess checks that a second Update in the same process
// waits for the first and gives up with ErrBusy after the busy timeout.
func TestDisk_BusyInProcess(t *testing.T) {
	s := openDisk(t, t.TempDir(), store.Options{BusyTimeout: 50 * time.Millisecond})
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- s.Update(context.Background(), func(tx trustsync.Tx) error {
			close(inside)
			<-release
			_, err := tx.AppendChunk("a", []byte("first"))
			return err
		})
	}()
	<-inside
	err := s.Update(context.Background(), func(tx trustsync.Tx) error { return nil })
	if !errors.Is(err, trustsync.ErrBusy) || !strings.Contains(err.Error(), "another Update in this process has held the store for 50ms") {
		t.Errorf("second Update: %v, want ErrBusy naming the other Update", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first Update: %v", err)
	}
	if got := summary(chunks(t, s, "", 0)); !slices.Equal(got, []string{"1:a:first"}) {
		t.Errorf("chunks = %v", got)
	}
}

// flipByte changes one byte of the first occurrence of marker in the
// database file, as bit rot on the disk would.
func flipByte(t *testing.T, path string, marker []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, marker)
	if i < 0 {
		t.Fatalf("%q not found in %s", marker, path)
	}
	b[i+len(marker)/2] ^= 0x20
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDisk_DamagedChunk flips a byte of stored chunks in the database file:
// Chunks still returns every intact chunk, names each damaged one in a
// DamagedError, and Quarantine sets them aside with their bytes.
func TestDisk_DamagedChunk(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, store.Options{})
	payload := func(name string) string { return strings.Repeat(name+"-MARKER-", 8) }
	appendChunk(t, s, "space", payload("space1"))           // 1
	appendChunk(t, s, "boundaries", payload("boundaries1")) // 2
	appendChunk(t, s, "boundaries", payload("boundaries2")) // 3
	appendChunk(t, s, "goals", payload("goals1"))           // 4
	appendChunk(t, s, "boundaries", payload("boundaries3")) // 5
	if err := s.Close(); err != nil {                       // checkpoints: the bytes are in the main file
		t.Fatal(err)
	}
	flipByte(t, filepath.Join(dir, store.FileName), []byte(payload("boundaries2")))

	s = openDisk(t, dir, store.Options{})
	for _, tt := range []struct {
		doc  string
		want []string
	}{
		{"", []string{"1:space:" + payload("space1"), "2:boundaries:" + payload("boundaries1"),
			"4:goals:" + payload("goals1"), "5:boundaries:" + payload("boundaries3")}},
		{"boundaries", []string{"2:boundaries:" + payload("boundaries1"), "5:boundaries:" + payload("boundaries3")}},
	} {
		var got []trustsync.Chunk
		err := s.View(context.Background(), func(tx trustsync.ReadTx) error {
			var err error
			got, err = tx.Chunks(tt.doc, 0)
			return err
		})
		if !slices.Equal(summary(got), tt.want) {
			t.Errorf("Chunks(%q) returned %v, want the intact %v", tt.doc, summary(got), tt.want)
		}
		var de *trustsync.DamagedError
		if !errors.As(err, &de) || !errors.Is(err, trustsync.ErrDamaged) {
			t.Fatalf("Chunks(%q) error = %v, want a DamagedError", tt.doc, err)
		}
		want := `chunk 3 of document "boundaries" is damaged (checksum mismatch): sync with your partner's device to set it aside and get the changes back, or restore a backup`
		if err.Error() != want || de.What != `chunk 3 of document "boundaries"` {
			t.Errorf("error = %q\nwant    %q", err, want)
		}
		var dce *store.DamagedChunksError
		if !errors.As(err, &dce) || !slices.Equal(dce.Seqs, []int64{3}) {
			t.Errorf("damaged seqs = %+v, want [3]", dce)
		}
	}
	// Chunks of other documents, and after the damaged one, read cleanly.
	view(t, s, func(tx trustsync.ReadTx) error {
		_, err := tx.Chunks("goals", 0)
		if err != nil {
			t.Errorf("Chunks(goals): %v", err)
		}
		_, err = tx.Chunks("boundaries", 3)
		return err
	})

	update(t, s, func(tx trustsync.Tx) error { return tx.Quarantine(3) })
	view(t, s, func(tx trustsync.ReadTx) error {
		cs, err := tx.Chunks("", 0)
		if err != nil || len(cs) != 4 {
			t.Errorf("after Quarantine: %d chunks, %v", len(cs), err)
		}
		return nil
	})
	q, err := s.Quarantined()
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].Seq != 3 || q[0].Doc != "boundaries" || string(q[0].Data) == payload("boundaries2") || len(q[0].Data) != len(payload("boundaries2")) {
		t.Errorf("quarantine holds %v, want chunk 3 with its damaged bytes", summary(q))
	}
	// The partner's intact copy of the same change is accepted again.
	if seq := appendChunk(t, s, "boundaries", payload("boundaries2")); seq != 6 {
		t.Errorf("re-appending the intact bytes: seq %d, want 6", seq)
	}
}

// TestDisk_SeveralDamagedChunks checks the one-line summary when more than
// one chunk is damaged.
func TestDisk_SeveralDamagedChunks(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, store.Options{})
	for _, name := range []string{"AAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBB", "CCCCCCCCCCCCCCCC"} {
		appendChunk(t, s, "goals", name)
	}
	s.Close()
	flipByte(t, filepath.Join(dir, store.FileName), []byte("AAAAAAAAAAAAAAAA"))
	flipByte(t, filepath.Join(dir, store.FileName), []byte("CCCCCCCCCCCCCCCC"))
	s = openDisk(t, dir, store.Options{})
	var got []trustsync.Chunk
	err := s.View(context.Background(), func(tx trustsync.ReadTx) error {
		var err error
		got, err = tx.Chunks("", 0)
		return err
	})
	if !slices.Equal(summary(got), []string{"2:goals:BBBBBBBBBBBBBBBB"}) {
		t.Errorf("intact chunks = %v", summary(got))
	}
	var dce *store.DamagedChunksError
	if !errors.As(err, &dce) || !slices.Equal(dce.Seqs, []int64{1, 3}) {
		t.Fatalf("error = %v, want chunks 1 and 3 damaged", err)
	}
	want := `chunk 1 of document "goals" is damaged (checksum mismatch): ` +
		`sync with your partner's device to set it aside and get the changes back, or restore a backup (and 1 more damaged chunk)`
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
}

// TestOpen_BadFile puts something other than a trustsync store where the
// database belongs: Open fails with one clear line and no panic.
func TestOpen_BadFile(t *testing.T) {
	random := make([]byte, 8192)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	for _, tt := range []struct {
		name    string
		prepare func(t *testing.T, path string)
		is      error
		say     string
	}{
		{"random bytes", writeFile(random), trustsync.ErrDamaged, "is damaged (not a SQLite database)"},
		{"a text file", writeFile([]byte("my notes about us\n")), trustsync.ErrDamaged, "is damaged (not a SQLite database)"},
		{"a truncated header", writeFile([]byte("SQLite format 3\x00\x10\x00")), trustsync.ErrDamaged, "is damaged"},
		{"another program's database", func(t *testing.T, path string) {
			execSQL(t, path, "CREATE TABLE notes (body TEXT)")
		}, trustsync.ErrDamaged, "another program's tables"},
		{"a newer trustsync's store", func(t *testing.T, path string) {
			d, err := store.Open(filepath.Dir(path), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			d.Close()
			execSQL(t, path, "PRAGMA user_version = 99")
		}, store.ErrNewerVersion, "written by a newer version of trustsync (its layout is version 99; this build knows up to 3): upgrade trustsync"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, store.FileName)
			tt.prepare(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			d, err := store.Open(dir, store.Options{})
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("Open: %v, want an error wrapping %v", err, tt.is)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, path) || !strings.Contains(msg, tt.say) {
				t.Errorf("Open error %q should be one line naming %s and saying %q", msg, path, tt.say)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("Open changed the file it refused")
			}
		})
	}
}

func writeFile(b []byte) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// execSQL changes a database file behind the store's back.
func execSQL(t *testing.T, path, query string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query); err != nil {
		t.Fatal(err)
	}
}

// TestDisk_WriteError runs a writer whose file writes start failing (a file
// size limit, as a full disk would): its Update returns an error, it never
// acknowledges a write that is not kept, and the store opens afterwards with
// every acknowledged write.
func TestDisk_WriteError(t *testing.T) {
	dir := t.TempDir()
	openDisk(t, dir, store.Options{}).Close()
	h := startHelper(t, "append", helperConfig{Dir: dir, ID: "w", FSize: 256 << 10})
	var acked, failed []ack
	var msg string
	for {
		l, ok := h.next(t)
		if !ok {
			break
		}
		switch l.kind {
		case "ack":
			acked = append(acked, ack{"w", l.i, l.seq})
		case "err":
			failed = append(failed, ack{"w", l.i, 0})
			msg = l.msg
		}
	}
	err := h.cmd.Wait()
	if len(failed) != 1 || err == nil {
		t.Fatalf("writer exited with %v after %d writes and %d failures; want it to fail once the file is full", err, len(acked), len(failed))
	}
	if len(acked) == 0 {
		t.Errorf("no write succeeded before the limit")
	}
	if !strings.Contains(msg, "file too large") {
		t.Errorf("write error %q does not say what went wrong", msg)
	}
	t.Logf("%d writes acknowledged, then: %s", len(acked), msg)
	checkStore(t, dir, acked, failed)
}

// TestOpen_CreatesPrivateFiles checks that a new home is readable by its
// owner only.
func TestOpen_CreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home", "store")
	s := openDisk(t, dir, store.Options{})
	appendChunk(t, s, "a", "x")
	for path, want := range map[string]os.FileMode{
		dir:                                0o700 | os.ModeDir,
		filepath.Join(dir, store.FileName): 0o600,
		filepath.Join(dir, store.FileName+"-wal"): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode(), want)
		}
	}
	if s.Path() != filepath.Join(dir, store.FileName) {
		t.Errorf("Path() = %q", s.Path())
	}
}

// TestDisk_Reopen checks that what is written is there after Close and Open,
// that Close leaves no write-ahead log behind, and that Size counts it all.
func TestDisk_Reopen(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, store.Options{})
	big := strings.Repeat("x", 100_000)
	appendChunk(t, s, "a", big)
	update(t, s, func(tx trustsync.Tx) error { return tx.Put("space-id", []byte("s1")) })
	size, err := s.Size()
	if err != nil || size < int64(len(big)) {
		t.Errorf("Size = %d, %v; want at least the %d bytes written", size, err, len(big))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Size(); !errors.Is(err, trustsync.ErrClosed) {
		t.Errorf("Size after Close: %v, want ErrClosed", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, store.FileName+"-wal")); err == nil && fi.Size() > 0 {
		t.Errorf("Close left a %d-byte write-ahead log", fi.Size())
	}
	s = openDisk(t, dir, store.Options{})
	if got := chunks(t, s, "a", 0); len(got) != 1 || string(got[0].Data) != big {
		t.Errorf("after reopening: %d chunks", len(got))
	}
	view(t, s, func(tx trustsync.ReadTx) error {
		v, err := tx.Get("space-id")
		if string(v) != "s1" {
			t.Errorf("space-id after reopening = %q, %v", v, err)
		}
		return nil
	})
}

// TestOpen_UnusualPath opens a home whose path holds characters that mean
// something in a SQLite URI: the database lands exactly there.
func TestOpen_UnusualPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Sam & Alex?mode=ro#1 100%")
	s := openDisk(t, dir, store.Options{})
	appendChunk(t, s, "a", "x")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{store.FileName}) {
		t.Errorf("%s holds %v, want only %s", dir, names, store.FileName)
	}
	s = openDisk(t, dir, store.Options{})
	if got := summary(chunks(t, s, "", 0)); !slices.Equal(got, []string{"1:a:x"}) {
		t.Errorf("after reopening: %v", got)
	}
}
