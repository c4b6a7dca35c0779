package store_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

func ExampleOpen() {
	home, err := os.MkdirTemp("", "trustsync-home")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(home)

	s, err := store.Open(home, store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	// One write: a document chunk and the view row it produces, together.
	err = s.Update(ctx, func(tx trustsync.Tx) error {
		if _, err := tx.AppendChunk("boundaries", []byte("automerge bytes")); err != nil {
			return err
		}
		return tx.PutItem(trustsync.Item{
			Kind: "boundary", ID: "b1", Doc: "boundaries",
			Data: []byte(`{"text":"No phones at dinner"}`),
		})
	})
	if err != nil {
		log.Fatal(err)
	}

	err = s.View(ctx, func(tx trustsync.ReadTx) error {
		it, err := tx.Item("boundary", "b1")
		if err != nil {
			return err
		}
		last, err := tx.LastSeq()
		if err != nil {
			return err
		}
		fmt.Printf("%s (last seq %d)\n", it.Data, last)
		_, err = tx.Item("boundary", "nope")
		fmt.Println(errors.Is(err, trustsync.ErrNotFound))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// {"text":"No phones at dinner"} (last seq 1)
	// true
}

func ExampleNewMemory() {
	s := store.NewMemory()
	defer s.Close()
	ctx := context.Background()

	// A failing Update leaves nothing behind.
	err := s.Update(ctx, func(tx trustsync.Tx) error {
		if err := tx.Put("space-id", []byte("s1")); err != nil {
			return err
		}
		return errors.New("something went wrong")
	})
	fmt.Println("update:", err)

	err = s.View(ctx, func(tx trustsync.ReadTx) error {
		_, err := tx.Get("space-id")
		return err
	})
	fmt.Println("read:", err)
	// Output:
	// update: something went wrong
	// read: read meta "space-id": not found
}

// Setting damaged chunks aside, as a sync restoring the document does: Chunks returns
// the intact chunks and names the damaged ones; Quarantine moves each out of
// its document.
func ExampleDamagedChunksError() {
	s := store.NewMemory()
	defer s.Close()
	ctx := context.Background()

	repaired := 0
	err := s.Update(ctx, func(tx trustsync.Tx) error {
		_, err := tx.Chunks("", 0)
		var damaged *store.DamagedChunksError
		if !errors.As(err, &damaged) {
			return err // nil when everything is intact
		}
		for _, seq := range damaged.Seqs {
			if err := tx.Quarantine(seq); err != nil {
				return err
			}
			repaired++
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("set aside %d damaged chunks\n", repaired)
	// Output:
	// set aside 0 damaged chunks
}
