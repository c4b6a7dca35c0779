package crdt

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

func newTestSpace(t *testing.T, st trustsync.Store, opts Options) *Space {
	t.Helper()
	s, err := Create(context.Background(), st, CreateOptions{Options: opts, MemberName: "Sam", DeviceName: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newerVersion rewrites a saved document as a newer trustsync would: it
// sets the root schema versions and adds an unknown field to item id.
func newerVersion(t *testing.T, s *Space, data []byte, major, minor int64, id string) []byte {
	t.Helper()
	d, err := automerge.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	// Written by this very device, as after an upgrade and a downgrade:
	// its changes are signed with its key.
	if err := d.SetActorID(s.Self().DeviceID); err != nil {
		t.Fatal(err)
	}
	root := d.RootMap()
	if err := setInt(root, "schema", major); err != nil {
		t.Fatal(err)
	}
	if err := setInt(root, "schema_minor", minor); err != nil {
		t.Fatal(err)
	}
	if err := getMap(root, id).Set("colour", "blue"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Commit("newer version"); err != nil {
		t.Fatal(err)
	}
	return signedSave(t, s, BoundariesDoc, d)
}

// signedSave saves d as a signed bundle, signing the changes made as s's
// device with s's key.
func signedSave(t *testing.T, s *Space, doc string, d *automerge.Doc) []byte {
	t.Helper()
	chs, err := d.Changes()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PeerID(context.Background()); err != nil { // loads the key
		t.Fatal(err)
	}
	sigs := map[automerge.ChangeHash][]byte{}
	for _, c := range chs {
		if c.ActorID() == s.Self().DeviceID {
			sigs[c.Hash()] = ed25519.Sign(s.key, changeSigInput(doc, c.Hash()))
		}
	}
	return wrapSigned(d.Save(), sigs)
}

func TestSpace_NewerSchemaMajorIsReadOnly(t *testing.T) {
	ctx := context.Background()
	s := newTestSpace(t, store.NewMemory(), Options{})
	id, err := s.AddBoundary(ctx, "Be honest")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := s.Save(ctx, BoundariesDoc)
	if _, err := s.Import(ctx, BoundariesDoc, newerVersion(t, s, data, SchemaMajor+1, 0, id), ""); err != nil {
		t.Fatal(err)
	}
	if bs, err := s.Boundaries(ctx, ListOptions{}); err != nil || len(bs) != 1 || bs[0].Text != "Be honest" {
		t.Fatalf("reading a newer document: %v %+v", err, bs)
	}
	writes := []struct {
		name string
		do   func() error
	}{
		{"add", func() error { _, err := s.AddBoundary(ctx, "x"); return err }},
		{"edit", func() error { return s.EditBoundary(ctx, id, "x") }},
		{"agree", func() error { return s.AgreeBoundary(ctx, id) }},
		{"archive", func() error { return s.ArchiveBoundary(ctx, id) }},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			err := w.do()
			if !errors.Is(err, trustsync.ErrReadOnly) || !strings.Contains(err.Error(), "upgrade") {
				t.Fatalf("write to a newer document: %v, want ErrReadOnly telling to upgrade", err)
			}
		})
	}
	// Other documents stay writable.
	if _, err := s.AddGoal(ctx, "Walks", ""); err != nil {
		t.Fatal(err)
	}
}

func TestSpace_UnknownFieldsSurviveEdits(t *testing.T) {
	ctx := context.Background()
	s := newTestSpace(t, store.NewMemory(), Options{})
	id, _ := s.AddBoundary(ctx, "Be honest")
	data, _ := s.Save(ctx, BoundariesDoc)
	if _, err := s.Import(ctx, BoundariesDoc, newerVersion(t, s, data, SchemaMajor, SchemaMinor+3, id), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.EditBoundary(ctx, id, "Be honest and kind"); err != nil {
		t.Fatal(err)
	}
	if err := s.AgreeBoundary(ctx, id); err != nil {
		t.Fatal(err)
	}
	saved, _ := s.Save(ctx, BoundariesDoc)
	d, err := automerge.Load(saved)
	if err != nil {
		t.Fatal(err)
	}
	item := getMap(d.RootMap(), id)
	if got := getStr(item, "colour"); got != "blue" {
		t.Fatalf("unknown field after edits: %q, want blue", got)
	}
	if minor, _ := getInt(d.RootMap(), "schema_minor"); minor != SchemaMinor+3 {
		t.Fatalf("schema_minor rewritten to %d", minor)
	}
	if getStr(item, "text") != "Be honest and kind" {
		t.Fatal("edit lost")
	}
}

// damagingStore wraps a store and damages one chunk as Chunks returns it:
// either the store notices (a checksum mismatch: the chunk is left out and a
// DamagedError returned beside the intact chunks) or it does not (the bytes
// are garbage that only Automerge can reject).
type damagingStore struct {
	trustsync.Store
	seq      int64
	noticed  bool
	mu       sync.Mutex
	reported int
}

type damagingTx struct {
	trustsync.Tx
	st *damagingStore
}

type damagingReadTx struct {
	trustsync.ReadTx
	st *damagingStore
}

func (d *damagingStore) View(ctx context.Context, fn func(trustsync.ReadTx) error) error {
	return d.Store.View(ctx, func(tx trustsync.ReadTx) error { return fn(damagingReadTx{tx, d}) })
}

func (d *damagingStore) Update(ctx context.Context, fn func(trustsync.Tx) error) error {
	return d.Store.Update(ctx, func(tx trustsync.Tx) error { return fn(damagingTx{tx, d}) })
}

func (d *damagingStore) damage(chunks []trustsync.Chunk, err error) ([]trustsync.Chunk, error) {
	if err != nil {
		return chunks, err
	}
	var out []trustsync.Chunk
	for _, c := range chunks {
		if c.Seq != d.seq {
			out = append(out, c)
			continue
		}
		d.mu.Lock()
		d.reported++
		d.mu.Unlock()
		if d.noticed {
			err = &trustsync.DamagedError{What: fmt.Sprintf("chunk %d of document %q", c.Seq, c.Doc), Why: "checksum mismatch"}
			continue
		}
		c.Data = []byte("this is not automerge data")
		out = append(out, c)
	}
	return out, err
}

func (tx damagingReadTx) Chunks(doc string, after int64) ([]trustsync.Chunk, error) {
	return tx.st.damage(tx.ReadTx.Chunks(doc, after))
}

func (tx damagingTx) Chunks(doc string, after int64) ([]trustsync.Chunk, error) {
	return tx.st.damage(tx.Tx.Chunks(doc, after))
}

func TestSpace_DamagedChunk(t *testing.T) {
	ctx := context.Background()
	for _, noticed := range []bool{true, false} {
		t.Run(fmt.Sprintf("noticed by store=%v", noticed), func(t *testing.T) {
			mem := store.NewMemory()
			s := newTestSpace(t, mem, Options{})
			// Long first boundaries (8 at the length limit) make a
			// snapshot large enough that the next three are kept as
			// chunks of their own.
			const longOnes = 8
			rng := rand.New(rand.NewPCG(3, 4))
			for range longOnes {
				long := make([]byte, MaxTextLen)
				for i := range long {
					long[i] = 'a' + byte(rng.IntN(26))
				}
				if _, err := s.AddBoundary(ctx, string(long)); err != nil {
					t.Fatal(err)
				}
			}
			var ids []string
			for i := 0; i < 3; i++ {
				id, err := s.AddBoundary(ctx, fmt.Sprint("boundary ", i))
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			var chunks []trustsync.Chunk
			mem.View(ctx, func(tx trustsync.ReadTx) error {
				chunks, _ = tx.Chunks(BoundariesDoc, 0)
				return nil
			})
			if len(chunks) < 3 {
				t.Fatalf("%d chunks, want a snapshot and chunks after it", len(chunks))
			}
			ds := &damagingStore{Store: mem, seq: chunks[1].Seq, noticed: noticed}
			s2, err := Open(ctx, ds, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			// Reading the view still shows everything.
			bs, err := s2.Boundaries(ctx, ListOptions{})
			if err != nil || len(bs) != longOnes+3 {
				t.Fatalf("list with a damaged chunk: %v, %d boundaries", err, len(bs))
			}
			// Writing the damaged document fails clearly.
			err = s2.EditBoundary(ctx, ids[0], "changed")
			var de *trustsync.DamagedError
			if !errors.As(err, &de) || !strings.Contains(de.What, strconv.FormatInt(chunks[1].Seq, 10)) {
				t.Fatalf("edit of a damaged document: %v, want a DamagedError naming chunk %d", err, chunks[1].Seq)
			}
			if _, err := s2.Save(ctx, BoundariesDoc); !errors.Is(err, trustsync.ErrDamaged) {
				t.Fatalf("Save of a damaged document: %v", err)
			}
			// Other documents are unaffected, and nothing was dropped.
			if _, err := s2.AddGoal(ctx, "Walks", ""); err != nil {
				t.Fatal(err)
			}
			var after []trustsync.Chunk
			mem.View(ctx, func(tx trustsync.ReadTx) error {
				after, _ = tx.Chunks(BoundariesDoc, 0)
				return nil
			})
			if len(after) != len(chunks) {
				t.Fatalf("%d chunks of the damaged document left, had %d", len(after), len(chunks))
			}
			if b, _ := s2.Boundary(ctx, ids[0]); b.Text != "boundary 0" {
				t.Fatalf("view changed: %+v", b)
			}
		})
	}
}

func TestSpace_Compaction(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	s := newTestSpace(t, mem, Options{CompactAfter: 4})
	id, _ := s.AddBoundary(ctx, "v0")
	for i := 1; i <= 10; i++ {
		if err := s.EditBoundary(ctx, id, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	var chunks []trustsync.Chunk
	mem.View(ctx, func(tx trustsync.ReadTx) error {
		chunks, _ = tx.Chunks(BoundariesDoc, 0)
		return nil
	})
	if len(chunks) >= 11 || !chunks[0].Snapshot {
		t.Fatalf("%d chunks, first snapshot=%v: not compacted", len(chunks), chunks[0].Snapshot)
	}
	s2, err := Open(ctx, mem, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.EditBoundary(ctx, id, "v11"); err != nil {
		t.Fatal(err)
	}
	saved, _ := s2.Save(ctx, BoundariesDoc)
	d, _ := automerge.Load(saved)
	if getStr(getMap(d.RootMap(), id), "text") != "v11" {
		t.Fatal("compacted document lost the text")
	}
	h, _ := s2.History(ctx, HistoryOptions{Item: id})
	if len(h) != 12 {
		t.Fatalf("%d history entries, want 12", len(h))
	}
}

// TestSpace_CompactsSmallDocuments fills one month with 40 check-ins, far
// fewer than CompactAfter chunks: the month's document must still be
// compacted, holding one snapshot first and chunks worth at most
// 1/compactShare of it, so that its stored bytes stay within a bound of its
// Save().
func TestSpace_CompactsSmallDocuments(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	at := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)
	s := newTestSpace(t, mem, Options{Now: func() time.Time { return at }})
	rng := rand.New(rand.NewPCG(5, 6))
	words := strings.Fields("we talked about the week and I felt heard when you listened without fixing it")
	for i := 0; i < 40; i++ {
		var note strings.Builder
		for note.Len() < 500 {
			note.WriteString(words[rng.IntN(len(words))] + " ")
		}
		if _, err := s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: note.String()}); err != nil {
			t.Fatal(err)
		}
		at = at.Add(17 * time.Hour)
	}
	doc := CheckInDoc(time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC))
	var chunks []trustsync.Chunk
	noErr(t, mem.View(ctx, func(tx trustsync.ReadTx) error {
		var err error
		chunks, err = tx.Chunks(doc, 0)
		return err
	}))
	saved := must[[]byte](t)(s.Save(ctx, doc))
	stored, largest, snapshots := 0, 0, 0
	for _, c := range chunks {
		stored += len(c.Data)
		if c.Snapshot {
			snapshots++
		} else {
			largest = max(largest, len(c.Data))
		}
	}
	limit := len(saved) + len(saved)/compactShare + largest
	if snapshots != 1 || !chunks[0].Snapshot || stored > limit {
		t.Fatalf("month of 40 check-ins: %d chunks, %d snapshots (first: %v), %d bytes stored; Save() is %d bytes, want one snapshot first and at most %d bytes",
			len(chunks), snapshots, chunks[0].Snapshot, stored, len(saved), limit)
	}
	// The check-ins are all there when the document is reloaded.
	fresh := must[*Space](t)(Open(ctx, mem, Options{}))
	defer fresh.Close()
	d := must[*automerge.Doc](t)(automerge.Load(must[[]byte](t)(fresh.Save(ctx, doc))))
	if refs, _ := allRefs(doc, d.RootMap()); len(refs) != 40 {
		t.Fatalf("the stored month holds %d check-ins, want 40", len(refs))
	}
}

// TestSpace_ViewRowsAreCompact checks what the view rows leave out (the
// item's ID, names, empty fields, whether a boundary is agreed, a step's
// own fields), and that everything still reads back.
func TestSpace_ViewRowsAreCompact(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	s := newTestSpace(t, mem, Options{})
	bid := must[string](t)(s.AddBoundary(ctx, "Home by eleven"))
	gid := must[string](t)(s.AddGoal(ctx, "Walks", ""))
	sid := must[string](t)(s.AddStep(ctx, gid, "Pick a route"))
	cid := must[string](t)(s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Note: "calm week"}))
	rows := map[string]string{}
	noErr(t, mem.View(ctx, func(tx trustsync.ReadTx) error {
		for _, r := range []ItemRef{{KindBoundary, bid}, {KindGoal, gid}, {KindStep, sid}, {KindCheckIn, cid}} {
			it, err := tx.Item(r.Kind, r.ID)
			if err != nil {
				return err
			}
			rows[r.Kind] = string(it.Data)
		}
		return nil
	}))
	for kind, row := range rows {
		for _, leftOut := range []string{`"name"`, `"agreed"`, `"archived"`, `"acks"`, `"done"`, `"why"`, `"needs"`, `[]`} {
			if strings.Contains(row, leftOut) {
				t.Errorf("%s row holds %s: %s", kind, leftOut, row)
			}
		}
		for _, id := range []string{bid, cid} {
			if strings.Contains(row, `"`+id+`"`) {
				t.Errorf("%s row holds an item's ID: %s", kind, row)
			}
		}
	}
	if rows[KindStep] != `{"goal":"`+gid+`"}` {
		t.Errorf("step row %s, want only its goal", rows[KindStep])
	}
	b := must[trustsync.Boundary](t)(s.Boundary(ctx, bid))
	g := must[trustsync.Goal](t)(s.Goal(ctx, gid))
	c := must[trustsync.CheckIn](t)(s.CheckIn(ctx, cid))
	if b.ID != bid || b.Text != "Home by eleven" || b.ProposedBy.Name != "Sam" || b.Agreements == nil ||
		g.ID != gid || len(g.Steps) != 1 || g.Steps[0].ID != sid || g.Steps[0].AddedBy.Name != "Sam" ||
		c.ID != cid || c.Note != "calm week" || c.Author.Name != "Sam" || c.Acks == nil || c.Feelings == nil {
		t.Fatalf("read back: %+v\n%+v\n%+v", b, g, c)
	}
	if _, err := s.MarkDone(ctx, sid[:8]); err != nil {
		t.Fatal(err)
	}
	if g := must[trustsync.Goal](t)(s.Goal(ctx, gid)); !g.Steps[0].Done || g.Steps[0].DoneBy == nil || g.Steps[0].DoneBy.Name != "Sam" {
		t.Fatalf("step after MarkDone: %+v", g.Steps[0])
	}
}

// TestSpace_TwoProcessesOneStore runs a second process (this test binary,
// re-executed) that writes to the same disk store as this one, at the same
// time. Nothing either wrote may be lost.
func TestSpace_TwoProcessesOneStore(t *testing.T) {
	const perProcess = 25
	if dir := os.Getenv("CRDT_TEST_CHILD_DIR"); dir != "" {
		childWrites(t, dir, perProcess)
		return
	}
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := newTestSpace(t, st, Options{CompactAfter: 7})
	if _, err := s.AddBoundary(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpace_TwoProcessesOneStore$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CRDT_TEST_CHILD_DIR="+dir)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < perProcess; i++ {
		id, err := s.AddBoundary(ctx, fmt.Sprint("parent ", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if err := s.AgreeBoundary(ctx, ids[i/2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if _, err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	bs, err := s.Boundaries(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1+2*perProcess {
		t.Fatalf("%d boundaries listed, want %d\nchild:\n%s", len(bs), 1+2*perProcess, out)
	}
	// The document itself, reloaded from the store, holds every item.
	fresh, err := Open(ctx, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	saved, err := fresh.Save(ctx, BoundariesDoc)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := automerge.Load(saved)
	refs, _ := allRefs(BoundariesDoc, d.RootMap())
	if len(refs) != 1+2*perProcess {
		t.Fatalf("the stored document holds %d boundaries, want %d", len(refs), 1+2*perProcess)
	}
	h, _ := fresh.History(ctx, HistoryOptions{})
	// create, "before", the adds of both, and the agreements (agreeing
	// twice to one boundary is no change).
	if want := 2 + 2*perProcess + (perProcess+1)/2; len(h) != want {
		t.Fatalf("%d history entries, want %d", len(h), want)
	}
}

func childWrites(t *testing.T, dir string, n int) {
	ctx := context.Background()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := Open(ctx, st, Options{CompactAfter: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < n; i++ {
		if _, err := s.AddBoundary(ctx, fmt.Sprint("child ", i)); err != nil {
			t.Fatal(err)
		}
	}
}

// must and noErr are the in-package twins of helpers_test.go's.
func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
