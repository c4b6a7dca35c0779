package sync

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// PairProtocolID is the libp2p protocol of a pairing exchange. A node
// serves it only while one of its invitations is open.
const PairProtocolID protocol.ID = "/trustsync/pair/1.0.0"

// pairTimeout bounds one pairing exchange, from the first byte to the
// last, apart from the wait for the people to confirm the codes.
const pairTimeout = 30 * time.Second

// confirmTimeout bounds the wait for the people at both devices to
// confirm that their codes match.
const confirmTimeout = 5 * time.Minute

// Pairing events, reported by [Node.Subscribe] besides the session events.
const (
	// Paired: pairing with a device succeeded; Remote names it.
	Paired EventType = iota + 16
	// PairRefused: a pairing attempt was refused, by this device or the
	// other; Err says why.
	PairRefused
	// Unpaired: a device was unpaired, here ([Node.Unpair]) or by the
	// device itself telling this one that it unpaired us; Remote names it.
	Unpaired
)

// PairResult is what a successful pairing gives each side.
type PairResult struct {
	// Code is the six-digit confirmation code. Both devices show the same
	// one; the two people should compare them, and unpair at once if they
	// differ.
	Code string
	// Remote is the other device and its member.
	Remote Remote
	// Peer is the other device's libp2p peer ID.
	Peer peer.ID
	// NewMember is true when the joining device joined as a new member
	// (the partner), false when it joined as a further device of a member
	// the space already had.
	NewMember bool
	// Purpose is what the invite was for; [PurposeUnset] when an inviting
	// device of an earlier version did not say.
	Purpose Purpose
	// Unconfirmed is set on the inviting device when, after it had stored
	// its side, the joining device did not say that it stored its own: it
	// stopped, or the connection broke. This device is paired; the other
	// may not be, and can pair again. (A joining device of an earlier
	// version never says so and is not waited for.)
	Unconfirmed bool
}

// InviteOptions configure [Node.Invite]. The zero value works.
type InviteOptions struct {
	// TTL is how long the invite is valid. Default: [DefaultInviteTTL].
	TTL time.Duration
	// Addrs are the addresses written into the invite, for a joining
	// device to dial. Default: the node's listen addresses. Give the
	// address a partner can reach (a forwarded port, a VPN address) when
	// it is not one of those.
	Addrs []ma.Multiaddr
	// Purpose is what the invite is for. Default ([PurposeUnset]): the
	// partner while the space has no partner yet (no other member with a
	// current device), else another device of this device's person.
	// [PurposePartner] fails when the space has a partner already.
	Purpose Purpose
	// Confirm, when set, is called once the joining device has said who
	// it joins as and that fits the invite's purpose, before any shared
	// document crosses; an error refuses the pairing, which then changes
	// neither device. Default: no confirmation, which counts as a yes
	// (see [Confirmation]).
	Confirm func(Confirmation) error

	now        func() time.Time    // tests
	forgeDone  func([]byte) []byte // tests: replace the space document sent, as a hostile inviter would
	forgeAdmit bool                // tests: skip the purpose checks, as a modified inviting device would
}

// Confirmation is what [InviteOptions.Confirm] and [JoinOptions.Confirm]
// show their person. Both devices show the same Code; the people compare
// them before answering.
//
// No shared document crosses before both sides said yes: up to the
// confirmation the devices exchange only what the code and the checks
// need (identities, the space's members). The joining device sends its
// space document only after its own yes and the inviting device's, and the
// inviting device sends its own, and starts syncing, only after that. A
// side without a Confirm callback counts as having said yes at once: when
// neither has one, documents cross as soon as the identities are checked,
// and the codes can only be compared afterwards.
type Confirmation struct {
	// Code is the six-digit confirmation code.
	Code string
	// Purpose is what the invite is for.
	Purpose Purpose
	// Remote is the other device as it presents itself. On the inviting
	// device its member is the one the joining device joins as.
	Remote Remote
	// As is the member the joining device joins as: the partner (a new
	// member) or, for [PurposeOwnDevice], the inviting device's person,
	// in whose name the new device will write.
	As trustsync.Person
	// Again is set when the joining device is already a device of the
	// space, pairing again: it adds no device.
	Again bool
}

// JoinOptions configure [Node.Join]. The zero value works.
type JoinOptions struct {
	// As names the member of the space this device joins as, for a
	// further device of someone already in the space. Default: the member
	// whose name equals this device's member name (ignoring case), else a
	// new member -- the partner -- when the space has only one. Joining
	// as an existing member works only through an invite from one of that
	// member's own devices.
	// The invite's purpose decides whom a device joins as: As only
	// confirms it, and a name that disagrees fails.
	As string
	// Confirm, when set, is called once the inviting device has accepted
	// whom this device joins as, before any shared document crosses; an
	// error refuses the pairing, which then changes neither device.
	// Default: no confirmation, which counts as a yes (see
	// [Confirmation]).
	Confirm func(Confirmation) error

	now       func() time.Time // tests
	forgeJoin bool             // tests: skip this side's checks, as a modified client would
	legacy    bool             // tests: ignore the invite's purpose and send the space document at once, as an earlier version does
	// tests: stop once the inviting device's records are in, before
	// storing anything, as a process killed then would
	stopBeforeStore bool
	frames          func(typ byte, body []byte) // tests: every pairing frame this device receives
}

// Invitation is an open invite: while it is open, the node serves the
// pairing protocol and accepts one joining device with the invite's secret.
// Make one with [Node.Invite]; close it with [Invitation.Close].
type Invitation struct {
	n          *Node
	invite     Invite
	now        func() time.Time
	confirm    func(Confirmation) error
	forgeDone  func([]byte) []byte
	forgeAdmit bool

	mu     stdsync.Mutex
	used   bool
	closed bool
	done   chan struct{} // closed once paired, failed after acceptance, or closed
	res    PairResult
	err    error
}

// Invite opens a one-time invite into this node's space and serves it until
// it is used, it expires, ctx ends or [Invitation.Close] is called. The
// invite is for one purpose ([InviteOptions.Purpose]): the partner's first
// device, while the space has no partner, or another device of this
// device's own person. This device refuses a joining device that asks to
// be anyone else -- another member, or a new member on an own-device
// invite -- before anything is stored or any shared document crosses; a
// further device of a person thus joins only through one of that person's
// own devices. A device of the space pairing again (same device, same key)
// is let in whatever the purpose: it adds no device.
//
// While an invitation is open, the node's gater lets any peer connect, but
// a peer that is not a paired device gets no protocol but pairing.
func (n *Node) Invite(ctx context.Context, opts InviteOptions) (*Invitation, error) {
	if err := n.running("sync: invite"); err != nil {
		return nil, err
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultInviteTTL
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	addrs := opts.Addrs
	if len(addrs) == 0 {
		for _, a := range n.host.Addrs() {
			if !isCircuit(a) {
				addrs = append(addrs, a)
			}
		}
	}
	var relays []ma.Multiaddr
	for _, ai := range n.Relays() {
		if as, err := peer.AddrInfoToP2pAddrs(&ai); err == nil {
			relays = append(relays, as...)
		}
	}
	if len(relays) > 2*crdt.MaxRelays {
		relays = relays[:2*crdt.MaxRelays]
	}
	if len(addrs) == 0 && len(relays) == 0 {
		return nil, errors.New("sync: invite: the node listens on no address and uses no relay")
	}
	members, err := n.space.Members(ctx)
	if err != nil {
		return nil, fmt.Errorf("sync: invite: %w", err)
	}
	self := n.space.Self()
	partner := partnerOf(members, self.MemberID)
	switch opts.Purpose {
	case PurposeUnset:
		opts.Purpose = PurposePartner
		if partner != "" {
			opts.Purpose = PurposeOwnDevice
		}
	case PurposePartner:
		if partner != "" {
			return nil, fmt.Errorf("sync: invite: %w: this space already has a partner, %s; an invite can only add another device of %s's own",
				ErrInviteSpace, partner, self.MemberName)
		}
	case PurposeOwnDevice:
	default:
		return nil, fmt.Errorf("sync: invite: unknown purpose %d", opts.Purpose)
	}
	inv, err := newInvite(n.host.ID(), addrs, relays, self.SpaceID, opts.now().Add(opts.TTL), opts.Purpose)
	if err != nil {
		return nil, err
	}
	i := &Invitation{n: n, invite: inv, now: opts.now, confirm: opts.Confirm, forgeDone: opts.forgeDone,
		forgeAdmit: opts.forgeAdmit, done: make(chan struct{})}
	n.pair.mu.Lock()
	first := len(n.pair.invites) == 0
	n.pair.invites[i] = struct{}{}
	n.pair.mu.Unlock()
	if first {
		n.host.SetStreamHandler(PairProtocolID, n.handlePair)
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { i.Close() })
		go func() {
			<-i.done
			stop()
		}()
	}
	return i, nil
}

// Invite returns the invite, to show to the partner ([Invite.String]).
func (i *Invitation) Invite() Invite { return i.invite }

// Wait waits until a device paired through the invite and returns what
// both sides show. It fails with an error wrapping [ErrInviteExpired] when
// the invite expired unused, with the reason when pairing failed after a
// device presented the invite (which uses it up), and with
// [trustsync.ErrClosed] after Close. Refused attempts by others (a forged
// invite, say) are reported as [PairRefused] events and Wait goes on.
func (i *Invitation) Wait(ctx context.Context) (PairResult, error) {
	t := time.NewTimer(max(0, i.invite.Expires.Sub(i.now())))
	defer t.Stop()
	select {
	case <-i.done:
		i.mu.Lock()
		defer i.mu.Unlock()
		return i.res, i.err
	case <-t.C:
		i.mu.Lock()
		used := i.used
		i.mu.Unlock()
		if used { // an exchange is under way: let it finish
			select {
			case <-i.done:
				i.mu.Lock()
				defer i.mu.Unlock()
				return i.res, i.err
			case <-ctx.Done():
				return PairResult{}, ctx.Err()
			}
		}
		return PairResult{}, fmt.Errorf("%w at %s; no one joined", ErrInviteExpired, i.invite.Expires.Format(time.TimeOnly))
	case <-ctx.Done():
		return PairResult{}, ctx.Err()
	}
}

// Close withdraws the invite: the node stops serving pairing when no other
// invitation is open, and drops connections of peers that did not pair.
// Safe to call more than once.
func (i *Invitation) Close() error {
	i.finish(PairResult{}, trustsync.ErrClosed)
	n := i.n
	n.pair.mu.Lock()
	_, open := n.pair.invites[i]
	delete(n.pair.invites, i)
	last := open && len(n.pair.invites) == 0
	n.pair.mu.Unlock()
	if last && n.host != nil {
		n.host.RemoveStreamHandler(PairProtocolID)
		n.dropStrangers()
	}
	return nil
}

// finish records the outcome, once.
func (i *Invitation) finish(res PairResult, err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return
	}
	i.closed = true
	i.res, i.err = res, err
	close(i.done)
}

// claim checks a request whose MAC matched this invitation and uses the
// invite up when it is in order.
func (i *Invitation) claim(h pairHelloMsg, spaceNow string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	switch {
	case i.closed && !i.used:
		return fmt.Errorf("%w: the inviting device withdrew it", ErrInviteInvalid)
	case i.used:
		return ErrInviteUsed
	case !i.now().Before(i.invite.Expires):
		return fmt.Errorf("%w at %s", ErrInviteExpired, i.invite.Expires.Format(time.TimeOnly))
	case h.Expires != i.invite.Expires.Unix():
		return ErrInviteInvalid
	case h.SpaceID != i.invite.SpaceID || h.SpaceID != spaceNow:
		return ErrInviteSpace
	}
	i.used = true
	return nil
}

// dropStrangers closes connections to peers that are neither trusted nor
// in a pairing exchange.
func (n *Node) dropStrangers() {
	for _, p := range n.host.Network().Peers() {
		if !n.isTrusted(p) && !n.pair.admit(p, network.DirOutbound) {
			n.host.Network().ClosePeer(p)
		}
	}
}
