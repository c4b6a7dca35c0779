package crdt_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/testpair"
	"github.com/trustsync/trustsync/store"
)

// clock is a time source that ticks one second per reading, shared by the
// spaces of a test so that the order of their changes is known.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// newSpace creates a space for member on a fresh in-memory store.
func newSpace(t *testing.T, member, device string) (*crdt.Space, trustsync.Store) {
	return newSpaceAt(t, newClock(), member, device)
}

// newSpaceAt is newSpace with a given clock.
func newSpaceAt(t *testing.T, c *clock, member, device string) (*crdt.Space, trustsync.Store) {
	t.Helper()
	st := store.NewMemory()
	t.Cleanup(func() { st.Close() })
	s, err := crdt.Create(context.Background(), st, crdt.CreateOptions{
		Options:    crdt.Options{Now: c.now},
		MemberName: member,
		DeviceName: device,
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, st
}

// pair makes b join a's space the way pairing does (see
// internal/testpair), then syncs every document.
func pair(t *testing.T, a, b *crdt.Space) {
	t.Helper()
	testpair.Spaces(t, a, b)
	syncAll(t, a, b)
}

// newPair returns two paired spaces: Sam's laptop and Alex's phone.
func newPair(t *testing.T) (*crdt.Space, *crdt.Space) {
	c := newClock()
	a, _ := newSpaceAt(t, c, "Sam", "sam-laptop")
	b, _ := newSpaceAt(t, c, "Alex", "alex-phone")
	pair(t, a, b)
	return a, b
}

// docsOf returns the union of the documents of spaces.
func docsOf(t *testing.T, spaces ...*crdt.Space) []string {
	t.Helper()
	var all []string
	for _, s := range spaces {
		docs, err := s.Docs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, docs...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// fataler is what the helpers need of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// syncAll runs the sync protocol between a and b for every document until
// neither has anything to send.
func syncAll(t fataler, a, b *crdt.Space) {
	t.Helper()
	ctx := context.Background()
	pa := a.Peer(b.Self().DeviceID)
	pb := b.Peer(a.Self().DeviceID)
	var docs []string
	for _, s := range []*crdt.Space{a, b} {
		d, err := s.Docs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d...)
	}
	slices.Sort(docs)
	for _, doc := range spaceFirst(slices.Compact(docs)) {
		syncDoc(t, pa, pb, doc)
	}
}

// spaceFirst moves the space document to the front, as a session sends
// it: the certificates of further devices come before their changes.
func spaceFirst(docs []string) []string {
	if i := slices.Index(docs, crdt.SpaceDoc); i > 0 {
		docs = append(append([]string{crdt.SpaceDoc}, docs[:i]...), docs[i+1:]...)
	}
	return docs
}

func syncDoc(t fataler, pa, pb *crdt.Peer, doc string) {
	t.Helper()
	ctx := context.Background()
	for round := 0; ; round++ {
		if round > 50 {
			t.Fatalf("sync of %q did not settle", doc)
		}
		sent := false
		for _, dir := range [][2]*crdt.Peer{{pa, pb}, {pb, pa}} {
			msg, ok, err := dir[0].GenerateMessage(ctx, doc)
			whole := errors.Is(err, crdt.ErrSendWhole)
			if whole {
				// As a session does: the document goes whole.
				sentWhole.Add(1)
				from := crdt.SpaceOf(dir[0])
				if msg, err = from.SaveSigned(ctx, doc); err != nil {
					t.Fatalf("SaveSigned(%q): %v", doc, err)
				}
				ok = true
			}
			if err != nil {
				t.Fatalf("GenerateMessage(%q): %v", doc, err)
			}
			if !ok {
				continue
			}
			sent = true
			if whole {
				from := crdt.SpaceOf(dir[0])
				_, err = crdt.SpaceOf(dir[1]).Import(ctx, doc, msg, from.Self().DeviceID)
			} else {
				_, err = dir[1].ReceiveMessage(ctx, doc, msg)
			}
			if err != nil {
				// A change by a device whose certificate is still on its
				// way (held back by the sync protocol's Bloom filter):
				// refused, and sent again, as by a new session.
				var re *crdt.RefusedChangeError
				if errors.As(err, &re) && re.Unknown {
					pa.Reset()
					pb.Reset()
					break
				}
				t.Fatalf("ReceiveMessage(%q): %v", doc, err)
			}
		}
		if !sent {
			return
		}
	}
}

// importAll copies every document of from into to with Save and Import.
func importAll(t *testing.T, from, to *crdt.Space) {
	t.Helper()
	ctx := context.Background()
	docs, err := from.Docs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs {
		data, err := from.SaveSigned(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := to.Import(ctx, doc, data, from.Self().DeviceID); err != nil {
			t.Fatalf("Import(%q): %v", doc, err)
		}
	}
}

func mustBoundary(t *testing.T, s *crdt.Space, id string) trustsync.Boundary {
	t.Helper()
	b, err := s.Boundary(context.Background(), id)
	if err != nil {
		t.Fatalf("Boundary(%s): %v", id, err)
	}
	return b
}

func mustGoal(t *testing.T, s *crdt.Space, id string) trustsync.Goal {
	t.Helper()
	g, err := s.Goal(context.Background(), id)
	if err != nil {
		t.Fatalf("Goal(%s): %v", id, err)
	}
	return g
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want one wrapping %v", err, target)
	}
}
