package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/internal/keys"
	"github.com/trustsync/trustsync/store"
)

// checkedChunks opens the store of home with key and counts its chunks,
// and those marked checked.
func checkedChunks(t *testing.T, home string, key []byte) (all, checked int) {
	t.Helper()
	st, err := store.Open(home, store.Options{ChunkKey: key})
	must(t, err)
	defer st.Close()
	must(t, st.View(context.Background(), func(tx trustsync.ReadTx) error {
		cs, err := tx.Chunks("", 0)
		for _, c := range cs {
			all++
			if c.Checked {
				checked++
			}
		}
		return err
	}))
	return all, checked
}

// TestStore_ChunkKeyPlainHome: a home without encryption gets a chunk key
// file of its own (32 bytes, mode 0600) at init, keeps it, and every chunk
// its commands write verifies under it. A file that is not a key is
// replaced, and commands go on working.
func TestStore_ChunkKeyPlainHome(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	d.create("boundary", "add", "Be kind")
	path := filepath.Join(d.home, ChunkKeyFile)
	key, err := os.ReadFile(path)
	must(t, err)
	fi, err := os.Stat(path)
	must(t, err)
	if len(key) != keys.KeySize || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %d bytes, mode %v; want %d bytes, 0600", ChunkKeyFile, len(key), fi.Mode().Perm(), keys.KeySize)
	}
	d.create("goal", "add", "Walks")
	d.ok("boundary", "list")
	if again, _ := os.ReadFile(path); !bytes.Equal(again, key) {
		t.Fatal("the chunk key changed between commands")
	}
	if all, checked := checkedChunks(t, d.home, key); all == 0 || checked != all {
		t.Errorf("%d of %d chunks verify under the home's key", checked, all)
	}
	if _, checked := checkedChunks(t, d.home, bytes.Repeat([]byte{1}, 32)); checked != 0 {
		t.Errorf("%d chunks verify under another key", checked)
	}

	must(t, os.WriteFile(path, []byte("not a key"), 0o600))
	d.ok("boundary", "list")
	d.create("boundary", "add", "Be honest")
	key2, err := os.ReadFile(path)
	must(t, err)
	if len(key2) != keys.KeySize || bytes.Equal(key2, key) {
		t.Fatalf("after the key file was spoiled: %d bytes, same as before %v", len(key2), bytes.Equal(key2, key))
	}
	if all, checked := checkedChunks(t, d.home, key2); checked == 0 || checked == all {
		t.Errorf("under the new key: %d of %d chunks verify; want the new ones only", checked, all)
	}
	if out := d.ok("boundary", "list"); !bytes.Contains([]byte(out), []byte("Be honest")) || !bytes.Contains([]byte(out), []byte("Be kind")) {
		t.Errorf("boundary list after a new key: %q", out)
	}
}

// TestStore_ChunkKeyEncryptedHome: an encrypted home keeps no key file;
// its chunks verify under the key derived from its data key.
func TestStore_ChunkKeyEncryptedHome(t *testing.T) {
	d := encryptedDevice(t)
	d.create("boundary", "add", "Be kind")
	if _, err := os.Stat(filepath.Join(d.home, ChunkKeyFile)); !os.IsNotExist(err) {
		t.Errorf("an encrypted home has a %s: %v", ChunkKeyFile, err)
	}
	h, err := keys.ReadHeader(d.home)
	must(t, err)
	dataKey, err := h.Open([]byte("a long passphrase"))
	must(t, err)
	// The label is the one homes were made with: it never changes.
	if all, checked := checkedChunks(t, d.home, keys.Derive(dataKey, "trustsync home chunk check")); all == 0 || checked != all {
		t.Errorf("%d of %d chunks verify under the derived key", checked, all)
	}
}
