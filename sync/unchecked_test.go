package sync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// uncheckedReplica is a real space that, while down is set, cannot check
// anything, as when its sandbox child cannot start: CheckReady, Import and
// ReceiveMessage fail with trustsync.ErrCheckUnavailable and apply nothing.
type uncheckedReplica struct {
	spaceReplica
	down *atomic.Bool
}

func (r uncheckedReplica) unavailable() error {
	return fmt.Errorf("%w (starting the checker: pipe2: too many open files)", trustsync.ErrCheckUnavailable)
}

func (r uncheckedReplica) CheckReady(ctx context.Context) error {
	if r.down.Load() {
		return r.unavailable()
	}
	return r.spaceReplica.CheckReady(ctx)
}

func (r uncheckedReplica) Import(ctx context.Context, doc string, data []byte, from string) (crdt.Received, error) {
	if r.down.Load() {
		return crdt.Received{}, r.unavailable()
	}
	return r.spaceReplica.Import(ctx, doc, data, from)
}

func (r uncheckedReplica) syncPeer(deviceID string) syncPeer {
	return uncheckedPeer{syncPeer: r.spaceReplica.syncPeer(deviceID), r: r}
}

type uncheckedPeer struct {
	syncPeer
	r uncheckedReplica
}

func (p uncheckedPeer) ReceiveMessage(ctx context.Context, doc string, msg []byte) (crdt.Received, error) {
	if p.r.down.Load() {
		return crdt.Received{}, p.r.unavailable()
	}
	return p.syncPeer.ReceiveMessage(ctx, doc, msg)
}

// runOnce runs one session on each end of a net.Pipe until both end (or,
// with wait, until both are synced, then stops them) and returns their
// errors.
func runOnce(t *testing.T, a, b replica, aInitiates, wait bool) (errA, errB error) {
	t.Helper()
	ca, cb := net.Pipe()
	sa := newSession(a, SessionConfig{Conn: ca, Initiator: aInitiates})
	sb := newSession(b, SessionConfig{Conn: cb, Initiator: !aInitiates})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ea, eb := make(chan error, 1), make(chan error, 1)
	go func() { ea <- sa.Run(ctx) }()
	go func() { eb <- sb.Run(ctx) }()
	if wait {
		if err := sa.WaitSynced(ctx); err != nil {
			t.Fatalf("A: WaitSynced: %v", err)
		}
		if err := sb.WaitSynced(ctx); err != nil {
			t.Fatalf("B: WaitSynced: %v", err)
		}
		cancel()
	}
	return <-ea, <-eb
}

// TestSession_CheckUnavailable: a device that cannot check what its peer
// sends takes nothing and says so. Before the hello (as initiator or as
// responder) and in the middle of a session (at the first message that
// needs a check) its session ends with an error wrapping
// ErrCheckUnavailable, which is not a protocol error: the peer is told, in
// fixed words, that this device will take its data later, not that its data
// was rejected. Nothing is applied meanwhile; once checks work again the
// next session syncs everything both wrote, the writes made during the
// outage included.
func TestSession_CheckUnavailable(t *testing.T) {
	ctx := context.Background()
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	down := &atomic.Bool{}
	ra, rb := spaceReplica{a.space}, uncheckedReplica{spaceReplica{b.space}, down}
	_, err := a.space.AddBoundary(ctx, "a1")
	must(t, err)
	_, err = b.space.AddBoundary(ctx, "b1")
	must(t, err)
	before := boundaryTexts(t, b)

	wantRefusal := func(where string, errA, errB error) {
		t.Helper()
		var re *RemoteError
		if !errors.As(errA, &re) || re.Reason != uncheckedReason {
			t.Errorf("%s: A ended with %v, want the peer's refusal %q", where, errA, uncheckedReason)
		}
		if !errors.Is(errB, trustsync.ErrCheckUnavailable) || errors.Is(errB, errRejected) || isProtocolError(errB) {
			t.Errorf("%s: B ended with %v, want ErrCheckUnavailable and no blame on A", where, errB)
		}
		if got := boundaryTexts(t, b); !slices.Equal(got, before) {
			t.Errorf("%s: B applied data it could not check: %v", where, got)
		}
	}
	down.Store(true)
	errA, errB := runOnce(t, ra, rb, true, false)
	wantRefusal("B responds", errA, errB)
	errA, errB = runOnce(t, ra, rb, false, false)
	wantRefusal("B initiates", errA, errB)

	// Mid-session: B passes its hello, then cannot check A's first message.
	down.Store(false)
	hooked := uncheckedReplica{spaceReplica{b.space}, &atomic.Bool{}}
	ca, cb := net.Pipe()
	sa := newSession(ra, SessionConfig{Conn: ca, Initiator: true})
	sb := newSession(hooked, SessionConfig{Conn: cb, hooks: sessionHooks{hello: func(Remote) { hooked.down.Store(true) }}})
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	ea, eb := make(chan error, 1), make(chan error, 1)
	go func() { ea <- sa.Run(rctx) }()
	go func() { eb <- sb.Run(rctx) }()
	errA, errB = <-ea, <-eb
	cancel()
	wantRefusal("mid-session", errA, errB)

	// During the outage both keep writing; then checks work again.
	_, err = a.space.AddBoundary(ctx, "a2 during the outage")
	must(t, err)
	_, err = b.space.AddBoundary(ctx, "b2 during the outage")
	must(t, err)
	down.Store(false)
	errA, errB = runOnce(t, ra, rb, true, true)
	for _, e := range []error{errA, errB} {
		if e != nil && !errors.Is(e, context.Canceled) {
			t.Errorf("the session after the outage ended with %v", e)
		}
	}
	want := []string{"a1", "a2 during the outage", "b1", "b2 during the outage"}
	for _, d := range []*device{a, b} {
		if got := boundaryTexts(t, d); !slices.Equal(got, want) {
			t.Errorf("after the outage: %v, want %v", got, want)
		}
	}
	sameState(t, a, b)
}
