package sync

// Where paired devices listen. No address is ever written into a shared
// document: each device keeps what it learns of the others' addresses in
// its own store ([crdt.KnownAddrs]) and tells its current listen addresses
// only in a live session (a note after the hello, see sendAddrs).

import (
	"context"
	"errors"
	"maps"
	"slices"
	stdsync "sync"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// addrBook holds the addresses learned in sessions and pairings until
// addrsLoop writes them into the store, off the sessions' goroutines, and
// the addresses each current device of the space said of itself, which
// sessions pass on to the other devices.
type addrBook struct {
	mu      stdsync.Mutex
	pending map[string]crdt.KnownAddrs // by device ID
	devices map[string]bookEntry       // current devices of the space, by device ID
	peer    bool                       // record this device's peer ID again
}

// recheckPeer asks addrsLoop to record this device's peer ID again.
func (b *addrBook) recheckPeer() {
	b.mu.Lock()
	b.peer = true
	b.mu.Unlock()
}

// bookEntry is one current device of the space: its peer ID and the
// addresses it said of itself.
type bookEntry struct {
	id   peer.ID
	said []string
}

// setDevices replaces the current devices (reloadTrust); addresses learned
// but not written yet are kept.
func (b *addrBook) setDevices(devs map[string]bookEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for dev, k := range b.pending {
		if e, ok := devs[dev]; ok && k.Addrs != nil {
			e.said = k.Addrs
			devs[dev] = e
		}
	}
	b.devices = devs
}

// others returns the addresses the current devices of the space said of
// themselves, but peerDevice's, for a session to pass on to peerDevice.
func (b *addrBook) others(peerDevice string) map[string][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string][]string{}
	for dev, e := range b.devices {
		if dev != peerDevice && len(e.said) > 0 {
			out[dev] = slices.Clone(e.said)
		}
	}
	return out
}

// learnRelayed takes the addresses the device from passed on for other
// devices of the space. Only current devices of the space are kept, never
// this one or from itself.
func (n *Node) learnRelayed(from Remote, others map[string][]string) {
	n.book.mu.Lock()
	devs := maps.Clone(n.book.devices) // learn writes into the book's map
	n.book.mu.Unlock()
	learned := false
	for dev, said := range others {
		e, ok := devs[dev]
		if !ok || dev == from.DeviceID || dev == n.space.Self().DeviceID {
			continue
		}
		var k crdt.KnownAddrs
		var mas []ma.Multiaddr
		for _, s := range said {
			if a, ok := listenAddr(s, e.id); ok && !slices.ContainsFunc(mas, a.Equal) && len(mas) < maxAddrs {
				mas = append(mas, a)
				k.Relayed = append(k.Relayed, a.String())
			}
		}
		if len(mas) == 0 {
			continue
		}
		n.host.Peerstore().AddAddrs(e.id, mas, peerstore.PermanentAddrTTL)
		n.book.mu.Lock()
		if n.book.pending == nil {
			n.book.pending = map[string]crdt.KnownAddrs{}
		}
		cur := n.book.pending[dev]
		cur.Relayed = k.Relayed
		n.book.pending[dev] = cur
		n.book.mu.Unlock()
		n.mu.Lock()
		if n.sessions[e.id] == nil {
			n.resetDialLocked(e.id)
		}
		n.mu.Unlock()
		learned = true
	}
	if learned {
		n.signal(n.addrsWake)
		n.signal(n.wake)
	}
}

// learn takes what a session or a pairing taught about where the device
// deviceID (peer id) listens: the addresses it said (nil: none said) and the
// address of the connection with it (nil: none). The peerstore gets them at
// once; the store soon after.
func (n *Node) learn(deviceID string, id peer.ID, said []string, observed ma.Multiaddr) {
	if deviceID == "" || deviceID == n.space.Self().DeviceID {
		return
	}
	var k crdt.KnownAddrs
	var mas []ma.Multiaddr
	for _, s := range said {
		a, ok := listenAddr(s, id)
		if !ok || slices.ContainsFunc(mas, a.Equal) || len(mas) == maxAddrs {
			continue
		}
		mas = append(mas, a)
		k.Addrs = append(k.Addrs, a.String())
	}
	if observed != nil {
		if a, ok := listenAddr(observed.String(), id); ok {
			k.Observed = a.String()
			mas = append(mas, a)
		}
	}
	if k.IsZero() {
		return
	}
	n.host.Peerstore().AddAddrs(id, mas, peerstore.PermanentAddrTTL)
	n.book.mu.Lock()
	if n.book.pending == nil {
		n.book.pending = map[string]crdt.KnownAddrs{}
	}
	cur := n.book.pending[deviceID]
	if k.Addrs != nil {
		cur.Addrs = k.Addrs
		if e, ok := n.book.devices[deviceID]; ok {
			e.said = k.Addrs
			n.book.devices[deviceID] = e
		}
	}
	if k.Observed != "" {
		cur.Observed = k.Observed
	}
	n.book.pending[deviceID] = cur
	n.book.mu.Unlock()
	n.signal(n.addrsWake)
}

// listenAddr parses an address a device gave for itself: a multiaddr
// without a /p2p/ part, or with the device's own peer ID there (left out).
// An address through a relay (/p2p-circuit) is none: those are derived
// from the space's relays (relay.go), never kept.
func listenAddr(s string, id peer.ID) (ma.Multiaddr, bool) {
	a, err := ma.NewMultiaddr(s)
	if err != nil || len(a) == 0 || isCircuit(a) {
		return nil, false
	}
	transport, p := peer.SplitAddr(a)
	if p != "" && p != id || len(transport) == 0 {
		return nil, false
	}
	return transport, true
}

// listenAddrs returns this device's listen addresses, sorted, as a session
// tells them to the peer.
func (n *Node) listenAddrs() []string {
	var out []string
	for _, a := range n.host.Addrs() {
		if !isCircuit(a) {
			out = append(out, a.String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// dialAddrs returns where to look for device d: the addresses this device
// keeps for it (those it said, then the address of the last connection).
// Only when it never said any -- a device that has not upgraded, which
// sends no addresses in its sessions -- are the addresses its earlier
// version wrote into the shared space (d.Addrs) used as well, so that an
// upgraded device still reaches a partner that has not upgraded.
//
// When book is not nil, d (peer ID id) is entered there with the addresses
// it said of itself.
func (n *Node) dialAddrs(ctx context.Context, d trustsync.Device, id peer.ID, book map[string]bookEntry) []ma.Multiaddr {
	k, err := n.space.KnownAddrs(ctx, d.ID)
	if err != nil && ctx.Err() == nil && !errors.Is(err, trustsync.ErrClosed) {
		n.log.Warn("cannot read the addresses kept for a device", "device", d.ID, "err", err)
	}
	if book != nil {
		book[d.ID] = bookEntry{id: id, said: k.Addrs}
	}
	return dialList(k, d.Addrs)
}

// dialStrings is dialAddrs as strings.
func (n *Node) dialStrings(ctx context.Context, d trustsync.Device) []string {
	var out []string
	for _, a := range n.dialAddrs(ctx, d, "", nil) {
		out = append(out, a.String())
	}
	return out
}

// dialList is dialAddrs' choice: k's addresses, and legacy only when k
// holds no address the device said, here or to another device.
func dialList(k crdt.KnownAddrs, legacy []string) []ma.Multiaddr {
	ss := k.All()
	if len(k.Addrs) == 0 && len(k.Relayed) == 0 {
		ss = append(ss, legacy...)
	}
	var out []ma.Multiaddr
	for _, s := range ss {
		if a, err := ma.NewMultiaddr(s); err == nil && !isCircuit(a) && !slices.ContainsFunc(out, a.Equal) {
			out = append(out, a)
		}
	}
	return out
}
