package sync

import (
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
type gater struct {
	trusted func(peer.ID) bool
	admit   func(peer.ID, network.Direction) bool // nil: nobody else
}

func (g *gater) allowed(p peer.ID, dir network.Direction) bool {
	return g.trusted(p) || (g.admit != nil && g.admit(p, dir))
}

var _ connmgr.ConnectionGater = (*gater)(nil)

func (g *gater) InterceptPeerDial(p peer.ID) bool { return g.allowed(p, network.DirOutbound) }
func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool {
	return g.allowed(p, network.DirOutbound)
}
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }
func (g *gater) InterceptSecured(dir network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.allowed(p, dir)
}
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
