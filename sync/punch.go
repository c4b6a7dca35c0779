package sync

// DCUtR hole punching, started by the node itself. libp2p's own switch
// (libp2p.EnableHolePunching) punches only when a relayed connection comes
// in after its service found a public address of this device, which it
// looks for on a timer backing off to 5 s: two devices that start
// together and meet through the relay at once (serve on both, a pairing,
// a device back online) met before either was ready, and never punched.
// Here the node runs the same service (holepunch.NewService) and, for a
// device whose session runs through a relay, asks it to punch
// (Service.DirectConnect) once it is ready, and again a few times while
// the session stays relayed.

import (
	"context"
	"slices"
	stdsync "sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// maxObserved bounds the observed addresses kept for hole punching.
const maxObserved = 8

// punchState is the node's hole punching service and what it needs.
type punchState struct {
	mu       stdsync.Mutex
	hps      *holepunch.Service
	observed []ma.Multiaddr           // public UDP addresses peers saw this device at, newest first
	ready    bool                     // the service found an address: DirectConnect will not block
	active   map[peer.ID]*nodeSession // the session a device's punches are for
	reopen   map[peer.ID]bool         // devices this one opens the next stream to, having moved: moves.go
}

// startPunch starts the hole punching service on the node's host, unless
// relays or hole punching are off or the host has no identify service.
func (n *Node) startPunch() {
	if n.cfg.NoRelay || n.cfg.NoHolePunch {
		return
	}
	ider, ok := n.host.(interface{ IDService() identify.IDService })
	if !ok {
		return
	}
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		n.log.Warn("no hole punching: cannot follow identify", "err", err)
		return
	}
	hps, err := holepunch.NewService(n.host, ider.IDService(), n.punchAddrs, holepunch.WithTracer(punchTracer{n}))
	if err != nil {
		sub.Close()
		n.log.Warn("no hole punching", "err", err)
		return
	}
	n.punch.mu.Lock()
	n.punch.hps = hps
	n.punch.active = map[peer.ID]*nodeSession{}
	n.punch.mu.Unlock()
	if !n.spawn(func(ctx context.Context) { n.observeLoop(ctx, sub) }) {
		sub.Close()
	}
}

// closePunch stops the service: hole punches under way end.
func (n *Node) closePunch() {
	n.punch.mu.Lock()
	hps := n.punch.hps
	n.punch.mu.Unlock()
	if hps != nil {
		hps.Close()
	}
}

// observeLoop keeps the public UDP addresses peers (relays, devices) saw
// this device at. QUIC dials leave from the port the device listens on, so
// behind a NAT that keeps ports, such an address is where the partner's
// device can punch through to it.
func (n *Node) observeLoop(ctx context.Context, sub event.Subscription) {
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			ev, ok := e.(event.EvtPeerIdentificationCompleted)
			if !ok || ev.ObservedAddr == nil || !manet.IsPublicAddr(ev.ObservedAddr) {
				continue
			}
			if _, err := ev.ObservedAddr.ValueForProtocol(ma.P_UDP); err != nil {
				continue
			}
			n.punch.mu.Lock()
			obs := slices.DeleteFunc(n.punch.observed, ev.ObservedAddr.Equal)
			n.punch.observed = append([]ma.Multiaddr{ev.ObservedAddr}, obs[:min(len(obs), maxObserved-1)]...)
			n.punch.mu.Unlock()
		}
	}
}

// punchAddrs are the addresses this device offers in a hole punch: its
// public listen addresses and the observed ones. The service waits until
// there is one before it punches or answers.
func (n *Node) punchAddrs() []ma.Multiaddr {
	var addrs []ma.Multiaddr
	for _, a := range n.host.Addrs() {
		if manet.IsPublicAddr(a) && !isCircuit(a) {
			addrs = append(addrs, a)
		}
	}
	n.punch.mu.Lock()
	defer n.punch.mu.Unlock()
	for _, a := range n.punch.observed {
		if !slices.ContainsFunc(addrs, a.Equal) {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) > 0 {
		n.punch.ready = true
	}
	return addrs
}

// punchSoon asks the service to punch to device id while its session ns
// runs through a relay: first a second after the session began (the other
// device, which may have just started, gets its service ready too), then
// after 3, 9 and 27 s; once per session. Of the two devices, the one the
// relayed connection came in to asks: DCUtR's other side refuses a punch
// asked over a connection it did not dial.
func (n *Node) punchSoon(id peer.ID, ns *nodeSession) {
	n.punch.mu.Lock()
	hps := n.punch.hps
	if hps == nil || n.punch.active[id] == ns || ns.conn.Stat().Direction != network.DirInbound {
		n.punch.mu.Unlock()
		return
	}
	n.punch.active[id] = ns
	n.punch.mu.Unlock()
	n.spawn(func(ctx context.Context) {
		wait := time.Second
		for range 4 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait *= 3
			if n.session(id) != ns || !relayedConn(ns.conn) {
				return
			}
			n.punch.mu.Lock()
			ready := n.punch.ready
			n.punch.mu.Unlock()
			if !ready {
				continue // no public address yet: nothing to offer
			}
			if err := hps.DirectConnect(id); err != nil {
				n.log.Debug("hole punch failed", "peer", id, "err", err)
			}
		}
	})
}
