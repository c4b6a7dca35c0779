package sync

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// handlePair serves one pairing exchange on the inviting device.
func (n *Node) handlePair(st network.Stream) {
	if !n.enterStream(st) {
		return
	}
	defer n.wg.Done()
	_ = st.SetDeadline(time.Now().Add(pairTimeout))
	remote := st.Conn().RemotePeer()
	pc := newPairConn(st, n.host.ID(), remote)
	inv, res, err := n.servePair(n.ctx, pc, remote)
	if err != nil {
		pc.refuse(err)
		n.log.Debug("pairing refused", "peer", remote, "err", err)
		n.emit(Event{Type: PairRefused, Peer: remote, Err: err})
		st.Close()
	} else {
		st.Close()
		n.emit(Event{Type: Paired, Peer: remote, Remote: res.Remote})
	}
	if inv != nil {
		inv.finish(res, err)
	}
}

// servePair runs the inviting side. It returns the invitation the joining
// device presented once its MAC matched, and from then on every failure
// uses that invitation up.
func (n *Node) servePair(ctx context.Context, pc *pairConn, remote peer.ID) (*Invitation, PairResult, error) {
	b, err := pc.recv(pairHello)
	if err != nil {
		return nil, PairResult{}, err
	}
	inner, mac, err := splitMAC(b)
	if err != nil {
		return nil, PairResult{}, err
	}
	var h pairHelloMsg
	if err := json.Unmarshal(inner, &h); err != nil || h.Version != 1 || len(h.Commit) != 32 {
		return nil, PairResult{}, fmt.Errorf("%w: a pairing request this version cannot read", ErrInviteInvalid)
	}
	pc.t.add("hello", inner)
	var inv *Invitation
	n.pair.mu.Lock()
	for i := range n.pair.invites {
		if hmac.Equal(mac, pc.t.mac(i.invite.Secret, "join")) {
			inv = i
		}
	}
	n.pair.mu.Unlock()
	if inv == nil {
		return nil, PairResult{}, fmt.Errorf("%w: it is forged, mistyped, or from an earlier 'pair' on this device", ErrInviteInvalid)
	}
	pc.t.add("hello-mac", mac)
	if err := inv.claim(h, n.space.Self().SpaceID); err != nil {
		// Only a request that is in order uses the invite up; this one
		// leaves it as it was.
		return nil, PairResult{}, err
	}
	res, err := n.invitingExchange(ctx, pc, inv, h, remote)
	return inv, res, err
}

func (n *Node) invitingExchange(ctx context.Context, pc *pairConn, inv *Invitation, h pairHelloMsg, remote peer.ID) (PairResult, error) {
	nonceA, err := nonce()
	if err != nil {
		return PairResult{}, err
	}
	acc, _ := json.Marshal(pairAcceptMsg{Commit: commit(nonceA)})
	pc.t.add("accept", acc)
	macA := pc.t.mac(inv.invite.Secret, "accept")
	pc.t.add("accept-mac", macA)
	if err := pc.send(pairAccept, append(acc, macA...)); err != nil {
		return PairResult{}, err
	}
	var rv pairRevealMsg
	if err := pc.recvJSON(pairReveal, &rv); err != nil {
		return PairResult{}, err
	}
	if !hmac.Equal(commit(rv.Nonce), h.Commit) {
		return PairResult{}, fmt.Errorf("%w: the joining device's nonce does not match its commitment", ErrPairRefused)
	}
	code := confirmationCode(pc.t, nonceA, rv.Nonce)

	self := n.space.Self()
	members, err := n.space.Members(ctx)
	if err != nil {
		return PairResult{}, err
	}
	offer := pairOfferMsg{Nonce: nonceA, Device: pairDevice{ID: self.DeviceID, Name: self.DeviceName,
		MemberID: self.MemberID, MemberName: self.MemberName}, Purpose: inv.invite.Purpose.String()}
	for _, m := range members {
		offer.Members = append(offer.Members, pairMember{ID: m.ID, Name: m.Name})
	}
	if err := pc.sendJSON(pairOffer, offer); err != nil {
		return PairResult{}, err
	}
	var j pairJoinMsg
	if err := pc.recvJSON(pairJoin, &j); err != nil {
		return PairResult{}, err
	}
	dev := j.Device
	if j.From == dev.MemberID {
		j.From = ""
	}
	existing := slices.ContainsFunc(members, func(m trustsync.Member) bool { return m.ID == dev.MemberID })
	for _, m := range members {
		if j.From != "" && m.ID == j.From {
			return PairResult{}, fmt.Errorf("%w: the joining device was created as %s, who is in this space already", ErrPairRefused, m.Name)
		}
		for _, d := range m.Devices {
			if d.ID == dev.ID && !d.Removed && d.PeerID != "" && d.PeerID != remote.String() {
				return PairResult{}, fmt.Errorf("%w: device %s is already paired with another key", ErrPairRefused, truncate(dev.ID, 40))
			}
		}
	}
	if dev.ID == self.DeviceID {
		return PairResult{}, fmt.Errorf("%w: the joining device claims to be this one", ErrPairRefused)
	}
	again := pairsAgain(members, dev, remote)
	if !inv.forgeAdmit {
		if err := checkPurpose(inv.invite.Purpose, members, self, dev, again); err != nil {
			return PairResult{}, err
		}
	}
	if !existing && j.From != "" {
		return PairResult{}, fmt.Errorf("%w: the joining device asks to join as a member this space does not have", ErrPairRefused)
	}
	as := trustsync.Person{ID: dev.MemberID, Name: memberName(members, dev.MemberID)}
	if !existing {
		as.Name = dev.MemberName
	}
	if j.Staged {
		// Only identities crossed so far. Both people now confirm the
		// code; the joining device sends its space document after both
		// said yes, and this device its own after that.
		if err := pc.send(pairCheck, nil); err != nil {
			return PairResult{}, err
		}
	} else if len(j.Space) == 0 {
		return PairResult{}, fmt.Errorf("%w: the joining device sent no space document", ErrMalformed)
	}
	pc.extend(confirmTimeout)
	if inv.confirm != nil {
		c := Confirmation{Code: code, Purpose: inv.invite.Purpose, As: as, Again: again,
			Remote: Remote{DeviceID: dev.ID, DeviceName: dev.Name, MemberID: as.ID, MemberName: as.Name, PeerID: remote.String()}}
		if err := inv.confirm(c); err != nil {
			return PairResult{}, fmt.Errorf("%w: the codes were not confirmed: %v", ErrPairRefused, err)
		}
	}
	if j.Staged {
		if err := pc.send(pairYes, nil); err != nil {
			return PairResult{}, err
		}
		var sp pairSpaceMsg
		if err := pc.recvJSON(pairSpace, &sp); err != nil {
			return PairResult{}, err
		}
		j.Space = sp.Space
	}
	pc.extend(pairTimeout)
	// Nothing was stored so far. The joining device made its own member
	// and device records: Admit takes them from its document rather than
	// writing them here, so that each record is created by one device
	// only, and stores them, the handover of a further device and the
	// pairing in one transaction -- or nothing, when a check fails.
	var got trustsync.Device
	var owner trustsync.Member
	var refusal error
	err = n.space.Admit(ctx, j.Space, crdt.Joiner{Device: dev.ID, PeerID: remote.String(),
		Member: trustsync.Person{ID: dev.MemberID, Name: dev.MemberName}, From: j.From},
		func(members []trustsync.Member) error {
			var found bool
			got, owner, found = findDevice(members, dev.ID)
			switch {
			case !found:
				refusal = fmt.Errorf("%w: the joining device sent no record of itself", ErrPairRefused)
			case got.Owner.ID != dev.MemberID && (j.From == "" || got.Owner.ID != j.From):
				refusal = fmt.Errorf("%w: the joining device's record names another member", ErrPairRefused)
			case got.PeerID != "" && got.PeerID != remote.String():
				refusal = fmt.Errorf("%w: the joining device's record names another key", ErrPairRefused)
			}
			return refusal
		})
	switch {
	case refusal != nil:
		return PairResult{}, refusal
	case err != nil:
		return PairResult{}, fmt.Errorf("%w: cannot take the joining device's records: %v", ErrPairRefused, err)
	}
	// This device is paired from here on, whatever happens next: what
	// fails now leaves the other device unsure, not this one.
	ownerName := owner.Name
	if owner.ID != dev.MemberID {
		ownerName = memberName(members, dev.MemberID)
	}
	res := PairResult{Code: code, NewMember: !existing, Purpose: inv.invite.Purpose, Peer: remote, Remote: Remote{DeviceID: got.ID, DeviceName: got.Name,
		MemberID: dev.MemberID, MemberName: ownerName, PeerID: remote.String()}}
	n.pair.mu.Lock()
	delete(n.pair.revoked, remote)
	n.pair.mu.Unlock()
	if err := n.reloadTrust(ctx); err != nil {
		n.log.Warn("paired, but the paired devices could not be reloaded", "err", err)
	}
	doc, err := n.space.SaveSigned(ctx, crdt.SpaceDoc)
	if err == nil && inv.forgeDone != nil {
		doc = inv.forgeDone(doc)
	}
	if err == nil {
		err = pc.sendJSON(pairDone, pairDoneMsg{Space: doc})
	}
	if err == nil && j.Ack {
		_, err = pc.recv(pairStored)
		if errors.Is(err, ErrPairRefused) {
			return PairResult{}, fmt.Errorf("%w; this device had recorded the pairing already: pair again, or run 'trustsync unpair' here", err)
		}
	}
	if err != nil {
		n.log.Debug("paired; the joining device did not confirm", "peer", remote, "err", err)
		res.Unconfirmed = true
	}
	return res, nil
}

// pairsAgain reports whether the joining device is a current device of
// the space already, with the same key and member, pairing again: it adds
// no device, so any invite lets it in.
func pairsAgain(members []trustsync.Member, dev pairDevice, remote peer.ID) bool {
	d, owner, ok := findDevice(members, dev.ID)
	return ok && !d.Removed && d.PeerID == remote.String() && owner.ID == dev.MemberID
}

// checkPurpose refuses a joining device that asks to be someone the
// invite is not for: on a partner's invite, a member of the space (other
// than a partner's device pairing again); on an own-device invite, anyone
// but this device's person. again: the device pairs again.
func checkPurpose(p Purpose, members []trustsync.Member, self crdt.Identity, dev pairDevice, again bool) error {
	if again {
		return nil
	}
	existing := slices.ContainsFunc(members, func(m trustsync.Member) bool { return m.ID == dev.MemberID })
	asWhom := "a new member, " + truncate(dev.MemberName, 60)
	if existing {
		asWhom = memberName(members, dev.MemberID)
	}
	switch p {
	case PurposeOwnDevice:
		if dev.MemberID != self.MemberID {
			return fmt.Errorf("%w: the invite is for another device of %s's own, and the joining device asks to join as %s",
				ErrPairRefused, self.MemberName, asWhom)
		}
		return nil
	case PurposePartner:
		switch {
		case dev.MemberID == self.MemberID:
			return fmt.Errorf("%w: the invite is for %s's partner, and the joining device asks to join as %s; a device of %s's own needs an invite for one ('trustsync pair --own-device')",
				ErrPairRefused, self.MemberName, self.MemberName, self.MemberName)
		case existing && hasDevice(members, dev.MemberID, dev.ID):
			return nil // a partner's device, unpaired, pairing again
		case existing:
			return notOwnDevice(asWhom)
		case len(members) >= 2:
			return fmt.Errorf("%w: this space already has two partners, %s", ErrPairRefused, names(members))
		}
		return nil
	}
	// An invite of this device always has a purpose; this is for safety.
	return fmt.Errorf("%w: the invite has no purpose", ErrPairRefused)
}

// partnerOf returns the name of a member other than self with a current
// device -- the partner, while paired -- or "".
func partnerOf(members []trustsync.Member, self string) string {
	for _, m := range members {
		if m.ID != self && slices.ContainsFunc(m.Devices, func(d trustsync.Device) bool { return !d.Removed }) {
			return m.Name
		}
	}
	return ""
}

// notOwnDevice is the refusal of a device joining as an existing member
// through a device of the other member.
func notOwnDevice(name string) error {
	return fmt.Errorf("%w: only one of %s's own devices can add a device for %s: run 'trustsync pair' on one of them",
		ErrPairRefused, name, name)
}

// hasDevice reports whether the space already gives device id to member
// (a device pairing again).
func hasDevice(members []trustsync.Member, member, id string) bool {
	for _, m := range members {
		if m.ID == member {
			return slices.ContainsFunc(m.Devices, func(d trustsync.Device) bool { return d.ID == id })
		}
	}
	return false
}

func memberName(members []trustsync.Member, id string) string {
	for _, m := range members {
		if m.ID == id {
			return m.Name
		}
	}
	return "that person"
}

func names(members []trustsync.Member) string {
	var ns []string
	for _, m := range members {
		ns = append(ns, m.Name)
	}
	return strings.Join(ns, " and ")
}
