package sync

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// Join pairs this device through an invite made by another device's
// [Node.Invite]: it dials the inviting device (the secure handshake proves
// its peer ID is the invite's), proves it holds the invite's secret with an
// HMAC-SHA256 bound to both peer IDs and everything said so far, and
// exchanges commitments and then nonces, from which both sides derive the
// same confirmation code. The two devices then hand each other their
// records: the joining device takes the inviting device's space document
// and joins that space, as the partner or as a further device of a member
// (see [JoinOptions]); the inviting device takes the joining device's
// document. Both record the pairing in the shared history and start
// syncing.
func (n *Node) Join(ctx context.Context, inv Invite, opts JoinOptions) (PairResult, error) {
	if err := n.running("sync: join"); err != nil {
		return PairResult{}, err
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	if !opts.now().Before(inv.Expires) {
		return PairResult{}, fmt.Errorf("%w at %s", ErrInviteExpired, inv.Expires.Local().Format("15:04 on 2 Jan"))
	}
	if inv.Peer == n.host.ID() {
		return PairResult{}, fmt.Errorf("%w: it was made on this device", ErrInviteInvalid)
	}
	self := n.space.Self()
	members, err := n.space.Members(ctx)
	if err != nil {
		return PairResult{}, err
	}
	for _, m := range members {
		for _, d := range m.Devices {
			if d.PeerID == inv.Peer.String() && !d.Removed && self.SpaceID == inv.SpaceID {
				return PairResult{}, fmt.Errorf("%w: this device is already paired with %q", ErrInviteUsed, d.Name)
			}
		}
	}
	if len(members) > 1 && self.SpaceID != inv.SpaceID {
		return PairResult{}, fmt.Errorf("%w: this device already shares a space with %s", ErrInviteSpace, names(members))
	}

	n.pair.count(n.pair.joining, inv.Peer, 1)
	defer func() {
		n.pair.count(n.pair.joining, inv.Peer, -1)
		if !n.isTrusted(inv.Peer) {
			n.host.Network().ClosePeer(inv.Peer)
		}
	}()
	// The exchange takes pairTimeout, besides the people's confirmation.
	ctx, cancel := context.WithTimeout(ctx, pairTimeout+confirmTimeout)
	defer cancel()
	n.host.Peerstore().AddAddrs(inv.Peer, inv.Addrs, peerstore.TempAddrTTL)
	// Through the invite's relays too, after the direct addresses (see
	// directFirst); the gater lets those relays in while the join runs.
	circuits := n.joinRelays(inv)
	defer n.relay.endJoin(inv.Relays)
	n.host.Peerstore().AddAddrs(inv.Peer, circuits, peerstore.TempAddrTTL)
	n.mu.Lock()
	n.resetDialLocked(inv.Peer)
	n.mu.Unlock()
	cctx, ccancel := context.WithTimeout(ctx, pairTimeout)
	defer ccancel()
	lctx := network.WithAllowLimitedConn(cctx, "pairing")
	if err := n.host.Connect(lctx, peer.AddrInfo{ID: inv.Peer}); err != nil {
		return PairResult{}, fmt.Errorf("%w: cannot reach it at %s: %w", ErrNotInviting, addrList(append(slices.Clone(inv.Addrs), circuits...)), &UnreachableError{Err: err})
	}
	st, err := n.host.NewStream(network.WithNoDial(lctx, "pairing"), inv.Peer, PairProtocolID)
	if err != nil {
		return PairResult{}, fmt.Errorf("%w (an invite works only while 'pair' runs on the inviting device): %v", ErrNotInviting, err)
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(pairTimeout))
	pc := newPairConn(st, inv.Peer, n.host.ID())
	pc.seen = opts.frames
	res, err := n.joiningExchange(ctx, pc, inv, opts)
	if err != nil {
		var ne interface{ Timeout() bool }
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) {
			err = fmt.Errorf("%w: the inviting device stopped answering: %v", ErrPairRefused, err)
		}
		n.emit(Event{Type: PairRefused, Peer: inv.Peer, Err: err})
		return PairResult{}, err
	}
	n.emit(Event{Type: Paired, Peer: inv.Peer, Remote: res.Remote})
	return res, nil
}

func addrList(addrs []ma.Multiaddr) string {
	var s []string
	for _, a := range addrs {
		s = append(s, a.String())
	}
	if len(s) == 0 {
		return "no address"
	}
	return strings.Join(s, ", ")
}

func (n *Node) joiningExchange(ctx context.Context, pc *pairConn, inv Invite, opts JoinOptions) (PairResult, error) {
	nonceB, err := nonce()
	if err != nil {
		return PairResult{}, err
	}
	inner, _ := json.Marshal(pairHelloMsg{Version: 1, SpaceID: inv.SpaceID, Expires: inv.Expires.Unix(), Commit: commit(nonceB)})
	pc.t.add("hello", inner)
	mac := pc.t.mac(inv.Secret, "join")
	pc.t.add("hello-mac", mac)
	if err := pc.send(pairHello, append(inner, mac...)); err != nil {
		return PairResult{}, err
	}
	b, err := pc.recv(pairAccept)
	if err != nil {
		return PairResult{}, err
	}
	acc, macA, err := splitMAC(b)
	if err != nil {
		return PairResult{}, err
	}
	var a pairAcceptMsg
	if err := json.Unmarshal(acc, &a); err != nil || len(a.Commit) != 32 {
		return PairResult{}, fmt.Errorf("%w: unreadable acceptance", ErrMalformed)
	}
	pc.t.add("accept", acc)
	if !hmac.Equal(macA, pc.t.mac(inv.Secret, "accept")) {
		err := fmt.Errorf("%w: the inviting device could not prove it made the invite", ErrPairRefused)
		pc.refuse(err)
		return PairResult{}, err
	}
	pc.t.add("accept-mac", macA)
	if err := pc.sendJSON(pairReveal, pairRevealMsg{Nonce: nonceB}); err != nil {
		return PairResult{}, err
	}
	var offer pairOfferMsg
	if err := pc.recvJSON(pairOffer, &offer); err != nil {
		return PairResult{}, err
	}
	if !hmac.Equal(commit(offer.Nonce), a.Commit) {
		err := fmt.Errorf("%w: the inviting device's nonce does not match its commitment", ErrPairRefused)
		pc.refuse(err)
		return PairResult{}, err
	}
	code := confirmationCode(pc.t, offer.Nonce, nonceB)

	self := n.space.Self()
	purpose := parsePurpose(offer.Purpose)
	if opts.legacy {
		purpose, inv.Purpose = PurposeUnset, PurposeUnset
	}
	if inv.Purpose != PurposeUnset && purpose != inv.Purpose {
		err := fmt.Errorf("%w: the invite says it is for %s, the inviting device says %s", ErrPairRefused, inv.Purpose, purpose)
		pc.refuse(err)
		return PairResult{}, err
	}
	var member pairMember
	var newMember bool
	switch {
	case opts.forgeJoin, purpose == PurposeUnset:
		// An inviting device of an earlier version: its state decides,
		// and it checks what this device asks.
		member, newMember, err = chooseMember(offer.Members, self, opts.As)
		if err == nil && !newMember && member.ID != self.MemberID && member.ID != offer.Device.MemberID && !opts.forgeJoin {
			err = notOwnDevice(member.Name)
		}
	default:
		member, newMember, err = memberFor(purpose, offer, self, opts.As)
	}
	if err == nil && !newMember && member.ID != self.MemberID {
		err = n.checkFresh(ctx, member.Name)
	}
	if err != nil {
		pc.refuse(err)
		return PairResult{}, err
	}
	again := slices.ContainsFunc(offer.Members, func(m pairMember) bool { return m.ID == self.MemberID })
	confirm := func() error {
		if opts.Confirm == nil {
			return nil
		}
		c := Confirmation{Code: code, Purpose: purpose, As: trustsync.Person{ID: member.ID, Name: member.Name}, Again: again,
			Remote: Remote{DeviceID: offer.Device.ID, DeviceName: offer.Device.Name, MemberID: offer.Device.MemberID,
				MemberName: offer.Device.MemberName, PeerID: inv.Peer.String()}}
		if err := opts.Confirm(c); err != nil {
			err = fmt.Errorf("%w: the codes were not confirmed: %v", ErrPairRefused, err)
			pc.refuse(err)
			return err
		}
		return nil
	}
	staged := purpose != PurposeUnset
	if !staged {
		if err := confirm(); err != nil {
			return PairResult{}, err
		}
	}
	// This device stores nothing before the inviting device has sent its
	// records: it sends its space document as it is, naming the member it
	// joins as, and the inviting device hands it over to that member. A
	// pairing refused or interrupted until then leaves this device as it
	// was; JoinSpace then takes the space in one transaction. With an
	// inviting device that stages the exchange, the document goes only
	// once both people confirmed the code.
	join := pairJoinMsg{Device: pairDevice{ID: self.DeviceID, Name: self.DeviceName,
		MemberID: member.ID, MemberName: member.Name}, Ack: true, Staged: staged}
	if member.ID != self.MemberID {
		join.From = self.MemberID
	}
	if !staged {
		if join.Space, err = n.space.SaveSigned(ctx, crdt.SpaceDoc); err != nil {
			return PairResult{}, err
		}
	}
	if err := pc.sendJSON(pairJoin, join); err != nil {
		return PairResult{}, err
	}
	if staged {
		if _, err := pc.recv(pairCheck); err != nil {
			return PairResult{}, err
		}
		pc.extend(confirmTimeout)
		if err := confirm(); err != nil {
			return PairResult{}, err
		}
		if _, err := pc.recv(pairYes); err != nil {
			return PairResult{}, err
		}
		pc.extend(pairTimeout)
		doc, err := n.space.SaveSigned(ctx, crdt.SpaceDoc)
		if err != nil {
			return PairResult{}, err
		}
		if err := pc.sendJSON(pairSpace, pairSpaceMsg{Space: doc}); err != nil {
			return PairResult{}, err
		}
	}
	// The inviting device's records come last, once it trusts this
	// device: from here on each side accepts the other's sync session.
	var done pairDoneMsg
	if err := pc.recvJSON(pairDone, &done); err != nil {
		return PairResult{}, err
	}
	if opts.stopBeforeStore {
		return PairResult{}, errors.New("stopped before storing, as a killed process would")
	}
	if err := n.space.JoinSpace(ctx, inv.SpaceID, trustsync.Person{ID: member.ID, Name: member.Name}, done.Space, offer.Device.ID, inv.Peer.String()); err != nil {
		err = fmt.Errorf("%w: cannot take the inviting device's records: %v", ErrPairRefused, err)
		pc.refuse(err)
		return PairResult{}, err
	}
	_ = pc.sendJSON(pairStored, struct{}{}) // the inviting device gives up waiting for it when it is lost
	n.pair.mu.Lock()
	delete(n.pair.revoked, inv.Peer)
	n.pair.mu.Unlock()
	if err := n.reloadTrust(ctx); err != nil {
		return PairResult{}, err
	}
	return PairResult{Code: code, NewMember: newMember, Purpose: purpose, Peer: inv.Peer, Remote: Remote{DeviceID: offer.Device.ID,
		DeviceName: offer.Device.Name, MemberID: offer.Device.MemberID, MemberName: offer.Device.MemberName,
		PeerID: inv.Peer.String()}}, nil
}

// checkFresh refuses to join as another member from a device that already
// holds shared items of its own (see [crdt.Space.JoinSpace]).
func (n *Node) checkFresh(ctx context.Context, as string) error {
	docs, err := n.space.Docs(ctx)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(docs, func(d string) bool { return d != crdt.SpaceDoc }) {
		return fmt.Errorf("%w: this device already holds boundaries, goals or check-ins of its own, so it cannot join as %s; join from a newly initialised device", ErrPairRefused, as)
	}
	return nil
}

// chooseMember decides who the joining device joins as: the member named by
// as; else this device's own member when the space has it (pairing again);
// else the member with this device's member name; else a new member when
// the space has one member only.
func chooseMember(members []pairMember, self crdt.Identity, as string) (pairMember, bool, error) {
	if as = strings.TrimSpace(as); as != "" {
		for _, m := range members {
			if strings.EqualFold(m.Name, as) {
				return m, false, nil
			}
		}
		return pairMember{}, false, fmt.Errorf("%w: the space has no member named %q (its members: %s)", ErrPairRefused, as, memberNames(members))
	}
	for _, m := range members {
		if m.ID == self.MemberID {
			return m, false, nil
		}
	}
	for _, m := range members {
		if strings.EqualFold(m.Name, self.MemberName) {
			return m, false, nil
		}
	}
	if len(members) >= 2 {
		return pairMember{}, false, fmt.Errorf("%w: that space already has two partners, %s; to add a device of one of them, join as that person", ErrPairRefused, memberNames(members))
	}
	return pairMember{ID: self.MemberID, Name: self.MemberName}, true, nil
}

// memberFor decides who the joining device joins as, from the invite's
// purpose: a further device of the inviting device's person, or the
// partner, a new member under this device's own name. A device of the
// space pairing again joins as itself. as, when given, must agree.
func memberFor(p Purpose, offer pairOfferMsg, self crdt.Identity, as string) (pairMember, bool, error) {
	as = strings.TrimSpace(as)
	for _, m := range offer.Members {
		if m.ID == self.MemberID {
			if as != "" && !strings.EqualFold(as, m.Name) {
				return pairMember{}, false, fmt.Errorf("%w: this device is %s's already, not %s (--as)", ErrPairRefused, m.Name, as)
			}
			return m, false, nil
		}
	}
	inviter := pairMember{ID: offer.Device.MemberID, Name: offer.Device.MemberName}
	if p == PurposeOwnDevice {
		switch {
		case as != "" && !strings.EqualFold(as, inviter.Name):
			return pairMember{}, false, fmt.Errorf("%w: this invite adds another device of %s's own; it cannot make this device %s's (--as %s)",
				ErrPairRefused, inviter.Name, as, as)
		case as == "" && !strings.EqualFold(self.MemberName, inviter.Name):
			return pairMember{}, false, fmt.Errorf("%w: this invite adds another device of %s's own, but this device was set up as %s: join with --as %s only if it is %s's device",
				ErrPairRefused, inviter.Name, self.MemberName, inviter.Name, inviter.Name)
		}
		return inviter, false, nil
	}
	for _, m := range offer.Members {
		if (as != "" && strings.EqualFold(as, m.Name)) || (as == "" && strings.EqualFold(self.MemberName, m.Name)) {
			return pairMember{}, false, fmt.Errorf("%w: this invite is for %s's partner; it cannot add a device for %s: a device of %s's own joins through an invite made with 'trustsync pair --own-device' on one of %s's devices",
				ErrPairRefused, inviter.Name, m.Name, m.Name, m.Name)
		}
	}
	if as != "" && !strings.EqualFold(as, self.MemberName) {
		return pairMember{}, false, fmt.Errorf("%w: this invite is for %s's partner, who joins under this device's own name, %s, not %s (--as)",
			ErrPairRefused, inviter.Name, self.MemberName, as)
	}
	if len(offer.Members) >= 2 {
		return pairMember{}, false, fmt.Errorf("%w: that space already has two partners, %s", ErrPairRefused, memberNames(offer.Members))
	}
	return pairMember{ID: self.MemberID, Name: self.MemberName}, true, nil
}

func memberNames(members []pairMember) string {
	var ns []string
	for _, m := range members {
		ns = append(ns, m.Name)
	}
	return strings.Join(ns, " and ")
}
