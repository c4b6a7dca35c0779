package sync

// A device that changes network. Its connections go dead without a word:
// the routers on the old path forget them, and QUIC and the session find
// out only after their keepalives go unanswered (30 s). libp2p itself
// reads the interfaces' addresses again only once a minute. So the node
// looks at them every [ifacePoll], and when an address of its own went
// away, it drops its connections and redials everything, the relay first
// (interfaceLoop). The partner's device still holds its session on the
// dead connection: the device that moved opens the new sync stream itself,
// whichever device usually does; a newer stream replaces the older session
// there (runSession), and when it came through a relay, the direct
// connection the old session ran on, now dead, is closed (replaced), so
// that neither libp2p nor hole punching takes it for a way to the device.

import (
	"context"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	manet "github.com/multiformats/go-multiaddr/net"
)

// ifacePoll is how often the node reads its interfaces' addresses.
const ifacePoll = 2 * time.Second

// interfaceLoop reads this device's IP addresses every ifacePoll; when one
// it had is gone (the device left a network), it drops every connection,
// renews every reservation and dials every paired device again now.
func (n *Node) interfaceLoop(ctx context.Context) {
	had := interfaceIPs()
	t := time.NewTicker(ifacePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := interfaceIPs()
		gone := slices.ContainsFunc(had, func(ip string) bool { return !slices.Contains(now, ip) })
		had = now
		if !gone {
			continue
		}
		n.leftNetwork()
		n.kickRelays()
		n.mu.Lock()
		for id := range n.trusted {
			if n.sessions[id] == nil {
				n.resetDialLocked(id)
			}
		}
		n.mu.Unlock()
		n.signal(n.wake)
	}
}

// interfaceIPs returns the IP addresses of this device's interfaces,
// loopback aside; none when they cannot be read.
func interfaceIPs() []string {
	addrs, err := manet.InterfaceMultiaddrs()
	if err != nil {
		return nil
	}
	var ips []string
	for _, a := range addrs {
		if ip, err := manet.ToIP(a); err == nil && !ip.IsLoopback() {
			ips = append(ips, ip.String())
		}
	}
	return ips
}

// leftNetwork closes every connection of the node, after an address of its
// own went away: relays and devices are dialed again from the new network
// at once (see the Disconnected notifiee), instead of when the dead
// connections time out.
func (n *Node) leftNetwork() {
	conns := n.host.Network().Conns()
	n.log.Debug("an address of this device went away: dialing again from the new network", "connections", len(conns))
	peers := n.Peers()
	n.punch.mu.Lock()
	if n.punch.reopen == nil {
		n.punch.reopen = map[peer.ID]bool{}
	}
	for _, id := range peers {
		n.punch.reopen[id] = true
	}
	n.punch.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	n.newPlace()
}

// reopens reports, once, whether this device must open the next sync
// stream to id itself because it changed network since their last
// session.
func (n *Node) reopens(id peer.ID) bool {
	n.punch.mu.Lock()
	defer n.punch.mu.Unlock()
	if !n.punch.reopen[id] {
		return false
	}
	delete(n.punch.reopen, id)
	return true
}

// newPlace forgets when devices were last dialed directly past a relay,
// since one of the two changed network: tryDirect and the hole punch may
// work from there.
func (n *Node) newPlace() {
	n.relay.mu.Lock()
	clear(n.relay.tried)
	n.relay.mu.Unlock()
}

// replaced follows a session with id replaced by one on conn: when the
// new one came through a relay while the old one ran on a direct
// connection, the device could not use that connection any more (it
// changed network), and it is closed. Other replacements are left alone:
// two direct connections are normal when both devices dialed at once, and
// a relayed old session is [Node.upgrade]'s.
func (n *Node) replaced(old *nodeSession, conn network.Conn) {
	if old.conn == nil || old.conn == conn || relayedConn(old.conn) || !relayedConn(conn) {
		return
	}
	n.log.Debug("the device came back through a relay: closing the direct connection its last session ran on", "peer", conn.RemotePeer())
	old.conn.Close()
}
