package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	stdsync "sync"
	"testing"
	"time"

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

// sharedBoundaries returns Alex's and Sam's devices, paired, both holding
// the boundaries document with one boundary, "shared", made by Alex.
func sharedBoundaries(t *testing.T) (a, b *device) {
	ctx := context.Background()
	a, b = newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	_, err := a.space.AddBoundary(ctx, "shared")
	must(t, err)
	data, err := a.space.SaveSigned(ctx, "boundaries")
	must(t, err)
	_, err = b.space.Import(ctx, "boundaries", data, a.space.Self().DeviceID)
	must(t, err)
	return a, b
}

// A sync message that cannot carry the signatures of its changes
// (crdt.ErrSendWhole) is replaced by the whole document, in a SNAPSHOT,
// although the peer holds the document: the peer takes it in, nothing is
// refused, and both sides end up with every edit.
func TestSession_SendsWholeWhenMessageCannotBeSigned(t *testing.T) {
	ctx := context.Background()
	a, b := sharedBoundaries(t)
	// Offline edits on both sides.
	for i := range 3 {
		_, err := a.space.AddBoundary(ctx, fmt.Sprint("Alex offline ", i))
		must(t, err)
	}
	_, err := b.space.AddBoundary(ctx, "Sam offline")
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

// tallyReplica is a real space that counts, per document, the documents
// it imports, the sync messages its peers generate, and the times a peer
// answered that the whole document is smaller (crdt.ErrWholeSmaller).
type tallyReplica struct {
	spaceReplica

	mu      stdsync.Mutex
	imports map[string]int
	msgs    map[string]int
	smaller map[string]int
}

type tallyPeer struct {
	syncPeer
	r *tallyReplica
}

func newTallyReplica(s *crdt.Space) *tallyReplica {
	return &tallyReplica{spaceReplica: spaceReplica{s}, imports: map[string]int{}, msgs: map[string]int{}, smaller: map[string]int{}}
}

func (r *tallyReplica) syncPeer(deviceID string) syncPeer {
	return tallyPeer{syncPeer: r.spaceReplica.syncPeer(deviceID), r: r}
}

func (r *tallyReplica) Import(ctx context.Context, doc string, data []byte, from string) (crdt.Received, error) {
	r.mu.Lock()
	r.imports[doc]++
	r.mu.Unlock()
	return r.spaceReplica.Import(ctx, doc, data, from)
}

func (p tallyPeer) GenerateMessage(ctx context.Context, doc string) ([]byte, bool, error) {
	msg, ok, err := p.syncPeer.GenerateMessage(ctx, doc)
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	if errors.Is(err, crdt.ErrWholeSmaller) {
		p.r.smaller[doc]++
	}
	if ok {
		p.r.msgs[doc]++
	}
	return msg, ok, err
}

// counts returns the imports, sync messages and whole-smaller answers of
// doc so far.
func (r *tallyReplica) counts(doc string) (imports, msgs, smaller int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.imports[doc], r.msgs[doc], r.smaller[doc]
}

// After many edits while apart, a device sends the boundaries document
// whole -- fewer bytes than the sync message listing its changes -- and the
// other imports it once: both end with every edit, nothing refused, in
// fewer bytes than the messages would have taken. Edits made afterwards,
// on either side, travel as ordinary sync messages.
func TestSession_SendsWholeWhenSmaller(t *testing.T) {
	for _, tc := range []struct {
		name        string
		alex, sam   int // offline edits on each side
		wantSmaller [2]int
	}{
		{"both sides", 400, 400, [2]int{1, 1}},
		{"one side", 400, 0, [2]int{1, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testSendsWholeWhenSmaller(t, tc.alex, tc.sam, tc.wantSmaller)
		})
	}
}

func testSendsWholeWhenSmaller(t *testing.T, alex, sam int, wantSmaller [2]int) {
	ctx := context.Background()
	a, b := sharedBoundaries(t)
	want := []string{"shared"}
	saved := 0
	for _, x := range []struct {
		d     *device
		edits int
	}{{a, alex}, {b, sam}} {
		for i := range x.edits {
			text := fmt.Sprintf("%s offline %d", x.d.space.Self().MemberName, i)
			_, err := x.d.space.AddBoundary(ctx, text)
			must(t, err)
			want = append(want, text)
		}
		if x.edits > 0 {
			data, err := x.d.space.SaveSigned(ctx, "boundaries")
			must(t, err)
			saved += len(data)
		}
	}
	slices.Sort(want)

	ra, rb := newTallyReplica(a.space), newTallyReplica(b.space)
	sa, sb := runSessions(t, ra, rb, SessionConfig{}, SessionConfig{})
	waitBoth(t, sa, sb)
	sameState(t, a, b)
	for _, d := range []*device{a, b} {
		if got := boundaryTexts(t, d); !slices.Equal(got, want) {
			t.Fatalf("%s holds %d boundaries, want %d", d.space.Self().MemberName, len(got), len(want))
		}
	}
	if r := append(sa.Refusals(), sb.Refusals()...); len(r) != 0 {
		t.Fatalf("refusals: %v", r)
	}
	for i, x := range []struct {
		name string
		from *tallyReplica
		to   *tallyReplica
	}{{"Alex", ra, rb}, {"Sam", rb, ra}} {
		_, _, smaller := x.from.counts("boundaries")
		imports, _, _ := x.to.counts("boundaries")
		if smaller != wantSmaller[i] || imports != wantSmaller[i] {
			t.Errorf("%s found the whole document smaller %d times and its peer imported it %d times; want %d and %d",
				x.name, smaller, imports, wantSmaller[i], wantSmaller[i])
		}
	}
	// Each side's document whole, and a little more: the sync messages
	// listing the changes take more than twice as much. A side that
	// imported the other's document before it knew what the other lacks
	// sends both sides' edits whole, about 1.6 times as much.
	moved := sa.Stats().BytesOut + sb.Stats().BytesOut
	if limit := int64(saved) * 15 / 8; moved > limit {
		t.Errorf("the sync moved %d bytes; the documents sent whole are %d bytes; want at most %d", moved, saved, limit)
	}

	// Live edits afterwards, either way, are ordinary sync messages.
	for _, x := range []struct {
		name     string
		from, to *device
		r        *tallyReplica
		peer     *tallyReplica
	}{{"Alex", a, b, ra, rb}, {"Sam", b, a, rb, ra}} {
		_, msgsBefore, smallerBefore := x.r.counts("boundaries")
		importsBefore, _, _ := x.peer.counts("boundaries")
		text := "live from " + x.name
		_, err := x.from.space.AddBoundary(ctx, text)
		must(t, err)
		deadline := time.Now().Add(time.Minute)
		for !slices.Contains(boundaryTexts(t, x.to), text) {
			if time.Now().After(deadline) {
				t.Fatalf("%s's live edit did not arrive", x.name)
			}
			time.Sleep(10 * time.Millisecond)
		}
		waitBoth(t, sa, sb)
		_, msgs, smaller := x.r.counts("boundaries")
		imports, _, _ := x.peer.counts("boundaries")
		if smaller != smallerBefore || imports != importsBefore || msgs == msgsBefore {
			t.Fatalf("%s's live edit: %d more whole-document answers, %d more imports, %d more sync messages; want 0, 0 and some",
				x.name, smaller-smallerBefore, imports-importsBefore, msgs-msgsBefore)
		}
	}
	sameState(t, a, b)
}
