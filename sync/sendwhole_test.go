package sync

import (
	"context"
	"fmt"
	"slices"
	stdsync "sync"
	"testing"

	"github.com/trustsync/trustsync/crdt"
)

// wholeReplica is a real space whose sync peers answer the first
// GenerateMessage for doc with crdt.ErrSendWhole, dropping their sync
// states as crdt.Peer does then (a message that could not carry the
// signatures of its changes), and that counts the documents it imports.
type wholeReplica struct {
	spaceReplica
	doc string

	mu      stdsync.Mutex
	forced  int
	imports map[string]int
}

type wholePeer struct {
	syncPeer
	r *wholeReplica
}

func (r *wholeReplica) syncPeer(deviceID string) syncPeer {
	return wholePeer{syncPeer: r.spaceReplica.syncPeer(deviceID), r: r}
}

func (r *wholeReplica) Import(ctx context.Context, doc string, data []byte, from string) (crdt.Received, error) {
	r.mu.Lock()
	if r.imports == nil {
		r.imports = map[string]int{}
	}
	r.imports[doc]++
	r.mu.Unlock()
	return r.spaceReplica.Import(ctx, doc, data, from)
}

func (p wholePeer) GenerateMessage(ctx context.Context, doc string) ([]byte, bool, error) {
	p.r.mu.Lock()
	force := doc == p.r.doc && p.r.forced == 0
	if force {
		p.r.forced++
	}
	p.r.mu.Unlock()
	if force {
		p.Reset()
		return nil, false, fmt.Errorf("sync %q: %w", doc, crdt.ErrSendWhole)
	}
	return p.syncPeer.GenerateMessage(ctx, doc)
}

func (r *wholeReplica) forcedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.forced
}

func (r *wholeReplica) imported(doc string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.imports[doc]
}

// A sync message that cannot carry the signatures of its changes
// (crdt.ErrSendWhole) is replaced by the whole document, in a SNAPSHOT,
// although the peer holds the document: the peer takes it in, nothing is
// refused, and both sides end up with every edit.
func TestSession_SendsWholeWhenMessageCannotBeSigned(t *testing.T) {
	ctx := context.Background()
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	_, err := a.space.AddBoundary(ctx, "shared")
	must(t, err)
	data, err := a.space.SaveSigned(ctx, "boundaries")
	must(t, err)
	_, err = b.space.Import(ctx, "boundaries", data, a.space.Self().DeviceID)
	must(t, err)
	// Offline edits on both sides.
	for i := range 3 {
		_, err := a.space.AddBoundary(ctx, fmt.Sprint("Alex offline ", i))
		must(t, err)
	}
	_, err = b.space.AddBoundary(ctx, "Sam offline")
	must(t, err)

	ra := &wholeReplica{spaceReplica: spaceReplica{a.space}, doc: "boundaries"}
	rb := &wholeReplica{spaceReplica: spaceReplica{b.space}}
	sa, sb := runSessions(t, ra, rb, SessionConfig{}, SessionConfig{})
	waitBoth(t, sa, sb)
	sameState(t, a, b)
	if n, m := ra.forcedCount(), rb.imported("boundaries"); n != 1 || m != 1 {
		t.Fatalf("A was told to send boundaries whole %d times; B imported it %d times; want 1 and 1", n, m)
	}
	want := []string{"Alex offline 0", "Alex offline 1", "Alex offline 2", "Sam offline", "shared"}
	for _, d := range []*device{a, b} {
		if got := boundaryTexts(t, d); !slices.Equal(got, want) {
			t.Fatalf("boundaries %v, want %v", got, want)
		}
	}
	if r := append(sa.Refusals(), sb.Refusals()...); len(r) != 0 {
		t.Fatalf("refusals: %v", r)
	}
}
