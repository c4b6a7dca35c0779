package sync

import (
	"bufio"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
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

// PairProtocolID is the libp2p protocol of a pairing exchange. A node
// serves it only while one of its invitations is open.
const PairProtocolID protocol.ID = "/trustsync/pair/1.0.0"

// pairTimeout bounds one pairing exchange, from the first byte to the
// last, apart from the wait for the people to confirm the codes.
const pairTimeout = 30 * time.Second

// confirmTimeout bounds the wait for the people at both devices to
// confirm that their codes match.
const confirmTimeout = 5 * time.Minute

// Frame types of the pairing protocol (a protocol of its own: these
// numbers do not mix with the sync frames).
const (
	pairHello  byte = 1  // joiner: space, expiry, commitment; then its MAC
	pairAccept byte = 2  // inviter: commitment; then its MAC
	pairReveal byte = 3  // joiner: its nonce
	pairOffer  byte = 4  // inviter: its nonce, its device, the members
	pairJoin   byte = 5  // joiner: its device as it joins, its space document
	pairDone   byte = 6  // inviter: paired; its space document
	pairRefuse byte = 7  // either: a code and a reason; the sender closes next
	pairStored byte = 8  // joiner: it stored the pairing too (when its join asked to say so)
	pairCheck  byte = 9  // inviter: the joining device's identity fits the invite; its person is asked now
	pairYes    byte = 10 // inviter: its person confirmed the code
	pairSpace  byte = 11 // joiner: its person confirmed too; its space document
)

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

// pairState is the part of a [Node] that pairing and unpairing use. Its
// mutex is never held while taking the node's.
type pairState struct {
	mu       stdsync.Mutex
	invites  map[*Invitation]struct{}
	joining  map[peer.ID]int  // inviting devices this node is joining
	changed  chan struct{}    // closed and replaced when joining changes
	farewell map[peer.ID]int  // removed devices this node is telling
	revoked  map[peer.ID]bool // unpaired while this node ran
}

func (ps *pairState) init() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.invites == nil {
		ps.invites = map[*Invitation]struct{}{}
		ps.joining = map[peer.ID]int{}
		ps.farewell = map[peer.ID]int{}
		ps.revoked = map[peer.ID]bool{}
	}
}

// admit tells the connection gater whether to let a peer that is not a
// trusted device connect: anyone inbound while an invitation is open (the
// joining device's peer ID is not known before), the inviting device while
// this node joins it, and a removed device outbound while this node tells
// it that it was removed. Streams other than pairing's are still refused
// to them: see [Node.handleStream].
func (ps *pairState) admit(p peer.ID, dir network.Direction) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	switch {
	case ps.joining[p] > 0:
		return true
	case ps.farewell[p] > 0 && dir == network.DirOutbound:
		return true
	case len(ps.invites) > 0 && dir == network.DirInbound:
		return true
	}
	return false
}

// isJoining reports whether this node is joining p's space. The inviting
// device trusts this one, and may open its sync stream, as soon as it has
// stored its side of the pairing, a moment before this device has stored
// its own: [Node.handleStream] holds such a stream until the join is over
// (see waitJoined) instead of refusing it.
func (ps *pairState) isJoining(p peer.ID) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.joining[p] > 0
}

// waitJoined waits until this node is no longer joining p's space (the
// join stored the pairing, or failed) or ctx ends, and reports whether the
// join is over.
func (ps *pairState) waitJoined(ctx context.Context, p peer.ID) bool {
	for {
		ps.mu.Lock()
		joining, ch := ps.joining[p] > 0, ps.changed
		if ch == nil {
			ps.changed = make(chan struct{})
			ch = ps.changed
		}
		ps.mu.Unlock()
		if !joining {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (ps *pairState) isRevoked(p peer.ID) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.revoked[p]
}

func (ps *pairState) count(m map[peer.ID]int, p peer.ID, d int) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	m[p] += d
	if m[p] <= 0 {
		delete(m, p)
	}
	if ps.changed != nil {
		close(ps.changed)
		ps.changed = nil
	}
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
	if n.host == nil || n.ctx.Err() != nil {
		return nil, errors.New("sync: invite: the node is not running")
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultInviteTTL
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	addrs := opts.Addrs
	if len(addrs) == 0 {
		addrs = n.host.Addrs()
	}
	if len(addrs) == 0 {
		return nil, errors.New("sync: invite: the node listens on no address")
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
	inv, err := newInvite(n.host.ID(), addrs, self.SpaceID, opts.now().Add(opts.TTL), opts.Purpose)
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

// The messages of the pairing protocol, as JSON. pairHelloMsg and
// pairAcceptMsg travel followed by their 32-byte MAC.
type pairHelloMsg struct {
	Version int    `json:"v"`
	SpaceID string `json:"space"`
	Expires int64  `json:"expires"`
	Commit  []byte `json:"commit"`
}

type pairAcceptMsg struct {
	Commit []byte `json:"commit"`
}

type pairRevealMsg struct {
	Nonce []byte `json:"nonce"`
}

type pairDevice struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	MemberID   string `json:"member_id"`
	MemberName string `json:"member_name"`
}

type pairMember struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type pairOfferMsg struct {
	Nonce   []byte       `json:"nonce"`
	Device  pairDevice   `json:"device"`
	Members []pairMember `json:"members"`
	// Purpose is what the invite is for ("partner", "own-device"). An
	// inviting device that says it also waits for both confirmations
	// before any space document crosses (pairJoinMsg.Staged). Devices
	// before it do not say.
	Purpose string `json:"purpose,omitempty"`
}

// pairSpaceMsg carries the joining device's space document once both
// people confirmed the code.
type pairSpaceMsg struct {
	Space []byte `json:"space"`
}

type pairDoneMsg struct {
	Space []byte `json:"space"`
}

type pairJoinMsg struct {
	// Device names the member the device joins as.
	Device pairDevice `json:"device"`
	// From is the member the device was created as, when it joins as
	// another (a further device of a person): its records still name
	// From, and the inviting device hands it over ([crdt.Space.Admit]).
	From  string `json:"from,omitempty"`
	Space []byte `json:"space"`
	// Ack: the joining device says when it has stored the pairing
	// (pairStored), or why not (pairRefuse). Devices before it do not.
	Ack bool `json:"ack,omitempty"`
	// Staged: Space is empty; the joining device sends it in a pairSpace
	// frame once the inviting device's person (pairYes) and its own
	// confirmed the code.
	Staged bool `json:"staged,omitempty"`
}

type pairRefuseMsg struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// pairConn carries one pairing exchange.
type pairConn struct {
	st   io.ReadWriteCloser
	r    *bufio.Reader
	t    transcript
	seen func(typ byte, body []byte) // tests
}

func newPairConn(st io.ReadWriteCloser, inviter, joiner peer.ID) *pairConn {
	pc := &pairConn{st: st, r: bufio.NewReader(st)}
	pc.t.add("peers", append(appendBytes(nil, []byte(inviter)), appendBytes(nil, []byte(joiner))...))
	return pc
}

// extend moves the stream's deadline to d from now, when the stream has
// deadlines: the confirmation waits for people.
func (pc *pairConn) extend(d time.Duration) {
	if sd, ok := pc.st.(interface{ SetDeadline(time.Time) error }); ok {
		_ = sd.SetDeadline(time.Now().Add(d))
	}
}

func (pc *pairConn) send(typ byte, body []byte) error {
	_, err := pc.st.Write(encodeFrame(typ, body))
	return err
}

func (pc *pairConn) sendJSON(typ byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return pc.send(typ, b)
}

// refuse tells the other side why, keeping err's sentinel, and gives the
// refusal a moment to arrive before the caller closes the stream.
func (pc *pairConn) refuse(err error) {
	_ = pc.sendJSON(pairRefuse, pairRefuseMsg{Code: refusalCode(err), Reason: truncate(err.Error(), 400)})
	if cw, ok := pc.st.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	if rd, ok := pc.st.(interface{ SetReadDeadline(time.Time) error }); ok {
		_ = rd.SetReadDeadline(time.Now().Add(2 * time.Second))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(pc.r, 1<<16))
}

// recv reads the next frame, which must be of type want; a refusal
// becomes an error wrapping its sentinel.
func (pc *pairConn) recv(want byte) ([]byte, error) {
	f, err := readFrame(pc.r, DefaultMaxFrame)
	if err != nil {
		return nil, err
	}
	if pc.seen != nil {
		pc.seen(f.typ, f.body)
	}
	if f.typ == pairRefuse {
		var m pairRefuseMsg
		if json.Unmarshal(f.body, &m) != nil {
			return nil, fmt.Errorf("%w: the other device refused", ErrPairRefused)
		}
		base, ok := refusalCodes[m.Code]
		if !ok {
			base = ErrPairRefused
		}
		reason := strings.TrimPrefix(truncate(m.Reason, 400), base.Error())
		reason = strings.TrimLeft(reason, ": ")
		if reason == "" {
			return nil, fmt.Errorf("the other device says: %w", base)
		}
		return nil, fmt.Errorf("the other device says: %w: %s", base, reason)
	}
	if f.typ != want {
		return nil, fmt.Errorf("%w: pairing message %d where %d was due", ErrMalformed, f.typ, want)
	}
	return f.body, nil
}

func (pc *pairConn) recvJSON(want byte, v any) error {
	b, err := pc.recv(want)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: pairing message %d: %v", ErrMalformed, want, err)
	}
	return nil
}

// splitMAC splits a message body from the MAC that follows it.
func splitMAC(b []byte) ([]byte, []byte, error) {
	if len(b) < 32 {
		return nil, nil, fmt.Errorf("%w: pairing message without its MAC", ErrMalformed)
	}
	return b[:len(b)-32], b[len(b)-32:], nil
}

// handlePair serves one pairing exchange on the inviting device.
func (n *Node) handlePair(st network.Stream) {
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		st.Reset()
		return
	}
	n.wg.Add(1)
	n.mu.Unlock()
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
	if n.host == nil || n.ctx.Err() != nil {
		return PairResult{}, errors.New("sync: join: the node is not running")
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
	n.mu.Lock()
	n.resetDialLocked(inv.Peer)
	n.mu.Unlock()
	cctx, ccancel := context.WithTimeout(ctx, pairTimeout)
	defer ccancel()
	if err := n.host.Connect(cctx, peer.AddrInfo{ID: inv.Peer, Addrs: inv.Addrs}); err != nil {
		return PairResult{}, fmt.Errorf("%w: cannot reach it at %s: %w", ErrNotInviting, addrList(inv.Addrs), &UnreachableError{Err: err})
	}
	st, err := n.host.NewStream(network.WithNoDial(cctx, "pairing"), inv.Peer, PairProtocolID)
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
