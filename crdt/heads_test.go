package crdt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// recordedHeads returns the heads st holds as current for doc, as sorted
// hex hashes, and whether it holds any.
func recordedHeads(t *testing.T, st trustsync.Store, doc string) ([]string, bool) {
	t.Helper()
	var hs []string
	var ok bool
	noErr(t, st.View(context.Background(), func(tx trustsync.ReadTx) error {
		h, found, err := tx.Heads(doc)
		if err != nil || !found {
			return err
		}
		hs, ok = unpackHeads(h.Hashes)
		if !ok {
			t.Errorf("heads of %s recorded as %d bytes: not 32-byte hashes in order", doc, len(h.Hashes))
		}
		return nil
	}))
	return hs, ok
}

// loadedHeads loads doc from the store in a space of its own and returns
// its heads.
func loadedHeads(t *testing.T, st trustsync.Store, doc string) []string {
	t.Helper()
	s, err := Open(context.Background(), st, Options{NoSandbox: true})
	noErr(t, err)
	defer s.Close()
	var hs []string
	noErr(t, s.loaded(context.Background(), doc, func(d *automerge.Doc) error {
		if d != nil {
			hs = hexHeads(d.Heads())
		}
		return nil
	}))
	return hs
}

// checkHeadsRecorded checks every document of st: its heads are recorded
// as current, equal to those of the document loaded from its chunks, and a
// space that has not loaded it answers Heads with them without loading it.
func checkHeadsRecorded(t *testing.T, st trustsync.Store, step string) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, st, Options{})
	noErr(t, err)
	defer s.Close()
	docs := must[[]string](t)(s.Docs(ctx))
	if len(docs) < 3 {
		t.Fatalf("%s: only %d documents", step, len(docs))
	}
	for _, doc := range docs {
		want := loadedHeads(t, st, doc)
		rec, ok := recordedHeads(t, st, doc)
		if !ok {
			t.Errorf("%s: %s: no current heads recorded", step, doc)
			continue
		}
		if !slices.Equal(rec, want) {
			t.Errorf("%s: %s: recorded heads %v, loaded document's %v", step, doc, rec, want)
		}
		got := must[[]string](t)(s.Heads(ctx, doc))
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s: Heads %v, loaded document's %v", step, doc, got, want)
		}
		if s.docState(doc).doc != nil {
			t.Errorf("%s: %s: Heads loaded the document", step, doc)
		}
	}
	if st := s.checker.Stats(); st.Checks != 0 {
		t.Errorf("%s: Heads of %d documents had the sandbox check %d inputs", step, len(docs), st.Checks)
	}
}

// TestSpace_HeadsRecorded checks the heads recorded beside the chunks after
// each way a document changes: local edits (with compactions), changes
// received by sync, an import, and a damaged chunk set aside.
func TestSpace_HeadsRecorded(t *testing.T) {
	ctx := context.Background()
	homeA, homeB := t.TempDir(), t.TempDir()
	a, sta := fltCreate(t, homeA, "Sam", "sam-laptop", Options{CompactAfter: 3})
	b, stb := fltCreate(t, homeB, "Alex", "alex-phone", Options{})
	defer stb.Close()
	defer b.Close()
	fltPair(t, a, b)

	for i := range 8 {
		must[string](t)(a.AddBoundary(ctx, fmt.Sprint("Sam's ", i)))
	}
	must[string](t)(a.AddGoal(ctx, "walks", ""))
	var snapshots int
	noErr(t, sta.View(ctx, func(tx trustsync.ReadTx) error {
		cs, err := tx.Chunks(BoundariesDoc, 0)
		for _, c := range cs {
			if c.Snapshot {
				snapshots++
			}
		}
		if len(cs) >= 8 {
			t.Errorf("%d chunks of boundaries after 8 edits: never compacted", len(cs))
		}
		return err
	}))
	if snapshots == 0 {
		t.Fatal("boundaries has no snapshot: the compaction path was not taken")
	}
	checkHeadsRecorded(t, sta, "local edits")

	for i := range 3 {
		must[string](t)(b.AddBoundary(ctx, fmt.Sprint("Alex's ", i)))
	}
	must[string](t)(b.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 2}))
	fltSync(t, a, b, nil)
	checkHeadsRecorded(t, sta, "received by sync")

	must[string](t)(b.AddBoundary(ctx, "Alex's imported"))
	rec := must[Received](t)(a.Import(ctx, BoundariesDoc, must[[]byte](t)(b.SaveSigned(ctx, BoundariesDoc)), b.Self().DeviceID))
	if rec.Changes != 1 {
		t.Fatalf("import: %+v, want 1 change", rec)
	}
	checkHeadsRecorded(t, sta, "imported")

	// A chunk failing its checksum: its heads are not trusted (the load
	// reports the damage as before), and setting it aside records the
	// heads of what is left and restored.
	noErr(t, a.Close())
	noErr(t, sta.Close())
	fltSQL(t, homeA, `UPDATE chunks SET data = data || X'00' WHERE seq = (SELECT max(seq) FROM chunks WHERE doc = 'boundaries')`)
	a, sta = fltOpen(t, homeA)
	defer sta.Close()
	defer a.Close()
	if _, err := a.Heads(ctx, BoundariesDoc); !errors.Is(err, trustsync.ErrDamaged) {
		t.Fatalf("Heads of a damaged document: %v, want ErrDamaged", err)
	}
	rec = must[Received](t)(a.Import(ctx, BoundariesDoc, must[[]byte](t)(b.SaveSigned(ctx, BoundariesDoc)), b.Self().DeviceID))
	if rec.Restored != 1 {
		t.Fatalf("import after damage: %+v, want 1 chunk set aside", rec)
	}
	checkHeadsRecorded(t, sta, "damaged chunk set aside")
	if ha, hb := must[[]string](t)(a.Heads(ctx, BoundariesDoc)), must[[]string](t)(b.Heads(ctx, BoundariesDoc)); !slices.Equal(ha, hb) {
		t.Errorf("after the restore: heads %v here, %v on the partner", ha, hb)
	}
}

// TestSpace_HeadsNotTrustedWhenStale sets a recorded row back by hand to an
// older chunk, with heads naming nothing: Heads loads the document instead
// and records the right heads again.
func TestSpace_HeadsNotTrustedWhenStale(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	s, st := fltCreate(t, home, "Sam", "sam-laptop", Options{})
	for i := range 3 {
		must[string](t)(s.AddBoundary(ctx, fmt.Sprint("boundary ", i)))
	}
	want := must[[]string](t)(s.Heads(ctx, BoundariesDoc))
	noErr(t, s.Close())
	noErr(t, st.Close())
	fltSQL(t, home, fmt.Sprintf(`UPDATE heads SET seq = seq - 1, hashes = x'%x' WHERE doc = 'boundaries'`, bytes.Repeat([]byte{0xee}, 32)))

	s, st = fltOpen(t, home)
	defer st.Close()
	defer s.Close()
	if _, ok := recordedHeads(t, st, BoundariesDoc); ok {
		t.Fatal("a row of an older seq is reported current")
	}
	if got := must[[]string](t)(s.Heads(ctx, BoundariesDoc)); !slices.Equal(got, want) {
		t.Errorf("Heads with a stale row: %v, want %v", got, want)
	}
	if rec, ok := recordedHeads(t, st, BoundariesDoc); !ok || !slices.Equal(rec, want) {
		t.Errorf("after Heads loaded the document: recorded %v (current %v), want %v", rec, ok, want)
	}
}

// TestSpace_HeadsOfOlderLayout opens a home written before heads were
// recorded (the layout-3 additions removed, version set back): it migrates,
// Heads loads each document once and records its heads, and a space opened
// afterwards answers without loading.
func TestSpace_HeadsOfOlderLayout(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	s, st := fltCreate(t, home, "Sam", "sam-laptop", Options{})
	for i := range 3 {
		must[string](t)(s.AddBoundary(ctx, fmt.Sprint("boundary ", i)))
	}
	must[string](t)(s.AddGoal(ctx, "walks", ""))
	want := map[string][]string{}
	for _, doc := range must[[]string](t)(s.Docs(ctx)) {
		want[doc] = must[[]string](t)(s.Heads(ctx, doc))
	}
	noErr(t, s.Close())
	noErr(t, st.Close())
	db, err := sql.Open("sqlite3", filepath.Join(home, store.FileName))
	noErr(t, err)
	for _, q := range []string{`DROP TABLE heads`, `ALTER TABLE chunks DROP COLUMN mac`, `PRAGMA user_version = 2`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	noErr(t, db.Close())

	st2, err := store.Open(home, store.Options{})
	noErr(t, err)
	defer st2.Close()
	for doc := range want {
		if _, ok := recordedHeads(t, st2, doc); ok {
			t.Fatalf("%s: heads recorded right after the migration", doc)
		}
	}
	s, err = Open(ctx, st2, Options{})
	noErr(t, err)
	for doc, hs := range want {
		if got := must[[]string](t)(s.Heads(ctx, doc)); !slices.Equal(got, hs) {
			t.Errorf("%s: Heads after the migration %v, want %v", doc, got, hs)
		}
	}
	noErr(t, s.Close())
	checkHeadsRecorded(t, st2, "migrated")
}

// chunkKey is the chunk key of the tests.
var chunkKey = bytes.Repeat([]byte{0x5a}, 32)

// coldSave opens the space of home with the store options given, saves doc
// (a cold load) and returns how many inputs the sandbox child checked, with
// the error of the load.
func coldSave(t *testing.T, home string, opts store.Options, doc string) (int, error) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(home, opts)
	noErr(t, err)
	defer st.Close()
	s, err := Open(ctx, st, Options{})
	noErr(t, err)
	defer s.Close()
	_, err = s.Save(ctx, doc)
	return s.checker.Stats().Checks, err
}

// TestSpace_CheckedChunksLoadUnchecked writes a home through a store with a
// chunk key: opened again with the key, its documents load without the
// sandbox child; with another key or none, they are checked as before; a
// chunk whose bytes were replaced in the file (checksum fixed up) fails its
// MAC and is checked and found damaged exactly as without a key.
func TestSpace_CheckedChunksLoadUnchecked(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	st, err := store.Open(home, store.Options{ChunkKey: chunkKey})
	noErr(t, err)
	s, err := Create(ctx, st, CreateOptions{MemberName: "Sam", DeviceName: "sam-laptop", Options: Options{CompactAfter: 4}})
	noErr(t, err)
	for i := range 6 {
		must[string](t)(s.AddBoundary(ctx, fmt.Sprint("boundary ", i)))
	}
	noErr(t, s.Close())
	noErr(t, st.Close())

	for _, c := range []struct {
		name    string
		opts    store.Options
		checked bool
	}{
		{"same key", store.Options{ChunkKey: chunkKey}, false},
		{"another key", store.Options{ChunkKey: bytes.Repeat([]byte{1}, 32)}, true},
		{"no key", store.Options{}, true},
	} {
		n, err := coldSave(t, home, c.opts, BoundariesDoc)
		noErr(t, err)
		if (n > 0) != c.checked {
			t.Errorf("%s: the sandbox checked %d inputs loading boundaries; want checked=%v", c.name, n, c.checked)
		}
	}

	// Replace the bytes of the latest chunk with bytes Automerge cannot
	// load, and fix the checksum up.
	garbage := []byte("\x85\x6f\x4a\x83 not an automerge chunk")
	fltSQL(t, home, fmt.Sprintf(`UPDATE chunks SET data = x'%x', hash = x'%x' WHERE seq = (SELECT max(seq) FROM chunks WHERE doc = 'boundaries')`,
		garbage, sha256.Sum256(garbage)))
	nKey, errKey := coldSave(t, home, store.Options{ChunkKey: chunkKey}, BoundariesDoc)
	nNone, errNone := coldSave(t, home, store.Options{}, BoundariesDoc)
	var de *trustsync.DamagedError
	if !errors.As(errKey, &de) || !strings.Contains(de.What, `"boundaries"`) || nKey == 0 {
		t.Fatalf("loading a chunk changed in the file, with the key: %v after %d checks; want it checked and damaged", errKey, nKey)
	}
	if errNone == nil || errKey.Error() != errNone.Error() || nKey != nNone {
		t.Errorf("with the key: %v (%d checks); without: %v (%d checks); want the same", errKey, nKey, errNone, nNone)
	}
	// The other documents still load unchecked.
	if n, err := coldSave(t, home, store.Options{ChunkKey: chunkKey}, SpaceDoc); err != nil || n != 0 {
		t.Errorf("the space document with the key: %d checks, %v", n, err)
	}
}
