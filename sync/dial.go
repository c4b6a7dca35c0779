package sync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/trustsync/trustsync"
)

type dialState struct {
	next    time.Time
	backoff time.Duration
	busy    bool
}

// resetDialLocked makes a device due for dialing now, forgetting the
// backoff: called when fresh addresses arrive.
func (n *Node) resetDialLocked(id peer.ID) {
	if sw, ok := n.host.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(id)
	}
	ds := n.dialStateLocked(id)
	ds.backoff = 0
	ds.next = time.Time{}
}

func (n *Node) dialStateLocked(id peer.ID) *dialState {
	ds := n.dial[id]
	if ds == nil {
		ds = &dialState{}
		n.dial[id] = ds
	}
	return ds
}

// poke makes a device due for a dial attempt after delay at the latest.
func (n *Node) poke(id peer.ID, delay time.Duration) {
	n.mu.Lock()
	if n.trusted[id] {
		ds := n.dialStateLocked(id)
		at := time.Now().Add(delay)
		if ds.next.IsZero() || ds.next.After(at) {
			ds.next = at
		}
	}
	n.mu.Unlock()
	n.signal(n.wake)
}

func (n *Node) signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// dialLoop keeps a session with every trusted device it can reach, dialing
// each with jittered exponential backoff.
func (n *Node) dialLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-n.wake:
		}
		now := time.Now()
		next := now.Add(time.Minute)
		n.mu.Lock()
		for id := range n.trusted {
			ds := n.dialStateLocked(id)
			if n.sessions[id] != nil || ds.busy {
				continue
			}
			if ds.next.After(now) {
				next = minTime(next, ds.next)
				continue
			}
			ds.busy = true
			id := id
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				n.dialOnce(ctx, id)
			}()
		}
		n.mu.Unlock()
		timer.Reset(time.Until(next))
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (n *Node) dialOnce(ctx context.Context, id peer.ID) {
	ctx2, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
	err := n.connect(ctx2, id)
	cancel()
	n.mu.Lock()
	defer n.mu.Unlock()
	ds := n.dialStateLocked(id)
	ds.busy = false
	if err == nil {
		ds.backoff = 0
		ds.next = time.Time{} // due again when the session ends
		return
	}
	if ctx.Err() != nil {
		return
	}
	if ds.backoff == 0 {
		ds.backoff = n.cfg.RedialMin
	} else {
		ds.backoff = min(2*ds.backoff, n.cfg.RedialMax)
	}
	// Full jitter in [backoff/2, backoff).
	wait := ds.backoff/2 + time.Duration(rand.Int64N(int64(ds.backoff/2)+1))
	ds.next = time.Now().Add(wait)
	n.log.Debug("dial failed", "peer", id, "retry in", wait, "err", err)
	n.signalLocked()
}

func (n *Node) signalLocked() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Connect dials a trusted peer (its addresses are added to the peerstore)
// and returns once a session with it passed the hello exchange. The peer
// must be a device of the space or one of [Config.Peers].
func (n *Node) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if err := n.running("connect " + ai.ID.String()); err != nil {
		return err
	}
	if !n.isTrusted(ai.ID) {
		return fmt.Errorf("connect %s: %w: not a paired device", ai.ID, ErrUnknownDevice)
	}
	if len(ai.Addrs) > 0 {
		n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
		n.mu.Lock()
		n.resetDialLocked(ai.ID)
		n.mu.Unlock()
	}
	return n.connect(ctx, ai.ID)
}

// errEndedBeforeHello: the session connect waited on ended before its
// hello, and this device is the one to open the next stream.
var errEndedBeforeHello = errors.New("the session ended before its hello")

// connect makes sure a session with id runs and passed its hello. The peer
// with the lower ID opens the stream; the other waits for it. When the
// session the lower one waits on ends before its hello (its connection
// closed: a duplicate of two simultaneous dials, a pairing connection, a
// relay's limit), it dials and opens a stream again, until ctx ends.
func (n *Node) connect(ctx context.Context, id peer.ID) error {
	for {
		err := n.connectOnce(ctx, id)
		if !errors.Is(err, errEndedBeforeHello) {
			return err
		}
		select {
		case <-time.After(n.cfg.RedialMin):
		case <-ctx.Done():
			return fmt.Errorf("session with %s: %w: %w", id, ErrOffline, ctx.Err())
		}
	}
}

func (n *Node) connectOnce(ctx context.Context, id peer.ID) error {
	if n.ctx.Err() != nil {
		return trustsync.ErrClosed
	}
	if !n.isOnline(id) {
		// A connection through a relay is limited: the sync protocol may
		// use it (relay.go moves the session to a direct one when one
		// appears).
		lctx := network.WithAllowLimitedConn(ctx, "sync")
		if err := n.host.Connect(lctx, peer.AddrInfo{ID: id}); err != nil {
			return fmt.Errorf("dial %s: %w", id, &UnreachableError{Err: err})
		}
		if (n.host.ID() < id || n.reopens(id)) && n.session(id) == nil {
			st, err := n.host.NewStream(network.WithNoDial(lctx, "connected"), id, ProtocolID)
			if err != nil {
				return fmt.Errorf("open sync stream to %s (is this device still paired there?): %w", id, err)
			}
			if !n.spawn(func(ctx context.Context) { n.runSession(ctx, st, true) }) {
				st.Reset()
				return trustsync.ErrClosed
			}
		}
	}
	return n.waitOnline(ctx, id)
}

// isOnline reports whether a session with id runs and passed its hello.
func (n *Node) isOnline(id peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	ns := n.sessions[id]
	return ns != nil && ns.online
}

// waitOnline waits until a session with id passed its hello, or the session
// it saw ended with an error.
func (n *Node) waitOnline(ctx context.Context, id peer.ID) error {
	var seen *nodeSession
	for {
		n.mu.Lock()
		ns, ch := n.sessions[id], n.changed
		lastErr := n.lastErr[id]
		online := ns != nil && ns.online
		n.mu.Unlock()
		if online {
			return nil
		}
		if ns != nil {
			seen = ns
		} else if seen != nil && (refused(lastErr) || errors.Is(lastErr, trustsync.ErrCheckUnavailable)) {
			// A refusal will not change by waiting; a broken stream (or
			// one replaced by a newer stream) may be followed by another.
			if re := n.refusal(id, seen.s.Remote(), lastErr); re != nil {
				return fmt.Errorf("session with %s: %w", id, re)
			}
			return fmt.Errorf("session with %s: %w", id, lastErr)
		} else if seen != nil && n.host.ID() < id {
			// The session this device waited on ended before its hello
			// (its connection closed: a pairing connection, a relay's
			// limit): this side opens the next stream, so dial again
			// rather than wait for one.
			return errEndedBeforeHello
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
			}
			return fmt.Errorf("waiting for a session with %s: %w", id, ctx.Err())
		case <-n.ctx.Done():
			return trustsync.ErrClosed
		}
	}
}

type mdnsNotifee struct{ n *Node }

// HandlePeerFound takes a LAN announcement as an address hint for a device
// that is already trusted; strangers are ignored.
func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	n := m.n
	if ai.ID == n.host.ID() || !n.isTrusted(ai.ID) {
		return
	}
	n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.RecentlyConnectedAddrTTL)
	n.mu.Lock()
	if n.sessions[ai.ID] == nil {
		n.resetDialLocked(ai.ID)
	}
	n.mu.Unlock()
	n.signal(n.wake)
}
