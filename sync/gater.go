package sync

import (
	"context"
	stdsync "sync"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gater admits only trusted peers: the space's current devices and the
// peers the caller configured. A stranger's connection is dropped as soon as
// the secure handshake names it, before any stream opens. Note that a
// refused dialer's Connect still returns nil; only its streams fail, which
// is why a peer counts as online only after the hello exchange.
//
// While pairing runs, admit lets further peers in (see pairState.admit);
// they get no stream but pairing's.
//
// The relays in use (relay) are let in too, for the relay protocol: they
// get no stream of ours either. With AutoNAT v2 on, probe may let in an
// unknown peer's connection that AutoNAT's dial-back makes (see
// [Node.admitProbe]).
type gater struct {
	trusted func(peer.ID) bool
	admit   func(peer.ID, network.Direction) bool // nil: nobody else
	relay   func(peer.ID) bool                    // nil: no relay
	probe   func(ma.Multiaddr) bool               // nil: no AutoNAT dial-back
}

func (g *gater) allowed(p peer.ID, dir network.Direction) bool {
	return g.trusted(p) || (g.admit != nil && g.admit(p, dir)) || (g.relay != nil && g.relay(p))
}

var _ connmgr.ConnectionGater = (*gater)(nil)

func (g *gater) InterceptPeerDial(p peer.ID) bool { return g.allowed(p, network.DirOutbound) }
func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool {
	return g.allowed(p, network.DirOutbound)
}
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }
func (g *gater) InterceptSecured(dir network.Direction, p peer.ID, cm network.ConnMultiaddrs) bool {
	return g.allowed(p, dir) || (dir == network.DirInbound && g.probe != nil && g.probe(cm.RemoteMultiaddr()))
}
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// pairState is the part of a [Node] that pairing and unpairing use. Its
// mutex is never held while taking the node's.
type pairState struct {
	mu       stdsync.Mutex
	invites  map[*Invitation]struct{}
	joining  map[peer.ID]int  // inviting devices this node is joining
	changed  chan struct{}    // closed and replaced when joining changes
	farewell map[peer.ID]int  // removed devices this node is telling
	revoked  map[peer.ID]bool // unpaired while this node ran
}

func (ps *pairState) init() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.invites == nil {
		ps.invites = map[*Invitation]struct{}{}
		ps.joining = map[peer.ID]int{}
		ps.farewell = map[peer.ID]int{}
		ps.revoked = map[peer.ID]bool{}
	}
}

// admit tells the connection gater whether to let a peer that is not a
// trusted device connect: anyone inbound while an invitation is open (the
// joining device's peer ID is not known before), the inviting device while
// this node joins it, and a removed device outbound while this node tells
// it that it was removed. Streams other than pairing's are still refused
// to them: see [Node.handleStream].
func (ps *pairState) admit(p peer.ID, dir network.Direction) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	switch {
	case ps.joining[p] > 0:
		return true
	case ps.farewell[p] > 0 && dir == network.DirOutbound:
		return true
	case len(ps.invites) > 0 && dir == network.DirInbound:
		return true
	}
	return false
}

// isJoining reports whether this node is joining p's space. The inviting
// device trusts this one, and may open its sync stream, as soon as it has
// stored its side of the pairing, a moment before this device has stored
// its own: [Node.handleStream] holds such a stream until the join is over
// (see waitJoined) instead of refusing it.
func (ps *pairState) isJoining(p peer.ID) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.joining[p] > 0
}

// waitJoined waits until this node is no longer joining p's space (the
// join stored the pairing, or failed) or ctx ends, and reports whether the
// join is over.
func (ps *pairState) waitJoined(ctx context.Context, p peer.ID) bool {
	for {
		ps.mu.Lock()
		joining, ch := ps.joining[p] > 0, ps.changed
		if ch == nil {
			ps.changed = make(chan struct{})
			ch = ps.changed
		}
		ps.mu.Unlock()
		if !joining {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (ps *pairState) isRevoked(p peer.ID) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.revoked[p]
}

func (ps *pairState) count(m map[peer.ID]int, p peer.ID, d int) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	m[p] += d
	if m[p] <= 0 {
		delete(m, p)
	}
	if ps.changed != nil {
		close(ps.changed)
		ps.changed = nil
	}
}
