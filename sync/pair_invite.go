package sync

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/trustsync/trustsync/crdt"
)

// InvitePrefix starts every invite in its text form.
const InvitePrefix = "tsinvite1."

// DefaultInviteTTL is how long an invite stays valid unless
// [InviteOptions].TTL says otherwise.
const DefaultInviteTTL = 10 * time.Minute

// secretSize is the size of an invite's secret: 256 bits.
const secretSize = 32

// Invite is a one-time invitation to pair with the device that made it.
// Whoever holds it may pair once, before it expires, so it should travel
// only from one partner's hands to the other's: shown on screen, scanned,
// or sent over a channel both trust.
type Invite struct {
	// Peer is the inviting device's libp2p peer ID. The joining device
	// dials it and the secure handshake proves the answer comes from it.
	Peer peer.ID
	// Addrs are the addresses the inviting device listens on.
	Addrs []ma.Multiaddr
	// SpaceID names the space the invite leads into.
	SpaceID string
	// Expires is when the invite stops being accepted (to the second).
	Expires time.Time
	// Secret is the 256-bit secret the joining device proves it holds.
	Secret [secretSize]byte
	// Relays are the relays the inviting device keeps a reservation on
	// (the space's and its [Config.Relays]), each ending in /p2p/<the
	// relay's peer ID>: a joining device on another network dials the
	// inviting one through them when its addresses do not answer. After
	// the pairing the joining device has the space's relays from the
	// space document.
	Relays []ma.Multiaddr
	// Purpose is what the inviting device made the invite for: its
	// partner, or another device of its own person. An invite of an
	// earlier version does not say ([PurposeUnset]); the inviting device
	// then decides from its state, as it always did. The inviting device
	// enforces the purpose it recorded itself, whatever the invite's text
	// says.
	Purpose Purpose
}

// Purpose is what an invite is for. The inviting device decides it, and
// refuses a joining device that asks to be anyone else.
type Purpose uint8

const (
	// PurposeUnset: in [InviteOptions], let the space decide -- the
	// partner while the space has no partner yet, else another device of
	// this device's person. In a parsed [Invite]: an invite of an earlier
	// version, which does not say.
	PurposeUnset Purpose = iota
	// PurposePartner: the invite adds the partner's first device, as a
	// new member. Only while the space has no partner yet.
	PurposePartner
	// PurposeOwnDevice: the invite adds another device of the inviting
	// device's own person, which then writes in that person's name.
	PurposeOwnDevice
)

// String returns "partner", "own-device" or "unset".
func (p Purpose) String() string {
	switch p {
	case PurposePartner:
		return "partner"
	case PurposeOwnDevice:
		return "own-device"
	}
	return "unset"
}

func parsePurpose(s string) Purpose {
	switch s {
	case "partner":
		return PurposePartner
	case "own-device":
		return PurposeOwnDevice
	}
	return PurposeUnset
}

// newInvite makes an invite with a fresh secret.
func newInvite(p peer.ID, addrs, relays []ma.Multiaddr, spaceID string, expires time.Time, purpose Purpose) (Invite, error) {
	inv := Invite{Peer: p, Addrs: addrs, Relays: relays, SpaceID: spaceID, Expires: expires.Truncate(time.Second), Purpose: purpose}
	if _, err := rand.Read(inv.Secret[:]); err != nil {
		return Invite{}, fmt.Errorf("make an invite secret: %w", err)
	}
	return inv, nil
}

// String returns the invite as one line of text: [InvitePrefix] and the
// base64url of the format version, peer ID, space ID, expiry (Unix
// seconds), secret, addresses, for version 2 and 3 one purpose byte, for
// version 3 the relays, and a 4-byte checksum that catches copying
// mistakes. An invite with relays is version 3, else one with a purpose
// version 2, else version 1; an earlier trustsync refuses a version it
// does not know as made by a newer version, so an invite without relays
// stays readable by the versions before relays.
func (inv Invite) String() string {
	version := byte(1)
	switch {
	case len(inv.Relays) > 0:
		version = 3
	case inv.Purpose != PurposeUnset:
		version = 2
	}
	b := []byte{version}
	b = appendBytes(b, []byte(inv.Peer))
	b = appendString(b, inv.SpaceID)
	b = binary.AppendUvarint(b, uint64(inv.Expires.Unix()))
	b = append(b, inv.Secret[:]...)
	b = binary.AppendUvarint(b, uint64(len(inv.Addrs)))
	for _, a := range inv.Addrs {
		b = appendBytes(b, a.Bytes())
	}
	if version >= 2 {
		b = append(b, byte(inv.Purpose))
	}
	if version == 3 {
		b = binary.AppendUvarint(b, uint64(len(inv.Relays)))
		for _, a := range inv.Relays {
			b = appendBytes(b, a.Bytes())
		}
	}
	sum := sha256.Sum256(b)
	b = append(b, sum[:4]...)
	return InvitePrefix + base64.RawURLEncoding.EncodeToString(b)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// ParseAddrs parses multiaddrs, as for [InviteOptions].Addrs.
func ParseAddrs(ss []string) ([]ma.Multiaddr, error) {
	var out []ma.Multiaddr
	for _, s := range ss {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a multiaddr, as in /ip4/203.0.113.7/tcp/4001: %w", s, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// ParseInvite reads an invite in the form [Invite.String] gives. Spaces and
// line breaks inside it (from copying) are ignored. A mistyped or cut
// invite fails with an error wrapping [ErrInviteInvalid].
func ParseInvite(s string) (Invite, error) {
	s = strings.Join(strings.Fields(s), "")
	bad := func(why string) (Invite, error) {
		return Invite{}, fmt.Errorf("%w: %s", ErrInviteInvalid, why)
	}
	rest, ok := strings.CutPrefix(s, InvitePrefix)
	if !ok {
		return bad("an invite starts with " + InvitePrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) < 5 {
		return bad("it is mistyped or incomplete")
	}
	body, sum := b[:len(b)-4], b[len(b)-4:]
	want := sha256.Sum256(body)
	if !bytes.Equal(sum, want[:4]) {
		return bad("it is mistyped or incomplete")
	}
	d := &decoder{b: body}
	var version byte
	if v := d.fixed("version", 1); d.err == nil {
		version = v[0]
	}
	if d.err == nil && (version < 1 || version > 3) {
		return bad("it was made by a newer version of trustsync")
	}
	var inv Invite
	pid, err := peer.IDFromBytes(d.bytes("peer ID", 256))
	if d.err == nil && err != nil {
		d.fail("peer ID")
	}
	inv.Peer = pid
	inv.SpaceID = d.string("space ID")
	inv.Expires = time.Unix(int64(d.uvarint("expiry")), 0)
	copy(inv.Secret[:], d.fixed("secret", secretSize))
	n := d.uvarint("address count")
	if n > 64 {
		d.fail("address count")
	}
	for i := uint64(0); d.err == nil && i < n; i++ {
		a, err := ma.NewMultiaddrBytes(d.bytes("address", 1024))
		if err != nil {
			d.fail("address")
			break
		}
		inv.Addrs = append(inv.Addrs, a)
	}
	if version >= 2 {
		if p := d.fixed("purpose", 1); d.err == nil {
			inv.Purpose = Purpose(p[0])
			ok := inv.Purpose == PurposePartner || inv.Purpose == PurposeOwnDevice ||
				(version == 3 && inv.Purpose == PurposeUnset)
			if !ok {
				return bad("it was made by a newer version of trustsync")
			}
		}
	}
	if version == 3 {
		n := d.uvarint("relay count")
		if n > 2*crdt.MaxRelays {
			d.fail("relay count")
		}
		for i := uint64(0); d.err == nil && i < n; i++ {
			a, err := ma.NewMultiaddrBytes(d.bytes("relay", crdt.MaxRelayAddrLen))
			if err != nil {
				d.fail("relay")
				break
			}
			if _, err := ParseRelayAddr(a.String()); err != nil {
				return bad("it names a relay that cannot be one")
			}
			inv.Relays = append(inv.Relays, a)
		}
	}
	if err := d.end("invite"); err != nil {
		return bad(err.Error())
	}
	if inv.SpaceID == "" {
		return bad("it names no space")
	}
	return inv, nil
}

// Errors of pairing. The side that refuses and the side refused see the
// same sentinel: a refusal travels with its reason.
var (
	// ErrInviteInvalid: the invite is mistyped, forged, or not the one
	// the inviting device is waiting with (a new 'pair' made a new one).
	ErrInviteInvalid = errors.New("the invite is not valid")
	// ErrInviteUsed: someone already paired with this invite.
	ErrInviteUsed = errors.New("the invite was already used")
	// ErrInviteExpired: the invite's time ran out.
	ErrInviteExpired = errors.New("the invite expired")
	// ErrInviteSpace: the invite leads to another space than the one the
	// inviting device holds now, or the joining device already shares a
	// space with a partner.
	ErrInviteSpace = errors.New("the invite is for another space")
	// ErrNotInviting: the inviting device did not answer the pairing
	// protocol; it is not running 'pair', or it cannot be reached.
	ErrNotInviting = errors.New("the inviting device is not waiting for a partner")
	// ErrPairRefused: pairing failed after the invite was accepted (the
	// invite is used up); the error says why.
	ErrPairRefused = errors.New("pairing refused")
)

// refusal codes on the wire, and their sentinels.
var refusalCodes = map[string]error{
	"invalid": ErrInviteInvalid,
	"used":    ErrInviteUsed,
	"expired": ErrInviteExpired,
	"space":   ErrInviteSpace,
	"refused": ErrPairRefused,
}

func refusalCode(err error) string {
	for code, e := range refusalCodes {
		if errors.Is(err, e) {
			return code
		}
	}
	return "refused"
}

// transcript hashes every message of a pairing exchange, in order, each
// with a label and a length, so that both sides derive their MACs and the
// confirmation code from exactly what was said.
type transcript struct {
	h [sha256.Size]byte
}

func (t *transcript) add(label string, data []byte) {
	hs := sha256.New()
	hs.Write(t.h[:])
	hs.Write(appendBytes(nil, []byte(label)))
	hs.Write(appendBytes(nil, data))
	copy(t.h[:], hs.Sum(nil))
}

func (t *transcript) mac(secret [secretSize]byte, label string) []byte {
	m := hmac.New(sha256.New, secret[:])
	m.Write([]byte("trustsync pair 1 " + label))
	m.Write(t.h[:])
	return m.Sum(nil)
}

// commit returns the commitment to a nonce: its SHA-256, labelled.
func commit(nonce []byte) []byte {
	h := sha256.Sum256(append([]byte("trustsync pair 1 commit "), nonce...))
	return h[:]
}

// confirmationCode derives the six digits both sides show from the
// transcript up to the commitments and both nonces. Each nonce was
// committed before either was revealed, so neither side -- nor anyone in
// the middle -- can choose its nonce to make two codes match: a match by
// chance is one in a million.
func confirmationCode(t transcript, nonceInviter, nonceJoiner []byte) string {
	hs := sha256.New()
	hs.Write([]byte("trustsync pair 1 code"))
	hs.Write(t.h[:])
	hs.Write(appendBytes(nil, nonceInviter))
	hs.Write(appendBytes(nil, nonceJoiner))
	sum := hs.Sum(nil)
	return fmt.Sprintf("%06d", binary.BigEndian.Uint64(sum[:8])%1_000_000)
}

func nonce() ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}
