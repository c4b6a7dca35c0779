package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// BenchmarkDisk_Append measures durable writes: each Update is committed and
// fsynced before the next starts. "chunk" appends one 1 KiB chunk; "write"
// is shaped like a crdt write: a chunk, a view row and a history entry.
func BenchmarkDisk_Append(b *testing.B) {
	data := make([]byte, 1024)
	for _, bench := range []struct {
		name string
		fn   func(tx trustsync.Tx, i int) error
	}{
		{"chunk", func(tx trustsync.Tx, i int) error {
			_, err := tx.AppendChunk("boundaries", fmt.Appendf(data[:0:0], "%d%s", i, data))
			return err
		}},
		{"write", func(tx trustsync.Tx, i int) error {
			if _, err := tx.AppendChunk("boundaries", fmt.Appendf(data[:0:0], "%d%s", i, data)); err != nil {
				return err
			}
			id := fmt.Sprintf("b%08d", i)
			if err := tx.PutItem(trustsync.Item{Kind: "boundary", ID: id, Doc: "boundaries", Data: []byte(`{"text":"No phones at dinner"}`)}); err != nil {
				return err
			}
			return tx.AddHistory(trustsync.HistoryEntry{Hash: id, Doc: "boundaries", Actor: "dev", At: time.Now(), Message: "edit"})
		}},
	} {
		b.Run(bench.name, func(b *testing.B) {
			s, err := store.Open(b.TempDir(), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			i := 0
			for b.Loop() {
				if err := s.Update(ctx, func(tx trustsync.Tx) error { return bench.fn(tx, i) }); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "appends/s")
			if size, err := s.Size(); err == nil && i > 0 {
				b.ReportMetric(float64(size)/float64(i), "disk-B/append")
			}
		})
	}
}
