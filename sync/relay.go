package sync

// Reaching devices across networks: circuit relay v2 reservations, dialing
// through relays, DCUtR hole punching and the path each device is reached
// by. docs/SYNC.md, "Relays, hole punching and paths", explains the whole.

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	stdsync "sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/trustsync/trustsync/crdt"
)

// ParseRelayAddr reads a relay's address, as `trustsync relay` prints it:
// a multiaddr that starts with /ip4, /ip6 or /dns, ends with /p2p/<the
// relay's peer ID> and goes through no other relay. The error is one line
// that says what to fix, and wraps [trustsync.ErrInvalid].
func ParseRelayAddr(s string) (peer.AddrInfo, error) {
	c, err := crdt.RelayAddr(s)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	a, err := ma.NewMultiaddr(c)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("relay address %q: %w", c, err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("relay address %q: the part after /p2p/ is not a peer ID: %w", c, err)
	}
	return *ai, nil
}

// Path is how a paired device is reached now.
type Path int

// Paths.
const (
	// PathUnreachable: no session with the device runs.
	PathUnreachable Path = iota
	// PathDirect: the session runs on a direct connection.
	PathDirect
	// PathHolePunched: the session runs on a direct connection that
	// DCUtR hole punching made through both devices' NATs.
	PathHolePunched
	// PathRelayed: the session runs through a relay, which passes the
	// encrypted connection on.
	PathRelayed
)

// String returns "unreachable", "direct", "hole punched" or "relayed".
func (p Path) String() string {
	switch p {
	case PathDirect:
		return "direct"
	case PathHolePunched:
		return "hole punched"
	case PathRelayed:
		return "relayed"
	}
	return "unreachable"
}

// relayDialDelay is how long after the last direct address of a device a
// dial through a relay starts: direct addresses first, so that a device on
// the same LAN is reached directly whenever that works.
const relayDialDelay = time.Second

// directFirst ranks the addresses of a dial: libp2p's default order, with
// every relay address after every direct one (by relayDialDelay). libp2p's
// own ranker delays relay dials only when a device has a public address,
// so a device known by LAN addresses alone would race the relay.
func directFirst(addrs []ma.Multiaddr) []network.AddrDelay {
	ranked := swarm.DefaultDialRanker(addrs)
	var last time.Duration
	direct := false
	for _, r := range ranked {
		if !isCircuit(r.Addr) {
			direct = true
			last = max(last, r.Delay)
		}
	}
	if !direct {
		return ranked
	}
	for i := range ranked {
		if isCircuit(ranked[i].Addr) {
			ranked[i].Delay += last + relayDialDelay
		}
	}
	return ranked
}

// isCircuit reports whether a goes through a relay.
func isCircuit(a ma.Multiaddr) bool {
	for _, c := range a {
		if c.Code() == ma.P_CIRCUIT {
			return true
		}
	}
	return false
}

// relayedConn reports whether c runs through a relay. A relay that sets no
// limits makes connections that libp2p does not mark limited, hence the
// address check.
func relayedConn(c network.Conn) bool {
	return c != nil && (c.Stat().Limited || isCircuit(c.RemoteMultiaddr()))
}

// relayState is the part of a [Node] that keeps reservations on relays and
// knows which connections hole punching made. Its mutex is never held
// while taking the node's.
type relayState struct {
	mu      stdsync.Mutex
	runs    map[peer.ID]*relayRun
	punched map[network.Conn]bool // direct connections DCUtR made
	paths   map[peer.ID]Path      // the path last reported per device
	tried   map[peer.ID]time.Time // last direct dial to a device reached through a relay
	joining map[peer.ID]int       // relays of invites being joined
}

// relayRun keeps one reservation.
type relayRun struct {
	ai      peer.AddrInfo
	cancel  context.CancelFunc
	kick    chan struct{}
	expires time.Time // of the current reservation; zero while none
	made    int       // reservations made so far
}

func (r *relayRun) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (rs *relayState) init() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.runs = map[peer.ID]*relayRun{}
	rs.punched = map[network.Conn]bool{}
	rs.paths = map[peer.ID]Path{}
	rs.tried = map[peer.ID]time.Time{}
	rs.joining = map[peer.ID]int{}
}

// isRelay reports whether p is one of the relays in use: the gater lets it
// connect, for the relay protocol (it gets no stream of ours).
func (rs *relayState) isRelay(p peer.ID) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	_, ok := rs.runs[p]
	return ok || rs.joining[p] > 0
}

// joinRelays lets the relays of an invite in while this node joins
// through it (unless NoRelay) and returns the inviting device's addresses
// through them. endJoin undoes it.
func (n *Node) joinRelays(inv Invite) []ma.Multiaddr {
	if n.cfg.NoRelay {
		return nil
	}
	var out []ma.Multiaddr
	n.relay.mu.Lock()
	defer n.relay.mu.Unlock()
	for _, a := range inv.Relays {
		ai, err := ParseRelayAddr(a.String())
		if err != nil || ai.ID == n.host.ID() || ai.ID == inv.Peer {
			continue
		}
		n.relay.joining[ai.ID]++
		n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
		if c, err := ma.NewMultiaddr(a.String() + "/p2p-circuit"); err == nil {
			out = append(out, c)
		}
	}
	return out
}

func (rs *relayState) endJoin(relays []ma.Multiaddr) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, a := range relays {
		ai, err := ParseRelayAddr(a.String())
		if err != nil || rs.joining[ai.ID] == 0 {
			continue
		}
		if rs.joining[ai.ID]--; rs.joining[ai.ID] == 0 {
			delete(rs.joining, ai.ID)
		}
	}
}

// Relays returns the relays the node keeps a reservation on (or tries
// to): the space's and [Config.Relays]; none with [Config.NoRelay].
func (n *Node) Relays() []peer.AddrInfo {
	n.relay.mu.Lock()
	defer n.relay.mu.Unlock()
	var out []peer.AddrInfo
	for _, id := range slices.Sorted(maps.Keys(n.relay.runs)) {
		out = append(out, n.relay.runs[id].ai)
	}
	return out
}

// Reserved reports whether the node holds a current reservation on the
// relay id.
func (n *Node) Reserved(id peer.ID) bool {
	n.relay.mu.Lock()
	defer n.relay.mu.Unlock()
	r := n.relay.runs[id]
	return r != nil && time.Now().Before(r.expires)
}

// wantedRelays returns the relays to use: the space's, then
// Config.Relays; none with NoRelay.
func (n *Node) wantedRelays(ctx context.Context) map[peer.ID]peer.AddrInfo {
	out := map[peer.ID]peer.AddrInfo{}
	if n.cfg.NoRelay {
		return out
	}
	add := func(ai peer.AddrInfo) {
		if ai.ID == "" || ai.ID == n.host.ID() {
			return
		}
		cur := out[ai.ID]
		cur.ID = ai.ID
		for _, a := range ai.Addrs {
			if !slices.ContainsFunc(cur.Addrs, a.Equal) {
				cur.Addrs = append(cur.Addrs, a)
			}
		}
		out[ai.ID] = cur
	}
	rs, err := n.space.Relays(ctx)
	if err != nil && ctx.Err() == nil {
		n.log.Warn("cannot read the space's relays", "err", err)
	}
	for _, s := range rs {
		ai, err := ParseRelayAddr(s)
		if err != nil {
			continue // checked on receipt; a newer version's entry, say
		}
		add(ai)
	}
	for _, ai := range n.cfg.Relays {
		add(ai)
	}
	return out
}

// reloadRelays starts keeping a reservation on each relay now wanted,
// stops for those no longer wanted, and gives every trusted device an
// address through each relay.
func (n *Node) reloadRelays(ctx context.Context) {
	want := n.wantedRelays(ctx)
	var stopped []peer.ID
	type start struct {
		ctx context.Context
		r   *relayRun
	}
	var started []start
	n.relay.mu.Lock()
	for id, r := range n.relay.runs {
		if _, ok := want[id]; !ok {
			r.cancel()
			delete(n.relay.runs, id)
			stopped = append(stopped, id)
		}
	}
	for id, ai := range want {
		if r := n.relay.runs[id]; r != nil {
			r.ai = ai
			continue
		}
		rctx, cancel := context.WithCancel(n.ctx)
		r := &relayRun{ai: ai, cancel: cancel, kick: make(chan struct{}, 1)}
		n.relay.runs[id] = r
		started = append(started, start{rctx, r})
	}
	n.relay.mu.Unlock()
	for _, st := range started {
		n.host.Peerstore().AddAddrs(st.r.ai.ID, st.r.ai.Addrs, peerstore.PermanentAddrTTL)
		if !n.spawn(func(context.Context) { n.keepReservation(st.ctx, st.r) }) {
			st.r.cancel()
		}
	}
	for _, id := range stopped {
		if !n.isTrusted(id) {
			n.host.Network().ClosePeer(id)
		}
	}
	n.circuitAddrs()
}

// circuitAddrs gives every trusted device, in the peerstore, an address
// through each relay in use: <relay address>/p2p-circuit. They are derived
// here at every change, never stored: only the relay list is in the space.
func (n *Node) circuitAddrs() {
	var circuits []ma.Multiaddr
	for _, ai := range n.Relays() {
		for _, a := range ai.Addrs {
			c, err := ma.NewMultiaddr(a.String() + "/p2p/" + ai.ID.String() + "/p2p-circuit")
			if err == nil {
				circuits = append(circuits, c)
			}
		}
	}
	for _, id := range n.Peers() {
		for _, a := range n.host.Peerstore().Addrs(id) {
			if isCircuit(a) && !slices.ContainsFunc(circuits, a.Equal) {
				n.host.Peerstore().SetAddr(id, a, 0) // a relay no longer used
			}
		}
		n.host.Peerstore().AddAddrs(id, circuits, peerstore.PermanentAddrTTL)
	}
}

// keepReservation holds a reservation on one relay until ctx ends: it
// reserves, renews halfway to the expiry, and at once when the connection
// with the relay drops or this device's addresses change (kick), with
// jittered backoff after a failure.
//
// The node reserves by itself (circuitv2/client.Reserve) rather than through
// libp2p's autorelay, which reserves only once AutoNAT has decided that this
// device is not reachable, and picks among relays it finds: the couple's
// relays are known, and a device that just changed network must be
// reachable through them again within seconds, whatever AutoNAT guesses.
func (n *Node) keepReservation(ctx context.Context, r *relayRun) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var backoff time.Duration
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-r.kick:
			backoff = 0
		}
		n.relay.mu.Lock()
		ai := r.ai
		n.relay.mu.Unlock()
		if sw, ok := n.host.Network().(*swarm.Swarm); ok {
			sw.Backoff().Clear(ai.ID)
		}
		rctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
		res, err := client.Reserve(rctx, n.host, ai)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			n.relay.mu.Lock()
			r.expires = time.Time{}
			n.relay.mu.Unlock()
			if backoff == 0 {
				backoff = n.cfg.RedialMin
			} else {
				backoff = min(2*backoff, n.cfg.RedialMax)
			}
			wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
			n.log.Debug("cannot reserve a slot on the relay", "relay", ai.ID, "retry in", wait, "err", err)
			timer.Reset(wait)
			continue
		}
		backoff = 0
		n.relay.mu.Lock()
		first := r.expires.IsZero()
		r.expires = res.Expiration
		r.made++
		n.relay.mu.Unlock()
		if first {
			n.log.Info("reserved a slot on the relay", "relay", ai.ID, "until", res.Expiration.Format(time.RFC3339))
		}
		timer.Reset(max(time.Until(res.Expiration)/2, time.Second))
	}
}

// kickRelays renews every reservation now.
func (n *Node) kickRelays() {
	n.relay.mu.Lock()
	defer n.relay.mu.Unlock()
	for _, r := range n.relay.runs {
		r.poke()
	}
}

// relayLost renews the reservation on relay id, whose connection dropped.
func (n *Node) relayLost(id peer.ID) {
	n.relay.mu.Lock()
	defer n.relay.mu.Unlock()
	if r := n.relay.runs[id]; r != nil {
		r.expires = time.Time{}
		r.poke()
	}
}

// addrsChangedLoop follows this device's addresses: when they change (a
// new network, a new observed address), every reservation is renewed and
// every paired device without a session is dialed again now. Live sessions
// tell the peer the new addresses at their next tick (sendAddrs).
func (n *Node) addrsChangedLoop(ctx context.Context) {
	sub, err := n.host.EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
	if err != nil {
		n.log.Warn("cannot follow this device's addresses", "err", err)
		return
	}
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			if ev, ok := e.(event.EvtLocalAddressesUpdated); ok && !ev.Diffs {
				continue
			}
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
}

// punchTracer hears of DCUtR's hole punches.
type punchTracer struct{ n *Node }

// Trace marks the direct connections a successful hole punch made.
func (t punchTracer) Trace(ev *holepunch.Event) {
	if ev == nil || ev.Type != holepunch.EndHolePunchEvtT {
		return
	}
	if e, ok := ev.Evt.(*holepunch.EndHolePunchEvt); !ok || !e.Success {
		return
	}
	n := t.n
	if n.host == nil {
		return
	}
	n.relay.mu.Lock()
	for _, c := range n.host.Network().ConnsToPeer(ev.Remote) {
		if !relayedConn(c) {
			n.relay.punched[c] = true
		}
	}
	n.relay.mu.Unlock()
	n.log.Debug("hole punched", "peer", ev.Remote)
	n.upgrade(ev.Remote)
	n.notePath(ev.Remote)
}

// Path returns how the device with peer ID id is reached now: the
// connection its session runs on, or PathUnreachable when none runs.
func (n *Node) Path(id peer.ID) Path {
	n.mu.Lock()
	var conn network.Conn
	if ns := n.sessions[id]; ns != nil && ns.online {
		conn = ns.conn
	}
	n.mu.Unlock()
	if conn == nil {
		return PathUnreachable
	}
	return n.pathOf(conn)
}

func (n *Node) pathOf(c network.Conn) Path {
	if relayedConn(c) {
		return PathRelayed
	}
	n.relay.mu.Lock()
	defer n.relay.mu.Unlock()
	if n.relay.punched[c] {
		return PathHolePunched
	}
	return PathDirect
}

// notePath reports a [PathChanged] event when the path to id differs from
// the one last reported.
func (n *Node) notePath(id peer.ID) {
	p := n.Path(id)
	n.relay.mu.Lock()
	old, known := n.relay.paths[id]
	n.relay.paths[id] = p
	n.relay.mu.Unlock()
	if known && old == p || !known && p == PathUnreachable {
		return
	}
	var r Remote
	if ns := n.session(id); ns != nil {
		r = ns.s.Remote()
	}
	n.emit(Event{Type: PathChanged, Peer: id, Remote: n.remoteOf(id, r), Path: p})
}

// connected follows a new connection: a direct one to a device whose
// session runs through a relay takes the session over.
func (n *Node) connected(c network.Conn) {
	if !relayedConn(c) {
		n.upgrade(c.RemotePeer())
	}
}

// disconnected follows a closed connection.
func (n *Node) disconnected(c network.Conn) {
	n.relay.mu.Lock()
	delete(n.relay.punched, c)
	n.relay.mu.Unlock()
	if n.relay.isRelay(c.RemotePeer()) && len(n.host.Network().ConnsToPeer(c.RemotePeer())) == 0 {
		n.relayLost(c.RemotePeer())
	}
}

// upgrade moves the session with id from a relayed connection to a direct
// one, when there is one: the device with the lower peer ID opens a new
// sync stream, which libp2p puts on the direct connection, and the new
// session replaces the relayed one (see runSession), which ends cleanly;
// what it had not sent, the new one sends.
func (n *Node) upgrade(id peer.ID) {
	ns := n.session(id)
	if ns == nil || !relayedConn(ns.conn) || n.host.ID() > id || !n.isTrusted(id) {
		return
	}
	direct := false
	for _, c := range n.host.Network().ConnsToPeer(id) {
		direct = direct || !relayedConn(c)
	}
	if !direct {
		return
	}
	n.spawn(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
		st, err := n.host.NewStream(network.WithNoDial(ctx, "direct"), id, ProtocolID)
		cancel()
		if err != nil {
			n.log.Debug("cannot move a relayed session to a direct connection", "peer", id, "err", err)
			return
		}
		if relayedConn(st.Conn()) || n.session(id) != ns {
			st.Reset()
			return
		}
		n.log.Debug("moving the session to a direct connection", "peer", id)
		n.runSession(n.ctx, st, true)
	})
}

// tryDirect dials the device id directly, past the relay its session runs
// through, when direct addresses are known for it, at most every
// RedialMax (fresh addresses from the device: at once, see directAgain):
// when that works, upgrade moves the session over.
func (n *Node) tryDirect(id peer.ID) {
	ns := n.session(id)
	if ns == nil || !relayedConn(ns.conn) {
		return
	}
	n.punchSoon(id, ns) // punch.go
	if !slices.ContainsFunc(n.host.Peerstore().Addrs(id), func(a ma.Multiaddr) bool { return !isCircuit(a) }) {
		return
	}
	n.relay.mu.Lock()
	if time.Since(n.relay.tried[id]) < n.cfg.RedialMax {
		n.relay.mu.Unlock()
		return
	}
	n.relay.tried[id] = time.Now()
	n.relay.mu.Unlock()
	n.spawn(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
		defer cancel()
		if err := n.host.Connect(network.WithForceDirectDial(ctx, "direct"), peer.AddrInfo{ID: id}); err != nil {
			n.log.Debug("no direct connection to a device reached through a relay", "peer", id, "err", err)
		}
	})
}

// directAgain is tryDirect right away: the device told new addresses.
func (n *Node) directAgain(id peer.ID) {
	n.relay.mu.Lock()
	delete(n.relay.tried, id)
	n.relay.mu.Unlock()
	n.tryDirect(id)
}

// admitProbe tells the gater whether to let in a connection from a peer it
// does not know, for AutoNAT v2: a server checks that this device is
// reachable at an address by dialing it back from a peer ID of its own.
// Only connections from the IP address of a relay or device this node is
// connected to are let in, and they get no stream of ours (see
// [Node.handleStream]): only libp2p's own protocols answer them.
func (n *Node) admitProbe(remote ma.Multiaddr) bool {
	if n.cfg.NoAutoNAT || n.host == nil {
		return false
	}
	ip, err := manet.ToIP(remote)
	if err != nil {
		return false
	}
	for _, c := range n.host.Network().Conns() {
		p := c.RemotePeer()
		if !n.relay.isRelay(p) && !n.isTrusted(p) {
			continue
		}
		if cip, err := manet.ToIP(c.RemoteMultiaddr()); err == nil && cip.Equal(ip) {
			return true
		}
	}
	return false
}
