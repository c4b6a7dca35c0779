package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// TestDisk_Watch_WALWrites: a write to the store's -wal file signals the
// watch; a write to another file of the directory does not.
func TestDisk_Watch_WALWrites(t *testing.T) {
	dir := t.TempDir()
	d, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	path := d.Path()
	ctx, cancel := context.WithCancel(context.Background())
	ch := d.Watch(ctx)
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
	case <-time.After(time.Minute):
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

// TestDisk_Watch_VisibleCommits: each commit to the store by another
// handle signals the watch, and by the time it does a reader of the store
// sees the commit.
func TestDisk_Watch_VisibleCommits(t *testing.T) {
	dir := t.TempDir()
	reader, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	writer, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ch := reader.Watch(ctx)
	if ch == nil {
		t.Fatal("no inotify watch on Linux")
	}
	for i := range 20 {
		// Nothing signalled before the commit is taken for it.
		for drained := false; !drained; {
			select {
			case <-ch:
			case <-time.After(50 * time.Millisecond):
				drained = true
			}
		}
		want := fmt.Sprintf("value %d", i)
		committed := make(chan error, 1)
		go func() {
			committed <- writer.Update(ctx, func(tx trustsync.Tx) error { return tx.Put("k", []byte(want)) })
		}()
		// A signal may be a late one for the previous commit (a loaded
		// machine can delay it past the drain above): what matters is that
		// a signal comes after which the reader sees this commit. A watch
		// that signalled only before the commit was visible never gets
		// there, and the deadline (a hang detector) says so.
		deadline := time.After(time.Minute)
		var got []byte
		for string(got) != want {
			select {
			case <-ch:
			case <-deadline:
				t.Fatalf("commit %d: no signal after which the store reads %q (it reads %q)", i, want, got)
			}
			if err := reader.View(ctx, func(tx trustsync.ReadTx) error {
				var err error
				got, err = tx.Get("k")
				return err
			}); err != nil && !errors.Is(err, trustsync.ErrNotFound) {
				t.Fatal(err)
			}
		}
		if err := <-committed; err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	for range ch {
	}
}
