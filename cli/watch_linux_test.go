package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatchStoreSignalsWALWrites: a write to the store's -wal file signals
// the watch; a write to another file of the directory does not.
func TestWatchStoreSignalsWALWrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trustsync.db")
	ctx, cancel := context.WithCancel(context.Background())
	w := watchStore(path)
	ch := w(ctx)
	if ch == nil {
		t.Fatal("no inotify watch on Linux")
	}
	if err := os.WriteFile(filepath.Join(dir, "other.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+"-wal", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no signal after writing the -wal file")
	}
	// Drain what the -wal writes (create, modify, close) signalled, then
	// check that other files stay silent.
	for drained := false; !drained; {
		select {
		case <-ch:
		case <-time.After(200 * time.Millisecond):
			drained = true
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "other.txt"), []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("signalled for a file that is not the store")
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	for range ch {
	}
}
