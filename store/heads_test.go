package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// heads reads the current heads of doc.
func heads(t *testing.T, s trustsync.Store, doc string) (trustsync.DocHeads, bool) {
	t.Helper()
	var h trustsync.DocHeads
	var ok bool
	view(t, s, func(tx trustsync.ReadTx) error {
		var err error
		h, ok, err = tx.Heads(doc)
		return err
	})
	return h, ok
}

func putHeads(t *testing.T, s trustsync.Store, doc string, seq int64, hashes string) {
	t.Helper()
	update(t, s, func(tx trustsync.Tx) error {
		return tx.PutHeads(doc, trustsync.DocHeads{Seq: seq, Hashes: []byte(hashes)})
	})
}

// TestStore_Heads checks that recorded heads are given back only while the
// chunk they belong to is the document's latest: appending, compacting and
// setting a chunk aside each make them stale.
func TestStore_Heads(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		if _, ok := heads(t, s, "a"); ok {
			t.Errorf("heads of a document never written: ok")
		}
		a1 := appendChunk(t, s, "a", "a1")
		if _, ok := heads(t, s, "a"); ok {
			t.Errorf("heads never recorded: ok")
		}
		putHeads(t, s, "a", a1, "H1")
		if h, ok := heads(t, s, "a"); !ok || h.Seq != a1 || string(h.Hashes) != "H1" {
			t.Errorf("heads after PutHeads = %+v, %v; want seq %d H1", h, ok, a1)
		}
		// Another document's chunk leaves them current.
		b1 := appendChunk(t, s, "b", "b1")
		if _, ok := heads(t, s, "a"); !ok {
			t.Errorf("heads of a after a chunk of b: stale")
		}
		a2 := appendChunk(t, s, "a", "a2")
		if h, ok := heads(t, s, "a"); ok {
			t.Errorf("heads after a chunk appended without them = %+v: still current", h)
		}
		// Appending bytes already stored stores nothing: still stale.
		if seq := appendChunk(t, s, "a", "a1"); seq != a1 {
			t.Fatalf("duplicate append: seq %d", seq)
		}
		putHeads(t, s, "a", a2, "H2")
		var snap int64
		update(t, s, func(tx trustsync.Tx) error {
			var err error
			snap, err = tx.Compact("a", []byte("snap"), a2)
			return err
		})
		if _, ok := heads(t, s, "a"); ok {
			t.Errorf("heads after a compaction that did not record them: current")
		}
		update(t, s, func(tx trustsync.Tx) error {
			if _, err := tx.Compact("b", []byte("snapb"), b1); err != nil {
				return err
			}
			return tx.PutHeads("b", trustsync.DocHeads{Seq: b1 + 3, Hashes: []byte("Hb")})
		})
		putHeads(t, s, "a", snap, "H3")
		a4 := appendChunk(t, s, "a", "a4")
		putHeads(t, s, "a", a4, "H4")
		if h, ok := heads(t, s, "a"); !ok || string(h.Hashes) != "H4" {
			t.Errorf("heads = %+v, %v; want H4", h, ok)
		}
		// Setting aside a chunk that is not the latest forgets them: the
		// document lost what it held.
		update(t, s, func(tx trustsync.Tx) error { return tx.Quarantine(snap) })
		if h, ok := heads(t, s, "a"); ok {
			t.Errorf("heads after setting a chunk aside = %+v: still current", h)
		}
		if h, ok := heads(t, s, "b"); !ok || string(h.Hashes) != "Hb" {
			t.Errorf("heads of b = %+v, %v after setting a chunk of a aside", h, ok)
		}
		err := s.Update(context.Background(), func(tx trustsync.Tx) error {
			return tx.PutHeads("", trustsync.DocHeads{Seq: 1})
		})
		if !errors.Is(err, trustsync.ErrInvalid) {
			t.Errorf("PutHeads of no document: %v, want ErrInvalid", err)
		}
	})
}

// TestDisk_HeadsStaleByHand checks that a heads row whose seq was set back
// by hand, as a crash of an older build or an edit of the file could leave
// it, is not trusted.
func TestDisk_HeadsStaleByHand(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, store.Options{})
	appendChunk(t, d, "a", "a1")
	a2 := appendChunk(t, d, "a", "a2")
	putHeads(t, d, "a", a2, "H2")
	d.Close()
	execSQL(t, filepath.Join(dir, store.FileName), "UPDATE heads SET seq = seq - 1")
	d = openDisk(t, dir, store.Options{})
	if h, ok := heads(t, d, "a"); ok {
		t.Errorf("heads of an older seq = %+v: trusted", h)
	}
}

// TestDisk_ChunkMAC checks what a store with a chunk key says of its
// chunks: checked when written under the same key, not when written without
// one, read under another key or without one, or changed in the file with
// its checksum fixed up.
func TestDisk_ChunkMAC(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	other := bytes.Repeat([]byte{8}, 32)
	dir := t.TempDir()
	path := filepath.Join(dir, store.FileName)

	d := openDisk(t, dir, store.Options{})
	plain := appendChunk(t, d, "a", "written without a key")
	d.Close()

	d = openDisk(t, dir, store.Options{ChunkKey: key})
	mine := appendChunk(t, d, "a", "written with the key")
	var snap int64
	update(t, d, func(tx trustsync.Tx) error {
		var err error
		snap, err = tx.Compact("b", []byte("a snapshot"), 0)
		return err
	})
	checked := func(s trustsync.Store) map[int64]bool {
		t.Helper()
		out := map[int64]bool{}
		for _, c := range chunks(t, s, "", 0) {
			out[c.Seq] = c.Checked
		}
		return out
	}
	if got := checked(d); got[plain] || !got[mine] || !got[snap] {
		t.Errorf("under the key: checked %v; want %d and %d only", got, mine, snap)
	}
	d.Close()

	for _, c := range []struct {
		name string
		opts store.Options
	}{{"another key", store.Options{ChunkKey: other}}, {"no key", store.Options{}}} {
		d := openDisk(t, dir, c.opts)
		if got := checked(d); slices.Contains(slices.Collect(maps.Values(got)), true) {
			t.Errorf("%s: checked %v; want none", c.name, got)
		}
		d.Close()
	}

	// Change the bytes in the file and fix the checksum up, as someone who
	// can write the file could: the chunk is intact but not checked.
	execSQL(t, path, "UPDATE chunks SET data = CAST('written with the KEY' AS BLOB) WHERE seq = "+strconv.FormatInt(mine, 10))
	fixChecksum(t, path, mine)
	d = openDisk(t, dir, store.Options{ChunkKey: key})
	cs := chunks(t, d, "a", 0)
	if len(cs) != 2 || string(cs[1].Data) != "written with the KEY" {
		t.Fatalf("after the edit: %v", summary(cs))
	}
	if got := checked(d); got[mine] || !got[snap] {
		t.Errorf("after changing chunk %d in the file: checked %v", mine, got)
	}

	if _, err := store.Open(t.TempDir(), store.Options{ChunkKey: []byte("short")}); !errors.Is(err, trustsync.ErrInvalid) {
		t.Errorf("Open with a 5-byte chunk key: %v, want ErrInvalid", err)
	}
}

// fixChecksum sets the stored checksum of chunk seq to that of its bytes, as
// someone changing the file on purpose would.
func fixChecksum(t *testing.T, path string, seq int64) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	err = db.QueryRow("SELECT data FROM chunks WHERE seq = ?", seq).Scan(&data)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	execSQL(t, path, fmt.Sprintf("UPDATE chunks SET hash = x'%x' WHERE seq = %d", sum, seq))
}
