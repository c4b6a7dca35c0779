package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, store.EncryptionKeySize)
	rand.Read(k)
	return k
}

// openEncryptedDisk is the encrypted store in the conformance suite
// (impls in store_test.go): a Disk wrapped by Encrypt.
func openEncryptedDisk(t *testing.T) trustsync.Store {
	d, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := store.Encrypt(context.Background(), d, newKey(t))
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// fill writes one of everything a store holds, each carrying canary.
func fill(t *testing.T, s trustsync.Store, canary string) {
	t.Helper()
	update(t, s, func(tx trustsync.Tx) error {
		if _, err := tx.AppendChunk("boundaries", []byte("chunk "+canary)); err != nil {
			return err
		}
		if _, err := tx.Compact("goals", []byte("snapshot "+canary), 0); err != nil {
			return err
		}
		if err := tx.PutItem(trustsync.Item{Kind: "boundary", ID: "b1", Doc: "boundaries", Data: []byte(`{"text":"` + canary + `"}`)}); err != nil {
			return err
		}
		if err := tx.AddHistory(trustsync.HistoryEntry{Hash: "ab01", Doc: "boundaries", Actor: "cd02", At: time.UnixMilli(1700000000000), Message: "said " + canary}); err != nil {
			return err
		}
		return tx.Put("sync/dev/boundaries", []byte("state "+canary))
	})
}

// filesContaining returns the files under dir whose bytes contain s.
func filesContaining(t *testing.T, dir, s string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(s)) {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestEncrypted_NoPlaintextOnDisk writes a canary into every kind of row
// and looks for it in every file of the directory (database, -wal, -shm),
// both while the store is open and after it is closed. The same writes to
// an unencrypted store leave the canary in the files, which shows that the
// search finds what is there.
func TestEncrypted_NoPlaintextOnDisk(t *testing.T) {
	ctx := context.Background()
	for _, encrypted := range []bool{false, true} {
		dir := t.TempDir()
		canary := "canary-" + rand.Text()
		d, err := store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var s trustsync.Store = d
		if encrypted {
			if s, err = store.Encrypt(ctx, d, newKey(t)); err != nil {
				t.Fatal(err)
			}
		}
		fill(t, s, canary)
		open := filesContaining(t, dir, canary)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		closed := filesContaining(t, dir, canary)
		switch {
		case encrypted && (len(open) > 0 || len(closed) > 0):
			t.Errorf("encrypted store: canary found in %v while open, %v after close", open, closed)
		case !encrypted && (len(open) == 0 || len(closed) == 0):
			t.Errorf("plain store: canary not found on disk (open %v, closed %v): the search cannot see plaintext", open, closed)
		}
	}
}

// TestEncrypt_WrongKey: a second key is refused with ErrWrongKey, nothing
// is written, and the right key still reads everything.
func TestEncrypt_WrongKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key := newKey(t)
	d, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := store.Encrypt(ctx, d, key)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, e, "x")
	e.Close()
	before := dbBytes(t, dir)

	d, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Encrypt(ctx, d, newKey(t)); !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("Encrypt with another key: %v, want ErrWrongKey", err)
	}
	d.Close()
	if after := dbBytes(t, dir); !bytes.Equal(before, after) {
		t.Error("a wrong key changed the database file")
	}

	d, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err = store.Encrypt(ctx, d, key)
	if err != nil {
		t.Fatalf("Encrypt with the right key after a wrong one: %v", err)
	}
	defer e.Close()
	view(t, e, func(tx trustsync.ReadTx) error {
		it, err := tx.Item("boundary", "b1")
		if err != nil || string(it.Data) != `{"text":"x"}` {
			t.Errorf("item after reopening: %q, %v", it.Data, err)
		}
		return nil
	})
}

func dbBytes(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncrypt_RefusesPlainData: wrapping a store that already holds
// unencrypted data would mix the two; Encrypt refuses.
func TestEncrypt_RefusesPlainData(t *testing.T) {
	m := store.NewMemory()
	defer m.Close()
	appendChunk(t, m, "space", "plain")
	if _, err := store.Encrypt(context.Background(), m, newKey(t)); !errors.Is(err, store.ErrNotEncrypted) {
		t.Fatalf("Encrypt on a store with plain chunks: %v, want ErrNotEncrypted", err)
	}
	if _, err := store.Encrypt(context.Background(), m, []byte("short")); !errors.Is(err, trustsync.ErrInvalid) {
		t.Fatalf("Encrypt with a 5-byte key: %v, want ErrInvalid", err)
	}
}

// TestEncrypted_RowsCannotBeSwapped: someone with the file who moves a
// sealed value to another row (an item's data to another item, a chunk to
// another document) gets an error, never the moved value read as the
// other row's.
func TestEncrypted_RowsCannotBeSwapped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key := newKey(t)
	d, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := store.Encrypt(ctx, d, key)
	if err != nil {
		t.Fatal(err)
	}
	update(t, e, func(tx trustsync.Tx) error {
		for _, it := range []trustsync.Item{
			{Kind: "boundary", ID: "b1", Doc: "boundaries", Data: []byte(`{"text":"one"}`)},
			{Kind: "boundary", ID: "b2", Doc: "boundaries", Data: []byte(`{"text":"two"}`)},
		} {
			if err := tx.PutItem(it); err != nil {
				return err
			}
		}
		if _, err := tx.AppendChunk("goals", []byte("goal bytes")); err != nil {
			return err
		}
		_, err := tx.AppendChunk("boundaries", []byte("boundary bytes"))
		return err
	})
	e.Close()

	db, err := sql.Open("sqlite3", filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE items SET data = (SELECT data FROM items WHERE id = 'b2') WHERE id = 'b1'`,
		`UPDATE chunks SET doc = 'boundaries' WHERE doc = 'goals'`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	d, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err = store.Encrypt(ctx, d, key)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	err = e.View(ctx, func(tx trustsync.ReadTx) error {
		if it, err := tx.Item("boundary", "b1"); !errors.Is(err, trustsync.ErrDamaged) {
			t.Errorf("item b1 holding b2's sealed data: %q, %v; want ErrDamaged", it.Data, err)
		}
		if it, err := tx.Item("boundary", "b2"); err != nil || string(it.Data) != `{"text":"two"}` {
			t.Errorf("item b2: %q, %v", it.Data, err)
		}
		cs, err := tx.Chunks("boundaries", 0)
		var dmg *store.DamagedChunksError
		if !errors.As(err, &dmg) || len(dmg.Seqs) != 1 || dmg.Seqs[0] != 1 || len(cs) != 1 || string(cs[0].Data) != "boundary bytes" {
			t.Errorf("goals chunk moved to boundaries: chunks %v, error %v; want it reported damaged", summary(cs), err)
		}
		if err != nil && !strings.Contains(err.Error(), "cannot be decrypted") {
			t.Errorf("damage message %q does not say the chunk cannot be decrypted", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEncrypted_Dedupe: appending the same bytes twice stores one chunk,
// as the plain store does, because chunks are sealed deterministically;
// the same bytes in another document are another chunk.
func TestEncrypted_Dedupe(t *testing.T) {
	s := openEncryptedDisk(t)
	a := appendChunk(t, s, "boundaries", "same")
	b := appendChunk(t, s, "boundaries", "same")
	c := appendChunk(t, s, "goals", "same")
	if a != b || c == a {
		t.Fatalf("seqs %d, %d (same doc), %d (other doc): want the first two equal and the third new", a, b, c)
	}
	if got := summary(chunks(t, s, "", 0)); len(got) != 2 {
		t.Fatalf("chunks %v, want 2", got)
	}
}
