package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// impl is one Store implementation under the conformance tests.
type impl struct {
	name string
	open func(t *testing.T) trustsync.Store
}

func impls() []impl {
	return []impl{
		{"memory", func(t *testing.T) trustsync.Store {
			m := store.NewMemory()
			t.Cleanup(func() { m.Close() })
			return m
		}},
		{"disk", func(t *testing.T) trustsync.Store {
			d, err := store.Open(t.TempDir(), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		}},
		{"encrypted", openEncryptedDisk}, // encrypt_test.go
	}
}

// forEach runs test once per implementation, each on a new empty store.
func forEach(t *testing.T, test func(t *testing.T, s trustsync.Store)) {
	t.Helper()
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) { test(t, im.open(t)) })
	}
}

func update(t *testing.T, s trustsync.Store, fn func(tx trustsync.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s trustsync.Store, fn func(tx trustsync.ReadTx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func appendChunk(t *testing.T, s trustsync.Store, doc, data string) int64 {
	t.Helper()
	var seq int64
	update(t, s, func(tx trustsync.Tx) error {
		var err error
		seq, err = tx.AppendChunk(doc, []byte(data))
		return err
	})
	return seq
}

func chunks(t *testing.T, s trustsync.Store, doc string, after int64) []trustsync.Chunk {
	t.Helper()
	var cs []trustsync.Chunk
	view(t, s, func(tx trustsync.ReadTx) error {
		var err error
		cs, err = tx.Chunks(doc, after)
		return err
	})
	return cs
}

func lastSeq(t *testing.T, s trustsync.Store) int64 {
	t.Helper()
	var seq int64
	view(t, s, func(tx trustsync.ReadTx) error {
		var err error
		seq, err = tx.LastSeq()
		return err
	})
	return seq
}

// summary renders chunks as "seq:doc:data" with a "*" for snapshots.
func summary(cs []trustsync.Chunk) []string {
	out := []string{}
	for _, c := range cs {
		star := ""
		if c.Snapshot {
			star = "*"
		}
		out = append(out, fmt.Sprintf("%d:%s:%s%s", c.Seq, c.Doc, c.Data, star))
	}
	return out
}

func TestStore_AppendChunk(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		a1 := appendChunk(t, s, "boundaries", "one")
		b1 := appendChunk(t, s, "goals", "one")
		a2 := appendChunk(t, s, "boundaries", "two")
		if !(0 < a1 && a1 < b1 && b1 < a2) {
			t.Fatalf("seqs not increasing in append order across documents: %d %d %d", a1, b1, a2)
		}
		again := appendChunk(t, s, "boundaries", "one")
		if again != a1 {
			t.Errorf("appending identical bytes again returned seq %d, want the existing %d", again, a1)
		}
		if got := lastSeq(t, s); got != a2 {
			t.Errorf("LastSeq after an idempotent append = %d, want %d", got, a2)
		}
		want := []string{
			fmt.Sprintf("%d:boundaries:one", a1),
			fmt.Sprintf("%d:goals:one", b1),
			fmt.Sprintf("%d:boundaries:two", a2),
		}
		if got := summary(chunks(t, s, "", 0)); !slices.Equal(got, want) {
			t.Errorf("chunks = %v, want %v", got, want)
		}

		// Identical bytes in one transaction are stored once too.
		update(t, s, func(tx trustsync.Tx) error {
			x, err := tx.AppendChunk("checkins", []byte("same"))
			if err != nil {
				return err
			}
			y, err := tx.AppendChunk("checkins", []byte("same"))
			if err != nil {
				return err
			}
			if x != y {
				t.Errorf("same bytes twice in one Update: seqs %d and %d", x, y)
			}
			return nil
		})

		err := s.Update(context.Background(), func(tx trustsync.Tx) error {
			_, err := tx.AppendChunk("", []byte("x"))
			return err
		})
		if !errors.Is(err, trustsync.ErrInvalid) {
			t.Errorf("AppendChunk with an empty document ID: %v, want ErrInvalid", err)
		}

		// An empty chunk is stored and read back empty.
		seq := appendChunk(t, s, "empty", "")
		if cs := chunks(t, s, "empty", 0); len(cs) != 1 || cs[0].Seq != seq || len(cs[0].Data) != 0 {
			t.Errorf("empty chunk read back as %v", summary(cs))
		}
	})
}

func TestStore_Chunks(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		for _, c := range []struct{ doc, data string }{
			{"a", "a1"}, {"b", "b1"}, {"a", "a2"}, {"c", "c1"}, {"b", "b2"}, {"a", "a3"},
		} {
			appendChunk(t, s, c.doc, c.data)
		}
		tests := []struct {
			doc   string
			after int64
			want  []string
		}{
			{"", 0, []string{"1:a:a1", "2:b:b1", "3:a:a2", "4:c:c1", "5:b:b2", "6:a:a3"}},
			{"", 4, []string{"5:b:b2", "6:a:a3"}},
			{"", 6, []string{}},
			{"", -5, []string{"1:a:a1", "2:b:b1", "3:a:a2", "4:c:c1", "5:b:b2", "6:a:a3"}},
			{"a", 0, []string{"1:a:a1", "3:a:a2", "6:a:a3"}},
			{"a", 1, []string{"3:a:a2", "6:a:a3"}},
			{"a", 3, []string{"6:a:a3"}},
			{"b", 2, []string{"5:b:b2"}},
			{"c", 4, []string{}},
			{"nosuch", 0, []string{}},
		}
		for _, tt := range tests {
			got := summary(chunks(t, s, tt.doc, tt.after))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Chunks(%q, %d) = %v, want %v", tt.doc, tt.after, got, tt.want)
			}
		}

		// Changing the bytes Chunks returned does not change the store.
		cs := chunks(t, s, "a", 0)
		cs[0].Data[0] = 'X'
		if got := chunks(t, s, "a", 0)[0].Data; string(got) != "a1" {
			t.Errorf("store changed through returned bytes: %q", got)
		}
	})
}

func TestStore_AppendChunkCopiesInput(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		data := []byte("original")
		update(t, s, func(tx trustsync.Tx) error {
			_, err := tx.AppendChunk("a", data)
			return err
		})
		copy(data, "CHANGED!")
		if got := chunks(t, s, "a", 0); string(got[0].Data) != "original" {
			t.Errorf("store kept the caller's slice: read %q", got[0].Data)
		}
	})
}

func TestStore_Docs(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		docs := func() []string {
			var d []string
			view(t, s, func(tx trustsync.ReadTx) error {
				var err error
				d, err = tx.Docs()
				return err
			})
			return d
		}
		if got := docs(); len(got) != 0 {
			t.Errorf("Docs of an empty store = %v", got)
		}
		appendChunk(t, s, "space", "1")
		appendChunk(t, s, "boundaries", "1")
		appendChunk(t, s, "space", "2")
		appendChunk(t, s, "checkins/m1", "1")
		if got, want := docs(), []string{"boundaries", "checkins/m1", "space"}; !slices.Equal(got, want) {
			t.Errorf("Docs = %v, want %v", got, want)
		}
	})
}

func TestStore_Compact(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		appendChunk(t, s, "a", "a1") // 1
		appendChunk(t, s, "b", "b1") // 2
		appendChunk(t, s, "a", "a2") // 3
		appendChunk(t, s, "a", "a3") // 4
		var snap int64
		update(t, s, func(tx trustsync.Tx) error {
			var err error
			snap, err = tx.Compact("a", []byte("A12"), 3)
			return err
		})
		if snap != 5 {
			t.Errorf("Compact returned seq %d, want 5", snap)
		}
		want := []string{"2:b:b1", "4:a:a3", "5:a:A12*"}
		if got := summary(chunks(t, s, "", 0)); !slices.Equal(got, want) {
			t.Errorf("after Compact(a, through 3): %v, want %v", got, want)
		}
		// Compacting the last chunk away leaves LastSeq where it was.
		update(t, s, func(tx trustsync.Tx) error {
			_, err := tx.Compact("a", []byte("A123"), 5)
			return err
		})
		if got := summary(chunks(t, s, "a", 0)); !slices.Equal(got, []string{"6:a:A123*"}) {
			t.Errorf("after second Compact: %v", got)
		}
		update(t, s, func(tx trustsync.Tx) error {
			_, err := tx.Compact("a", []byte("A1234"), 6)
			return err
		})
		if got := lastSeq(t, s); got != 7 {
			t.Errorf("LastSeq = %d, want 7", got)
		}
		// A deleted chunk's bytes are no longer "already stored".
		if seq := appendChunk(t, s, "a", "a1"); seq != 8 {
			t.Errorf("re-appending compacted bytes: seq %d, want 8", seq)
		}
		// A snapshot identical to a newer chunk replaces that chunk.
		update(t, s, func(tx trustsync.Tx) error {
			_, err := tx.Compact("a", []byte("a1"), 7)
			return err
		})
		if got := summary(chunks(t, s, "a", 0)); !slices.Equal(got, []string{"9:a:a1*"}) {
			t.Errorf("after compacting into bytes equal to a newer chunk: %v", got)
		}
		// Appending bytes equal to a snapshot returns the snapshot.
		if seq := appendChunk(t, s, "a", "a1"); seq != 9 {
			t.Errorf("appending bytes equal to the snapshot: seq %d, want 9", seq)
		}
	})
}

func TestStore_LastSeq(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		if got := lastSeq(t, s); got != 0 {
			t.Errorf("LastSeq of an empty store = %d", got)
		}
		appendChunk(t, s, "a", "1")
		seq := appendChunk(t, s, "a", "2")
		update(t, s, func(tx trustsync.Tx) error { return tx.Quarantine(seq) })
		if got := lastSeq(t, s); got != seq {
			t.Errorf("LastSeq after the newest chunk was set aside = %d, want %d", got, seq)
		}
		if next := appendChunk(t, s, "a", "3"); next != seq+1 {
			t.Errorf("next seq after quarantine = %d, want %d (seqs are never reused)", next, seq+1)
		}
	})
}

func TestStore_Quarantine(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		appendChunk(t, s, "a", "a1")
		bad := appendChunk(t, s, "b", "b1")
		appendChunk(t, s, "a", "a2")
		update(t, s, func(tx trustsync.Tx) error { return tx.Quarantine(bad) })
		if got, want := summary(chunks(t, s, "", 0)), []string{"1:a:a1", "3:a:a2"}; !slices.Equal(got, want) {
			t.Errorf("chunks after Quarantine(%d) = %v, want %v", bad, got, want)
		}
		view(t, s, func(tx trustsync.ReadTx) error {
			docs, err := tx.Docs()
			if !slices.Equal(docs, []string{"a"}) {
				t.Errorf("Docs after quarantining b's only chunk = %v", docs)
			}
			return err
		})
		err := s.Update(context.Background(), func(tx trustsync.Tx) error { return tx.Quarantine(bad) })
		if !errors.Is(err, trustsync.ErrNotFound) {
			t.Errorf("quarantining it again: %v, want ErrNotFound", err)
		}
		// The same bytes, received again from a partner, are stored anew.
		if seq := appendChunk(t, s, "b", "b1"); seq != 4 {
			t.Errorf("re-appending quarantined bytes: seq %d, want 4", seq)
		}
		q, ok := s.(interface {
			Quarantined() ([]trustsync.Chunk, error)
		})
		if !ok {
			t.Fatalf("%T has no Quarantined method", s)
		}
		got, err := q.Quarantined()
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"2:b:b1"}; !slices.Equal(summary(got), want) {
			t.Errorf("Quarantined = %v, want %v", summary(got), want)
		}
	})
}

func TestStore_Items(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		put := []trustsync.Item{
			{Kind: "boundary", ID: "abc123", Doc: "boundaries", Data: []byte(`{"v":1}`)},
			{Kind: "boundary", ID: "abd000", Doc: "boundaries", Data: []byte(`{"v":2}`)},
			{Kind: "boundary", ID: "zzz", Doc: "boundaries", Data: []byte(`{"v":3}`)},
			{Kind: "goal", ID: "abc999", Doc: "goals", Data: []byte(`{"v":4}`)},
			{Kind: "boundary", ID: "abc123", Doc: "boundaries", Data: []byte(`{"v":5}`)}, // replaces the first
		}
		update(t, s, func(tx trustsync.Tx) error {
			for _, it := range put {
				if err := tx.PutItem(it); err != nil {
					return err
				}
			}
			return nil
		})
		view(t, s, func(tx trustsync.ReadTx) error {
			it, err := tx.Item("boundary", "abc123")
			if err != nil {
				t.Fatalf("Item: %v", err)
			}
			if it.Doc != "boundaries" || string(it.Data) != `{"v":5}` {
				t.Errorf("Item = %+v, want the replaced value", it)
			}
			for _, missing := range [][2]string{{"boundary", "nope"}, {"goal", "abc123"}, {"", ""}} {
				if _, err := tx.Item(missing[0], missing[1]); !errors.Is(err, trustsync.ErrNotFound) {
					t.Errorf("Item(%q, %q): %v, want ErrNotFound", missing[0], missing[1], err)
				}
			}
			items, err := tx.Items("boundary")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range items {
				got = append(got, it.ID+"="+string(it.Data))
			}
			slices.Sort(got)
			if want := []string{`abc123={"v":5}`, `abd000={"v":2}`, `zzz={"v":3}`}; !slices.Equal(got, want) {
				t.Errorf("Items(boundary) = %v, want %v", got, want)
			}
			if items, _ := tx.Items("checkin"); len(items) != 0 {
				t.Errorf("Items of a kind never stored = %v", items)
			}

			for _, tt := range []struct {
				kind, prefix string
				want         []string
			}{
				{"boundary", "", []string{"abc123", "abd000", "zzz"}},
				{"boundary", "ab", []string{"abc123", "abd000"}},
				{"boundary", "abc", []string{"abc123"}},
				{"boundary", "abc123", []string{"abc123"}},
				{"boundary", "abc1234", nil},
				{"boundary", "y", nil},
				{"boundary", "z", []string{"zzz"}},
				{"goal", "abc", []string{"abc999"}},
				{"checkin", "", nil},
			} {
				got, err := tx.ItemIDs(tt.kind, tt.prefix)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("ItemIDs(%q, %q) = %v, want %v", tt.kind, tt.prefix, got, tt.want)
				}
			}
			return nil
		})
	})
}

func TestStore_DeleteItem(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		update(t, s, func(tx trustsync.Tx) error {
			for _, id := range []string{"m1", "m2"} {
				if err := tx.PutItem(trustsync.Item{Kind: "member", ID: id, Doc: "space", Data: []byte(`{}`)}); err != nil {
					return err
				}
			}
			return tx.PutItem(trustsync.Item{Kind: "device", ID: "m1", Doc: "space", Data: []byte(`{}`)})
		})
		update(t, s, func(tx trustsync.Tx) error {
			if err := tx.DeleteItem("member", "m1"); err != nil {
				return err
			}
			return tx.DeleteItem("member", "never-stored") // no error
		})
		view(t, s, func(tx trustsync.ReadTx) error {
			if _, err := tx.Item("member", "m1"); !errors.Is(err, trustsync.ErrNotFound) {
				t.Errorf("deleted item: %v, want ErrNotFound", err)
			}
			if ids, _ := tx.ItemIDs("member", ""); !slices.Equal(ids, []string{"m2"}) {
				t.Errorf("members left %v, want [m2]", ids)
			}
			if _, err := tx.Item("device", "m1"); err != nil {
				t.Errorf("an item of another kind with the same ID: %v", err)
			}
			return nil
		})
		// A delete in a transaction that fails is not applied.
		boom := errors.New("boom")
		if err := s.Update(context.Background(), func(tx trustsync.Tx) error {
			if err := tx.DeleteItem("member", "m2"); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("Update: %v", err)
		}
		view(t, s, func(tx trustsync.ReadTx) error {
			if _, err := tx.Item("member", "m2"); err != nil {
				t.Errorf("a delete rolled back took effect: %v", err)
			}
			return nil
		})
	})
}

func TestStore_ItemIDsBytePrefixes(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		ids := []string{"a\xff", "a\xff\xff", "a\xffb", "b", "\xff", "\xff\x00", "é1", "é2", "e"}
		update(t, s, func(tx trustsync.Tx) error {
			for _, id := range ids {
				if err := tx.PutItem(trustsync.Item{Kind: "k", ID: id, Doc: "d", Data: []byte("{}")}); err != nil {
					return err
				}
			}
			return nil
		})
		view(t, s, func(tx trustsync.ReadTx) error {
			for _, tt := range []struct {
				prefix string
				want   []string
			}{
				{"a\xff", []string{"a\xff", "a\xffb", "a\xff\xff"}},
				{"a\xff\xff", []string{"a\xff\xff"}},
				{"\xff", []string{"\xff", "\xff\x00"}},
				{"é", []string{"é1", "é2"}},
				{"e", []string{"e"}},
			} {
				got, err := tx.ItemIDs("k", tt.prefix)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("ItemIDs(%q) = %q, want %q", tt.prefix, got, tt.want)
				}
			}
			return nil
		})
	})
}

func TestStore_History(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		at := func(ms int64) time.Time { return time.UnixMilli(1_800_000_000_000 + ms) }
		entry := func(hash string, ms int64) trustsync.HistoryEntry {
			return trustsync.HistoryEntry{Hash: hash, Doc: "boundaries", Actor: "dev-" + hash, At: at(ms), Message: "msg " + hash}
		}
		update(t, s, func(tx trustsync.Tx) error {
			return tx.AddHistory(entry("h1", 10), entry("h2", 30), entry("h3", 20))
		})
		update(t, s, func(tx trustsync.Tx) error {
			// h2 again (with other fields) is skipped; h4 and h5 tie with h3
			// and h2 on At and are newer by insertion.
			dup := entry("h2", 999)
			dup.Message = "changed"
			return tx.AddHistory(dup, entry("h4", 20), entry("h5", 30), entry("h4", 40))
		})
		hashes := func(es []trustsync.HistoryEntry) []string {
			out := []string{}
			for _, e := range es {
				out = append(out, e.Hash)
			}
			return out
		}
		all := []string{"h5", "h2", "h4", "h3", "h1"}
		for _, tt := range []struct {
			offset, limit int
			want          []string
		}{
			{0, 0, all},
			{0, -1, all},
			{0, 2, []string{"h5", "h2"}},
			{2, 2, []string{"h4", "h3"}},
			{4, 10, []string{"h1"}},
			{5, 0, []string{}},
			{99, 1, []string{}},
			{-3, 1, []string{"h5"}},
		} {
			view(t, s, func(tx trustsync.ReadTx) error {
				got, err := tx.History(tt.offset, tt.limit)
				if !slices.Equal(hashes(got), tt.want) {
					t.Errorf("History(%d, %d) = %v, want %v", tt.offset, tt.limit, hashes(got), tt.want)
				}
				return err
			})
		}
		view(t, s, func(tx trustsync.ReadTx) error {
			got, err := tx.History(1, 1)
			if err != nil {
				return err
			}
			want := entry("h2", 30)
			if len(got) != 1 || got[0].Hash != want.Hash || got[0].Doc != want.Doc || got[0].Actor != want.Actor ||
				got[0].Message != want.Message || !got[0].At.Equal(want.At) {
				t.Errorf("History entry = %+v, want %+v (the first one recorded)", got, want)
			}
			return nil
		})
	})
}

func TestStore_Meta(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		get := func(key string) ([]byte, error) {
			var v []byte
			err := s.View(context.Background(), func(tx trustsync.ReadTx) error {
				var err error
				v, err = tx.Get(key)
				return err
			})
			return v, err
		}
		if _, err := get("space-id"); !errors.Is(err, trustsync.ErrNotFound) {
			t.Errorf("Get of a missing key: %v, want ErrNotFound", err)
		}
		update(t, s, func(tx trustsync.Tx) error {
			if err := tx.Put("space-id", []byte("s1")); err != nil {
				return err
			}
			if err := tx.Put("empty", nil); err != nil {
				return err
			}
			return tx.Put("space-id", []byte("s2"))
		})
		if v, err := get("space-id"); err != nil || string(v) != "s2" {
			t.Errorf("Get(space-id) = %q, %v; want s2", v, err)
		}
		if v, err := get("empty"); err != nil || len(v) != 0 {
			t.Errorf("Get(empty) = %q, %v; want an empty value", v, err)
		}
		update(t, s, func(tx trustsync.Tx) error {
			if err := tx.Delete("space-id"); err != nil {
				return err
			}
			return tx.Delete("never-set")
		})
		if _, err := get("space-id"); !errors.Is(err, trustsync.ErrNotFound) {
			t.Errorf("Get after Delete: %v, want ErrNotFound", err)
		}
	})
}

func TestStore_UpdateRollback(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		appendChunk(t, s, "a", "kept")
		update(t, s, func(tx trustsync.Tx) error { return tx.Put("k", []byte("kept")) })
		before := snapshot(t, s)

		failure := errors.New("the change could not be applied")
		err := s.Update(context.Background(), func(tx trustsync.Tx) error {
			steps := []error{
				tx.Quarantine(1),
				func() error { _, err := tx.AppendChunk("a", []byte("lost")); return err }(),
				func() error { _, err := tx.AppendChunk("new", []byte("lost")); return err }(),
				func() error { _, err := tx.Compact("a", []byte("lost snapshot"), 2); return err }(),
				tx.PutItem(trustsync.Item{Kind: "goal", ID: "g1", Doc: "goals", Data: []byte("{}")}),
				tx.AddHistory(trustsync.HistoryEntry{Hash: "h1", Doc: "goals", At: time.Now()}),
				tx.Put("k", []byte("lost")),
				tx.Delete("k"),
			}
			if err := errors.Join(steps...); err != nil {
				t.Errorf("writes inside the failing Update: %v", err)
			}
			return failure
		})
		if err != failure {
			t.Errorf("Update returned %v, want fn's own error unchanged", err)
		}
		if after := snapshot(t, s); after != before {
			t.Errorf("a failed Update left changes behind:\nbefore: %s\nafter:  %s", before, after)
		}
		// The store still works and seqs continue.
		if seq := appendChunk(t, s, "a", "next"); seq < 2 {
			t.Errorf("append after a rollback: seq %d", seq)
		}
	})
}

func TestStore_UpdatePanics(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		before := snapshot(t, s)
		func() {
			defer func() {
				if recover() == nil {
					t.Error("the panic in fn was swallowed")
				}
			}()
			s.Update(context.Background(), func(tx trustsync.Tx) error {
				tx.AppendChunk("a", []byte("lost"))
				panic("boom")
			})
		}()
		if after := snapshot(t, s); after != before {
			t.Errorf("a panicking Update left changes behind: %s", after)
		}
		appendChunk(t, s, "a", "the store still works")
	})
}

// snapshot renders everything a ReadTx can see.
func snapshot(t *testing.T, s trustsync.Store) string {
	t.Helper()
	var out string
	view(t, s, func(tx trustsync.ReadTx) error {
		cs, err := tx.Chunks("", 0)
		if err != nil {
			return err
		}
		last, err := tx.LastSeq()
		if err != nil {
			return err
		}
		docs, err := tx.Docs()
		if err != nil {
			return err
		}
		var items []string
		for _, kind := range []string{"goal", "boundary"} {
			its, err := tx.Items(kind)
			if err != nil {
				return err
			}
			for _, it := range its {
				items = append(items, it.Kind+"/"+it.ID+"="+string(it.Data))
			}
		}
		slices.Sort(items)
		hist, err := tx.History(0, 0)
		if err != nil {
			return err
		}
		k, err := tx.Get("k")
		if err != nil && !errors.Is(err, trustsync.ErrNotFound) {
			return err
		}
		out = fmt.Sprintf("chunks=%v last=%d docs=%v items=%v history=%d k=%q", summary(cs), last, docs, items, len(hist), k)
		return nil
	})
	return out
}

func TestStore_ViewConsistency(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		appendChunk(t, s, "a", "a1")
		update(t, s, func(tx trustsync.Tx) error { return tx.Put("k", []byte("old")) })
		before := snapshot(t, s)
		var during string
		view(t, s, func(tx trustsync.ReadTx) error {
			first, err := tx.LastSeq()
			if err != nil {
				return err
			}
			// Another writer commits while this View is open.
			done := make(chan error)
			go func() {
				done <- s.Update(context.Background(), func(w trustsync.Tx) error {
					if _, err := w.AppendChunk("a", []byte("a2")); err != nil {
						return err
					}
					return w.Put("k", []byte("new"))
				})
			}()
			if err := <-done; err != nil {
				t.Fatalf("concurrent Update: %v", err)
			}
			second, err := tx.LastSeq()
			if err != nil {
				return err
			}
			if first != second {
				t.Errorf("LastSeq changed inside one View: %d then %d", first, second)
			}
			v, err := tx.Get("k")
			if err != nil {
				return err
			}
			cs, err := tx.Chunks("", 0)
			if err != nil {
				return err
			}
			during = fmt.Sprintf("%s %v", v, summary(cs))
			return nil
		})
		if want := "old [1:a:a1]"; during != want {
			t.Errorf("inside the View after a concurrent commit: %s, want %s", during, want)
		}
		if after := snapshot(t, s); after == before {
			t.Errorf("a View started after the commit does not see it: %s", after)
		}
	})
}

func TestStore_ConcurrentUpdates(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		const writers, each = 4, 10
		var wg sync.WaitGroup
		seqs := make(chan int64, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					err := s.Update(context.Background(), func(tx trustsync.Tx) error {
						// A read-modify-write that only an exclusive
						// Update keeps consistent.
						n := 0
						if v, err := tx.Get("count"); err == nil {
							fmt.Sscan(string(v), &n)
						}
						if err := tx.Put("count", []byte(fmt.Sprint(n+1))); err != nil {
							return err
						}
						seq, err := tx.AppendChunk(fmt.Sprintf("doc%d", w), fmt.Appendf(nil, "%d/%d", w, i))
						seqs <- seq
						return err
					})
					if err != nil {
						t.Errorf("Update: %v", err)
					}
				}
			})
		}
		wg.Wait()
		close(seqs)
		seen := map[int64]bool{}
		for seq := range seqs {
			if seen[seq] {
				t.Errorf("seq %d handed out twice", seq)
			}
			seen[seq] = true
		}
		if got := len(chunks(t, s, "", 0)); got != writers*each {
			t.Errorf("%d chunks stored, want %d", got, writers*each)
		}
		view(t, s, func(tx trustsync.ReadTx) error {
			v, err := tx.Get("count")
			if string(v) != fmt.Sprint(writers*each) {
				t.Errorf("count = %s, want %d: updates were not exclusive", v, writers*each)
			}
			return err
		})
	})
}

func TestStore_Context(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		called := false
		if err := s.Update(ctx, func(trustsync.Tx) error { called = true; return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("Update with a cancelled context: %v", err)
		}
		if err := s.View(ctx, func(trustsync.ReadTx) error { called = true; return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("View with a cancelled context: %v", err)
		}
		if called {
			t.Error("fn ran with a cancelled context")
		}
	})
}

func TestStore_Close(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		var leaked trustsync.Tx
		update(t, s, func(tx trustsync.Tx) error {
			leaked = tx
			_, err := tx.AppendChunk("a", []byte("1"))
			return err
		})
		if _, err := leaked.AppendChunk("a", []byte("2")); err == nil {
			t.Error("a Tx still wrote after its Update returned")
		}
		if _, err := leaked.LastSeq(); err == nil {
			t.Error("a Tx still read after its Update returned")
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := s.View(context.Background(), func(trustsync.ReadTx) error { return nil }); !errors.Is(err, trustsync.ErrClosed) {
			t.Errorf("View after Close: %v, want ErrClosed", err)
		}
		if err := s.Update(context.Background(), func(trustsync.Tx) error { return nil }); !errors.Is(err, trustsync.ErrClosed) {
			t.Errorf("Update after Close: %v, want ErrClosed", err)
		}
	})
}

func TestStore_ViewInsideUpdate(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		appendChunk(t, s, "a", "a1")
		update(t, s, func(tx trustsync.Tx) error {
			if _, err := tx.AppendChunk("a", []byte("a2")); err != nil {
				return err
			}
			// Another reader (a View started inside) sees only what is
			// committed.
			view(t, s, func(r trustsync.ReadTx) error {
				cs, err := r.Chunks("", 0)
				if got := summary(cs); !slices.Equal(got, []string{"1:a:a1"}) {
					t.Errorf("View inside Update sees %v, want only the committed chunk", got)
				}
				return err
			})
			// The Update itself sees its own writes.
			cs, err := tx.Chunks("", 0)
			if got := summary(cs); !slices.Equal(got, []string{"1:a:a1", "2:a:a2"}) {
				t.Errorf("Update sees %v, want its own write too", got)
			}
			return err
		})
	})
}

func TestStore_ViewIsReadOnly(t *testing.T) {
	forEach(t, func(t *testing.T, s trustsync.Store) {
		view(t, s, func(tx trustsync.ReadTx) error {
			if _, ok := tx.(trustsync.Tx); ok {
				t.Errorf("View hands out a %T that can write", tx)
			}
			return nil
		})
	})
}
