package sync

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/trustsync/trustsync"
)

// RefusedError is why a session with a device ended when one side refused
// the other: this device refused what the device sent (a malformed or
// oversized frame, data crdt rejected, a hello that does not belong), or,
// with ByPeer, the device refused this one (its ERROR frame). Waiting does
// not change what a device sends, so [Node.WaitSynced] and [Node.SyncOnce]
// return a refusal of its data at once; a refused hello is retried, as it
// may be a pairing still settling.
type RefusedError struct {
	Remote Remote // the device, as far as its hello or the space names it
	ByPeer bool
	Err    error // the session's error
}

func (e *RefusedError) Error() string {
	if e.ByPeer {
		return e.Err.Error()
	}
	return "refused data from the device: " + e.Reason()
}

// Unwrap returns the session's error.
func (e *RefusedError) Unwrap() error { return e.Err }

// Reason says what was refused, on one line: the peer's own words when it
// refused this device.
func (e *RefusedError) Reason() string {
	var re *RemoteError
	if errors.As(e.Err, &re) {
		return printable(re.Reason)
	}
	msg := strings.TrimPrefix(e.Err.Error(), errRejected.Error()+": ")
	msg = strings.TrimSuffix(msg, ": "+trustsync.ErrInvalid.Error())
	return printable(strings.ReplaceAll(msg, "\n", " "))
}

// refusal makes the RefusedError of a session with id that ended with err,
// or nil when err is no refusal.
func (n *Node) refusal(id peer.ID, r Remote, err error) *RefusedError {
	if !refused(err) {
		return nil
	}
	var re *RefusedError
	if errors.As(err, &re) {
		return re
	}
	r = n.remoteOf(id, r)
	var rem *RemoteError
	return &RefusedError{Remote: r, ByPeer: errors.As(err, &rem), Err: err}
}

func (n *Node) isTrusted(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.trusted[p]
}

// reloadTrust reads the space's devices: every device with a peer ID that
// is not removed is trusted and the addresses this device keeps for it are
// dialable (see dialAddrs).
// Sessions with devices no longer trusted end at once.
func (n *Node) reloadTrust(ctx context.Context) error {
	members, err := n.space.Members(ctx)
	if err != nil {
		return err
	}
	self := n.space.Self().DeviceID
	trusted := maps.Clone(n.extraSet())
	fresh := map[peer.ID]bool{}
	book := map[string]bookEntry{}
	for _, m := range members {
		for _, d := range m.Devices {
			if d.ID == self || d.PeerID == "" || d.Removed {
				continue
			}
			id, err := peer.Decode(d.PeerID)
			if err != nil {
				n.log.Warn("device has an unreadable peer ID", "device", d.ID, "err", err)
				continue
			}
			if id == n.host.ID() || n.pair.isRevoked(id) {
				continue
			}
			trusted[id] = true
			addrs := n.dialAddrs(ctx, d, id, book)
			known := n.host.Peerstore().Addrs(id)
			for _, a := range addrs {
				if !slices.ContainsFunc(known, a.Equal) {
					fresh[id] = true
				}
			}
			n.host.Peerstore().AddAddrs(id, addrs, peerstore.PermanentAddrTTL)
		}
	}
	n.book.setDevices(book)
	n.mu.Lock()
	var drop []*nodeSession
	var dropIDs []peer.ID
	for id, ns := range n.sessions {
		if !trusted[id] {
			drop = append(drop, ns)
			dropIDs = append(dropIDs, id)
		}
	}
	n.trusted = trusted
	for id := range fresh {
		n.resetDialLocked(id)
	}
	n.mu.Unlock()
	for _, ns := range drop {
		ns.cancel()
	}
	for _, id := range dropIDs {
		n.host.Network().ClosePeer(id)
	}
	n.reloadRelays(ctx)
	n.signal(n.wake)
	return nil
}

func (n *Node) extraSet() map[peer.ID]bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.extra)
}

// remoteOf returns r, or when r is empty (the session ended before the
// hello exchange), the device of the space with the peer ID id, as far as
// the space knows it.
func (n *Node) remoteOf(id peer.ID, r Remote) Remote {
	if r.DeviceID != "" {
		return r
	}
	if r.PeerID == "" {
		r.PeerID = id.String()
	}
	members, err := n.space.Members(n.ctx)
	if err != nil {
		return r
	}
	for _, m := range members {
		for _, d := range m.Devices {
			if d.PeerID == id.String() && !d.Removed {
				name := m.Name
				if name == "" {
					name = d.Owner.Name
				}
				return Remote{DeviceID: d.ID, DeviceName: d.Name, MemberID: m.ID, MemberName: name, PeerID: d.PeerID}
			}
		}
	}
	return r
}

// Peers returns the trusted peers: the space's devices with a peer ID and
// [Config.Peers].
func (n *Node) Peers() []peer.ID {
	n.mu.Lock()
	defer n.mu.Unlock()
	ids := slices.Collect(maps.Keys(n.trusted))
	slices.Sort(ids)
	return ids
}

// refusedData reports whether a session ended because this device refused
// what the peer sent after the hello exchange: a malformed or oversized
// frame, or data crdt rejected.
func refusedData(err error) bool {
	var re *RemoteError
	if err == nil || errors.As(err, &re) {
		return false
	}
	for _, e := range []error{ErrFrameTooLarge, ErrMalformed, ErrBadDoc, errRejected} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// refused reports whether a session ended because one side refused the
// other, rather than because the connection broke.
func refused(err error) bool {
	var re *RemoteError
	return err != nil && (errors.As(err, &re) || isProtocolError(err))
}
