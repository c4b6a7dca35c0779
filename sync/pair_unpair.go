package sync

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	stdsync "sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// UnpairProtocolID is the libp2p protocol on which a device tells another
// that it unpaired it. Only a paired device may use it.
const UnpairProtocolID protocol.ID = "/trustsync/unpair/1.0.0"

// farewellTimeout bounds telling one removed device.
const farewellTimeout = 5 * time.Second

// Frames of the unpair protocol.
const (
	byeFrame    byte = 1 // JSON byeMsg
	byeAckFrame byte = 2 // no body
)

type byeMsg struct {
	By      string   `json:"by"`      // the device that unpaired
	Removed []string `json:"removed"` // the devices it removed
}

// UnpairResult says what [Node.Unpair] did.
type UnpairResult struct {
	// Removed are the devices no longer paired.
	Removed []trustsync.Device
	// Told are the removed devices that were reachable and were told; the
	// others learn it when they next try to sync and are refused.
	Told []trustsync.Device
}

// Unpair removes devices from the space, from this side alone and at once:
// their sessions and connections end before anything else happens, so no
// change made from now on reaches them; the removal is recorded in the
// shared history ("unpaired ..."), which the remaining devices sync; each
// removed device that can be reached is told, and stops syncing with this
// person's devices in turn, recording it in its own history. A removed
// device's later dials are refused by the gater.
//
// With no device IDs it removes every current device of the partner, and
// every device in this person's own name that was not added through one of
// this person's own devices ([ResolveUnpair]): no device the partner made
// keeps syncing. This device cannot be removed. Both sides keep their copies of everything
// shared so far: nothing can wipe another device.
func (n *Node) Unpair(ctx context.Context, deviceIDs ...string) (UnpairResult, error) {
	if err := n.running("sync: unpair"); err != nil {
		return UnpairResult{}, err
	}
	devs, err := ResolveUnpair(ctx, n.space, deviceIDs)
	if err != nil {
		return UnpairResult{}, err
	}
	for _, d := range devs {
		if id, err := peer.Decode(d.PeerID); err == nil {
			n.revoke(id)
		}
	}
	ids := make([]string, len(devs))
	for i, d := range devs {
		ids[i] = d.ID
	}
	if err := n.space.RemoveDevices(ctx, ids, ""); err != nil {
		return UnpairResult{}, err
	}
	if err := n.reloadTrust(ctx); err != nil {
		return UnpairResult{}, err
	}
	res := UnpairResult{Removed: devs, Told: n.TellRemoved(ctx, devs)}
	for _, d := range devs {
		id, _ := peer.Decode(d.PeerID)
		n.emit(Event{Type: Unpaired, Peer: id, Remote: Remote{DeviceID: d.ID, DeviceName: d.Name,
			MemberID: d.Owner.ID, MemberName: d.Owner.Name, PeerID: d.PeerID}})
	}
	return res, nil
}

// UnpairTargets resolves the devices an unpair removes, from the space's
// members ([crdt.Space.Members]) and this device's identity: the given
// device IDs, each a current device other than this one, or with none every
// current device of the partner.
func UnpairTargets(members []trustsync.Member, self crdt.Identity, ids []string) ([]trustsync.Device, error) {
	var out []trustsync.Device
	if len(ids) == 0 {
		for _, m := range members {
			for _, d := range m.Devices {
				if m.ID != self.MemberID && !d.Removed {
					d.Owner.Name = m.Name
					out = append(out, d)
				}
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("unpair: no device of a partner is paired: %w", trustsync.ErrNotFound)
		}
		return out, nil
	}
	for _, id := range ids {
		d, m, ok := findDevice(members, id)
		switch {
		case !ok:
			return nil, fmt.Errorf("unpair: no device %s in the space: %w", id, trustsync.ErrNotFound)
		case id == self.DeviceID:
			return nil, fmt.Errorf("unpair: %q is this device; unpair the other devices instead: %w", d.Name, trustsync.ErrInvalid)
		case d.Removed:
			return nil, fmt.Errorf("unpair: %q is already unpaired: %w", d.Name, trustsync.ErrInvalid)
		}
		d.Owner.Name = m.Name
		out = append(out, d)
	}
	return out, nil
}

// ResolveUnpair resolves the devices an unpair removes in sp, as
// [UnpairTargets] does. With no device IDs -- unpairing the partner -- it
// adds the current devices in this device's own person's name that were
// not added through one of that person's own devices: a device the partner
// added in this person's name (with a modified program) would otherwise
// keep syncing, and writing as this person, after the unpairing.
//
// A device counts as added through one's own devices when, starting from
// this device, a chain of pairings links it: each step a device of this
// person that recorded, in the space's history, taking the next one in or
// pairing with it (an invite's [Space.Admit] on one side, the joining
// device's [Space.JoinSpace] on the other). Until changes are signed, a
// modified program could forge such a record too; see PAIRING.md.
//
// [Space.Admit]: https://pkg.go.dev/github.com/trustsync/trustsync/crdt#Space.Admit
// [Space.JoinSpace]: https://pkg.go.dev/github.com/trustsync/trustsync/crdt#Space.JoinSpace
func ResolveUnpair(ctx context.Context, sp *crdt.Space, ids []string) ([]trustsync.Device, error) {
	members, err := sp.Members(ctx)
	if err != nil {
		return nil, fmt.Errorf("unpair: %w", err)
	}
	self := sp.Self()
	out, err := UnpairTargets(members, self, ids)
	if len(ids) > 0 {
		return out, err
	}
	stray, serr := unvouched(ctx, sp, members, self)
	if serr != nil {
		return nil, serr
	}
	if err != nil && len(stray) == 0 {
		return nil, err
	}
	return append(out, stray...), nil
}

// unvouched returns the current devices in self's person's name that no
// chain of that person's own devices added (see [ResolveUnpair]).
func unvouched(ctx context.Context, sp *crdt.Space, members []trustsync.Member, self crdt.Identity) ([]trustsync.Device, error) {
	var mine []trustsync.Device
	own := map[string]bool{}
	for _, m := range members {
		if m.ID != self.MemberID {
			continue
		}
		for _, d := range m.Devices {
			own[d.ID] = true
			if d.ID != self.DeviceID && !d.Removed {
				d.Owner.Name = m.Name
				mine = append(mine, d)
			}
		}
	}
	if len(mine) == 0 {
		return nil, nil
	}
	hist, err := sp.History(ctx, crdt.HistoryOptions{})
	if err != nil {
		return nil, fmt.Errorf("unpair: %w", err)
	}
	// by[a] are the devices a recorded taking in or pairing with.
	by := map[string][]string{}
	for _, c := range hist {
		if c.Doc == crdt.SpaceDoc && c.Kind == crdt.KindDevice && (c.Action == "join" || c.Action == "pair") &&
			c.DeviceID != c.Item && own[c.DeviceID] && own[c.Item] {
			by[c.DeviceID] = append(by[c.DeviceID], c.Item)
		}
	}
	vouched := map[string]bool{self.DeviceID: true}
	queue := []string{self.DeviceID}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, next := range by[d] {
			if !vouched[next] {
				vouched[next] = true
				queue = append(queue, next)
			}
		}
	}
	var out []trustsync.Device
	for _, d := range mine {
		if !vouched[d.ID] {
			out = append(out, d)
		}
	}
	return out, nil
}

// revoke stops trusting a peer at once: it is dropped from the trusted set
// (until paired again), its session ends and its connections close.
func (n *Node) revoke(id peer.ID) {
	n.pair.mu.Lock()
	n.pair.revoked[id] = true
	n.pair.mu.Unlock()
	n.mu.Lock()
	delete(n.trusted, id)
	ns := n.sessions[id]
	n.mu.Unlock()
	if ns != nil {
		ns.cancel()
		<-ns.s.Done()
	}
	n.host.Network().ClosePeer(id)
}

// TellRemoved tells each removed device it can reach, in parallel and
// within a few seconds, that this device unpaired it, and returns those
// that acknowledged. Connections made for it carry nothing else: the
// removed device's streams to this one are refused.
func (n *Node) TellRemoved(ctx context.Context, devs []trustsync.Device) []trustsync.Device {
	self := n.space.Self().DeviceID
	var ids []string
	for _, d := range devs {
		ids = append(ids, d.ID)
	}
	told := make([]bool, len(devs))
	var wg stdsync.WaitGroup
	for i, d := range devs {
		pid, err := peer.Decode(d.PeerID)
		if err != nil || pid == n.host.ID() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := n.farewell(ctx, pid, n.dialStrings(ctx, d), byeMsg{By: self, Removed: ids})
			told[i] = err == nil
			if err != nil {
				n.log.Debug("could not tell a removed device", "device", d.ID, "err", err)
			}
		}()
	}
	wg.Wait()
	var out []trustsync.Device
	for i, d := range devs {
		if told[i] {
			out = append(out, d)
		}
	}
	return out
}

func (n *Node) farewell(ctx context.Context, id peer.ID, addrs []string, msg byeMsg) error {
	ctx, cancel := context.WithTimeout(ctx, farewellTimeout)
	defer cancel()
	n.pair.count(n.pair.farewell, id, 1)
	defer func() {
		n.pair.count(n.pair.farewell, id, -1)
		n.host.Network().ClosePeer(id)
	}()
	var mas []ma.Multiaddr
	for _, s := range addrs {
		if a, err := ma.NewMultiaddr(s); err == nil {
			mas = append(mas, a)
		}
	}
	n.host.Peerstore().AddAddrs(id, mas, peerstore.TempAddrTTL)
	n.mu.Lock()
	n.resetDialLocked(id)
	n.mu.Unlock()
	if err := n.host.Connect(ctx, peer.AddrInfo{ID: id}); err != nil {
		return err
	}
	st, err := n.host.NewStream(network.WithNoDial(ctx, "farewell"), id, UnpairProtocolID)
	if err != nil {
		return err
	}
	defer st.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	b, _ := json.Marshal(msg)
	if _, err := st.Write(encodeFrame(byeFrame, b)); err != nil {
		return err
	}
	f, err := readFrame(bufio.NewReader(st), 64)
	if err != nil {
		return err
	}
	if f.typ != byeAckFrame {
		return fmt.Errorf("%w: unexpected answer to a farewell", ErrMalformed)
	}
	return nil
}

// handleBye hears that a paired device unpaired this one. This device then
// stops syncing with every device of that person and records it in its own
// history: unpairing is symmetric, and each side's history shows it.
func (n *Node) handleBye(st network.Stream) {
	id := st.Conn().RemotePeer()
	if !n.isTrusted(id) {
		st.Reset()
		return
	}
	if !n.enterStream(st) {
		return
	}
	defer n.wg.Done()
	_ = st.SetDeadline(time.Now().Add(farewellTimeout))
	f, err := readFrame(bufio.NewReader(st), 64<<10)
	var msg byeMsg
	if err != nil || f.typ != byeFrame || json.Unmarshal(f.body, &msg) != nil {
		st.Reset()
		return
	}
	ctx := n.ctx
	members, err := n.space.Members(ctx)
	if err != nil {
		st.Reset()
		return
	}
	sender, owner, ok := findDevice(members, msg.By)
	self := n.space.Self()
	if !ok || sender.PeerID != id.String() || sender.Removed || !slices.Contains(msg.Removed, self.DeviceID) {
		st.Reset()
		return
	}
	_, _ = st.Write(encodeFrame(byeAckFrame, nil))
	// Let the sender read the acknowledgement and hang up before the
	// connection is closed here.
	_ = st.CloseWrite()
	_ = st.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(st, 1<<10))
	st.Close()

	var ids []string
	for _, m := range members {
		if m.ID != owner.ID {
			continue
		}
		for _, d := range m.Devices {
			if d.ID != self.DeviceID && !d.Removed {
				ids = append(ids, d.ID)
				if pid, err := peer.Decode(d.PeerID); err == nil {
					n.revoke(pid)
				}
			}
		}
	}
	if len(ids) > 0 {
		why := fmt.Sprintf("%s unpaired this device from %q", owner.Name, sender.Name)
		if err := n.space.RemoveDevices(ctx, ids, why); err != nil && ctx.Err() == nil {
			n.log.Warn("cannot record being unpaired", "err", err)
		}
		if err := n.reloadTrust(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("cannot read paired devices", "err", err)
		}
	}
	n.emit(Event{Type: Unpaired, Peer: id, Remote: Remote{DeviceID: sender.ID, DeviceName: sender.Name,
		MemberID: owner.ID, MemberName: owner.Name, PeerID: sender.PeerID}})
}
