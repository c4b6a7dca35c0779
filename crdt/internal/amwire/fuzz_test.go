package amwire_test

import (
	"reflect"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
)

// fuzzLimits are small enough that the fuzzer reaches them.
var fuzzLimits = amwire.Limits{MaxOps: 5000, MaxDecompressed: 1 << 20, MaxChanges: 100, MaxActors: 16, MaxValueBytes: 4096}

// checkChange checks what any successfully parsed change must satisfy.
func checkChange(t *testing.T, c *amwire.Change) {
	if len(c.Actors) == 0 || len(c.Actors) > fuzzLimits.MaxActors || len(c.Ops) > fuzzLimits.MaxOps {
		t.Fatalf("%d actors, %d ops", len(c.Actors), len(c.Ops))
	}
	for i, op := range c.Ops {
		ids := append([]amwire.OpID{op.ID, op.Obj, op.Elem}, op.Pred...)
		for _, id := range ids {
			if id.Actor < 0 || id.Actor >= len(c.Actors) {
				t.Fatalf("op %d refers to actor %d of %d", i, id.Actor, len(c.Actors))
			}
		}
		if op.Action > amwire.Mark || len(op.Value.Str) > fuzzLimits.MaxValueBytes || len(op.Key) > fuzzLimits.MaxValueBytes {
			t.Fatalf("op %d: %s", i, describe(c, op))
		}
		if op.IsKey && (op.Elem != amwire.OpID{}) {
			t.Fatalf("op %d has both a key and an element", i)
		}
	}
}

// bodyOf returns the body of a chunk.
func bodyOf(b []byte) []byte {
	r := 9
	for b[r]&0x80 != 0 {
		r++
	}
	return b[r+1:]
}

// FuzzParseChange parses the input as a change chunk and, framed with a
// correct header and checksum, as a change body, so that the fuzzer gets
// past the checksum into the columns.
func FuzzParseChange(f *testing.F) {
	small, long, deflated := sampleChanges(f)
	for _, b := range [][]byte{small, long, deflated, change{cols: setKeys("k", "v")}.chunk()} {
		f.Add(b)
		f.Add(bodyOf(b))
	}
	d := newDoc(f, actorA)
	l := automerge.NewList()
	if err := d.RootMap().Set("l", l); err != nil {
		f.Fatal(err)
	}
	v, _ := d.RootMap().Get("l")
	if err := v.List().Append("a", int64(1), 2.5, true, []byte{1}); err != nil {
		f.Fatal(err)
	}
	f.Add(bodyOf(commit(f, d, "list", 1).Save()))
	if err := v.List().Delete(1); err != nil {
		f.Fatal(err)
	}
	f.Add(bodyOf(commit(f, d, "del", 2).Save()))

	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, chunk(1, b)} {
			c, err := amwire.ParseChange(in, fuzzLimits)
			if err != nil {
				if c != nil {
					t.Fatal("a change and an error")
				}
				continue
			}
			checkChange(t, c)
			cs, err := amwire.ParseChanges(in, fuzzLimits)
			if err != nil || len(cs) != 1 || !reflect.DeepEqual(cs[0], c) {
				t.Fatalf("ParseChanges disagrees with ParseChange: %v", err)
			}
		}
	})
}

// FuzzParseSyncMessage parses the input as a sync message.
func FuzzParseSyncMessage(f *testing.F) {
	a, b := newDoc(f, actorA), newDoc(f, actorB)
	for i := range 3 {
		if err := a.RootMap().Set("k", int64(i)); err != nil {
			f.Fatal(err)
		}
		commit(f, a, "a", int64(i))
	}
	if err := b.RootMap().Set("b", automerge.NewText("hello")); err != nil {
		f.Fatal(err)
	}
	commit(f, b, "b", 9)
	for _, m := range syncMessages(f, a, b) {
		f.Add(m.Bytes())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := amwire.ParseSyncMessage(in, fuzzLimits)
		if err != nil {
			if m != nil {
				t.Fatal("a message and an error")
			}
			return
		}
		if len(m.Changes) > fuzzLimits.MaxChanges {
			t.Fatalf("%d changes", len(m.Changes))
		}
		for _, c := range m.Changes {
			checkChange(t, c)
		}
	})
}
