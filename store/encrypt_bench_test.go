package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

// BenchmarkEncryption measures what encryption at rest costs a home of
// 200 boundaries and 300 check-ins on disk: opening the store and the
// space, listing boundaries and check-ins, and editing a boundary, each
// without and with Encrypt. The Argon2id unlock is measured apart
// (internal/keys BenchmarkHeaderOpen): a kept key skips it.
//
//	go test -run '^$' -bench Encryption -benchtime 2s ./store
func BenchmarkEncryption(b *testing.B) {
	for _, encrypted := range []bool{false, true} {
		name := "plain"
		if encrypted {
			name = "encrypted"
		}
		key := newKey(b)
		dir := b.TempDir()
		open := func(b *testing.B) (trustsync.Store, *crdt.Space) {
			ctx := context.Background()
			d, err := store.Open(dir, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			var st trustsync.Store = d
			if encrypted {
				if st, err = store.Encrypt(ctx, d, key); err != nil {
					b.Fatal(err)
				}
			}
			sp, err := crdt.Open(ctx, st, crdt.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return st, sp
		}
		// Fill the home once.
		ctx := context.Background()
		d, err := store.Open(dir, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		var st trustsync.Store = d
		if encrypted {
			if st, err = store.Encrypt(ctx, d, key); err != nil {
				b.Fatal(err)
			}
		}
		sp, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: "Alex"})
		if err != nil {
			b.Fatal(err)
		}
		var first string
		for i := range 200 {
			id, err := sp.AddBoundary(ctx, fmt.Sprintf("Boundary number %d: we say so before it happens", i))
			if err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				first = id
			}
		}
		for i := range 300 {
			if _, err := sp.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: trustsync.Mood(i%5 + 1), Note: fmt.Sprintf("Check-in %d: a week with its ups and downs", i)}); err != nil {
				b.Fatal(err)
			}
		}
		sp.Close()
		st.Close()

		b.Run("open/"+name, func(b *testing.B) {
			for b.Loop() {
				st, sp := open(b)
				sp.Close()
				st.Close()
			}
		})
		b.Run("list/"+name, func(b *testing.B) {
			st, sp := open(b)
			defer st.Close()
			defer sp.Close()
			for b.Loop() {
				bs, err := sp.Boundaries(ctx, crdt.ListOptions{})
				if err != nil || len(bs) != 200 {
					b.Fatal(len(bs), err)
				}
				cs, err := sp.CheckIns(ctx)
				if err != nil || len(cs) != 300 {
					b.Fatal(len(cs), err)
				}
			}
		})
		b.Run("edit/"+name, func(b *testing.B) {
			st, sp := open(b)
			defer st.Close()
			defer sp.Close()
			i := 0
			for b.Loop() {
				i++
				if err := sp.EditBoundary(ctx, first, fmt.Sprintf("Boundary number 0, edit %d", i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncryptedItems isolates the cost of the cipher from the disk:
// reading 500 view rows of about 200 bytes from a Memory store, without
// and with Encrypt.
//
//	go test -run '^$' -bench EncryptedItems ./store
func BenchmarkEncryptedItems(b *testing.B) {
	for _, encrypted := range []bool{false, true} {
		name := "plain"
		if encrypted {
			name = "encrypted"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			var st trustsync.Store = store.NewMemory()
			if encrypted {
				var err error
				if st, err = store.Encrypt(ctx, st, newKey(b)); err != nil {
					b.Fatal(err)
				}
			}
			defer st.Close()
			data := []byte(fmt.Sprintf(`{"text":"%0180d"}`, 0))
			err := st.Update(ctx, func(tx trustsync.Tx) error {
				for i := range 500 {
					if err := tx.PutItem(trustsync.Item{Kind: "checkin", ID: fmt.Sprintf("id%06d", i), Doc: "checkins/2026-03", Data: data}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				err := st.View(ctx, func(tx trustsync.ReadTx) error {
					items, err := tx.Items("checkin")
					if len(items) != 500 {
						b.Fatal(len(items))
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
