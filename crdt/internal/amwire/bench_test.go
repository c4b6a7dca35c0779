package amwire_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
)

// checkInChange returns a typical small change: a check-in, a map of 8
// fields one of which is a 200-character text.
func checkInChange(b testing.TB) []byte {
	d := newDoc(b, actorA)
	if err := d.RootMap().Set("checkin-1", automerge.NewMap()); err != nil {
		b.Fatal(err)
	}
	v, _ := d.RootMap().Get("checkin-1")
	m := v.Map()
	err := errors.Join(
		m.Set("by", actorA), m.Set("mood", int64(4)), m.Set("energy", int64(2)), m.Set("sleep", 7.5),
		m.Set("at", time.UnixMilli(1700000000000)), m.Set("shared", true), m.Set("kind", "daily"),
		m.Set("note", automerge.NewText(strings.Repeat("Slept well, long walk. ", 9)[:200])),
	)
	if err != nil {
		b.Fatal(err)
	}
	return commit(b, d, "check-in", 1700000000000).Save()
}

// thousandChangeMessage returns a sync message carrying 1,000 changes.
func thousandChangeMessage(b testing.TB) []byte {
	a, e := newDoc(b, actorA), newDoc(b, actorB)
	for i := range 1000 {
		if err := a.RootMap().Set(fmt.Sprintf("k%d", i%10), int64(i)); err != nil {
			b.Fatal(err)
		}
		commit(b, a, "", int64(i))
	}
	for _, m := range syncMessages(b, a, e) {
		if len(m.Changes()) == 1000 {
			return m.Bytes()
		}
	}
	b.Fatal("no message carried 1,000 changes")
	return nil
}

func BenchmarkParseChange_CheckIn(b *testing.B) {
	in := checkInChange(b)
	c, err := amwire.ParseChange(in, amwire.Limits{})
	if err != nil || len(c.Ops) != 209 {
		b.Fatalf("%v", err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := amwire.ParseChange(in, amwire.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSyncMessage_1000Changes(b *testing.B) {
	in := thousandChangeMessage(b)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := amwire.ParseSyncMessage(in, amwire.Limits{})
		if err != nil || len(m.Changes) != 1000 {
			b.Fatal(err)
		}
	}
}
