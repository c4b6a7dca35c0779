package crdt

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/automerge/automerge-go"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
)

// The relays a couple uses.
//
// A relay is a machine with a public address that passes the encrypted
// connection of two devices that cannot reach each other directly (each
// behind its own NAT). The couple chooses its relays; the list is part of
// the space document, so that every device of the space reserves a slot on
// the same relays and finds the others through them. Each relay is the root
// key "r:<address>" of the space document, its value the Unix milliseconds
// at which it was added. Either partner may add or forget a relay; what a
// change may write there is checked on receipt like any other write (see
// [Space.UseRelay] for what a valid entry is).

// Limits of the relay list.
const (
	// MaxRelays is the most relays [Space.UseRelay] lets a space hold and
	// the most [Space.Relays] returns.
	MaxRelays = 8
	// MaxRelayAddrLen is the longest relay address, in bytes.
	MaxRelayAddrLen = 512
	// maxRelayKeys is the most relay entries a received change may leave
	// in the space document: room for devices that each added relays at
	// the same time, offline, up to MaxRelays each, so that such honest
	// concurrent additions never stop two devices from syncing; what is
	// beyond MaxRelays is not used ([Space.Relays] returns the oldest).
	maxRelayKeys = 2 * MaxRelays
)

// relayPrefix starts the root keys of the space document holding relays.
const relayPrefix = "r:"

// RelayAddr checks that s is a relay address a space can record, and
// returns it in its canonical spelling: a multiaddr that starts with a
// network address (/ip4, /ip6, /dns, /dns4, /dns6 or /dnsaddr), ends with
// /p2p/<peer ID> of the relay and holds no /p2p-circuit (a relay is reached
// directly, never through another relay); at most 512 bytes. The error,
// wrapping [trustsync.ErrInvalid], says what is wrong in one line.
func RelayAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	c, problem := relayAddr(s)
	if problem == "" {
		return c, nil
	}
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return "", fmt.Errorf("relay address %q %s: %w", s, problem, trustsync.ErrInvalid)
}

// relayAddr returns the canonical spelling of the relay address s, or
// what is wrong with it in a few words.
func relayAddr(s string) (string, string) {
	if s == "" {
		return "", "is empty"
	}
	if len(s) > MaxRelayAddrLen {
		return "", fmt.Sprintf("is %d bytes long, more than the %d allowed", len(s), MaxRelayAddrLen)
	}
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return "", "is not a multiaddr like /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW..."
	}
	if len(m) < 2 {
		return "", "needs a network address and /p2p/<the relay's peer ID>"
	}
	switch m[0].Code() {
	case ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6, ma.P_DNSADDR:
	default:
		return "", "does not start with /ip4, /ip6 or /dns"
	}
	for _, c := range m {
		if c.Code() == ma.P_CIRCUIT {
			return "", "goes through another relay (/p2p-circuit); give the relay's own address"
		}
	}
	for _, c := range m[:len(m)-1] {
		if c.Code() == ma.P_P2P {
			return "", "has /p2p/ before its end"
		}
	}
	if m[len(m)-1].Code() != ma.P_P2P {
		return "", "does not end with /p2p/<the relay's peer ID>"
	}
	out := m.String()
	if len(out) > MaxRelayAddrLen {
		return "", fmt.Sprintf("is %d bytes long, more than the %d allowed", len(out), MaxRelayAddrLen)
	}
	return out, ""
}

// Relays returns the addresses of the relays the couple uses, oldest
// first, at most [MaxRelays]. Entries that are not valid relay addresses
// (none pass the checks on receipt) are left out.
func (s *Space) Relays(ctx context.Context) ([]string, error) {
	var out []string
	err := s.loaded(ctx, SpaceDoc, func(d *automerge.Doc) error {
		if d == nil {
			return nil
		}
		var err error
		out, err = readRelays(d.RootMap())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list relays: %w", err)
	}
	return out, nil
}

// relayEntry is one relay of the space document.
type relayEntry struct {
	addr string
	at   int64
}

// relayEntries returns the valid relay entries of the space document,
// oldest first.
func relayEntries(root *automerge.Map) ([]relayEntry, error) {
	keys, err := root.Keys()
	if err != nil {
		return nil, err
	}
	var es []relayEntry
	for _, k := range keys {
		addr, ok := strings.CutPrefix(k, relayPrefix)
		if !ok {
			continue
		}
		if c, problem := relayAddr(addr); problem != "" || c != addr {
			continue
		}
		at, ok := getInt(root, k)
		if !ok {
			continue
		}
		es = append(es, relayEntry{addr, at})
	}
	slices.SortFunc(es, func(a, b relayEntry) int {
		return cmp.Or(cmp.Compare(a.at, b.at), strings.Compare(a.addr, b.addr))
	})
	return es, nil
}

func readRelays(root *automerge.Map) ([]string, error) {
	es, err := relayEntries(root)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, e := range es {
		if len(out) == MaxRelays {
			break
		}
		out = append(out, e.addr)
	}
	return out, nil
}

// ErrTooManyRelays is returned by [Space.UseRelay] when the space already
// uses [MaxRelays] relays. It wraps [trustsync.ErrInvalid].
var ErrTooManyRelays = fmt.Errorf("the space already uses %d relays; forget one first: %w", MaxRelays, trustsync.ErrInvalid)

// UseRelay adds the relay at addr to the relays of the space, so that every
// device of the space reserves a slot on it and dials the others through
// it. addr is checked and canonicalized by [RelayAddr]; a bad address wraps
// [trustsync.ErrInvalid], and so does a ninth relay ([ErrTooManyRelays]).
// Adding a relay the space already uses changes nothing.
func (s *Space) UseRelay(ctx context.Context, addr string) error {
	c, err := RelayAddr(addr)
	if err != nil {
		return fmt.Errorf("use relay: %w", err)
	}
	_, err = s.write(ctx, SpaceDoc, func(doc *automerge.Doc, root *automerge.Map) (edit, error) {
		if getValue(root, relayPrefix+c) != nil {
			return edit{}, errNoChange
		}
		es, err := relayEntries(root)
		if err != nil {
			return edit{}, err
		}
		if len(es) >= MaxRelays {
			return edit{}, ErrTooManyRelays
		}
		if err := setInt(root, relayPrefix+c, s.now().UnixMilli()); err != nil {
			return edit{}, err
		}
		return edit{action: "relay", kind: "space", summary: "began to use the relay " + relayShort(c)}, nil
	})
	if err != nil {
		return fmt.Errorf("use relay: %w", err)
	}
	return nil
}

// ForgetRelay removes the relay at addr from the relays of the space. A
// relay the space does not use wraps [trustsync.ErrNotFound]; an address
// that cannot be a relay's wraps [trustsync.ErrInvalid].
func (s *Space) ForgetRelay(ctx context.Context, addr string) error {
	c, err := RelayAddr(addr)
	if err != nil {
		return fmt.Errorf("forget relay: %w", err)
	}
	_, err = s.write(ctx, SpaceDoc, func(doc *automerge.Doc, root *automerge.Map) (edit, error) {
		if getValue(root, relayPrefix+c) == nil {
			return edit{}, fmt.Errorf("the space does not use the relay %s: %w", c, trustsync.ErrNotFound)
		}
		if err := root.Delete(relayPrefix + c); err != nil {
			return edit{}, err
		}
		return edit{action: "relay", kind: "space", summary: "stopped using the relay " + relayShort(c)}, nil
	})
	if err != nil {
		return fmt.Errorf("forget relay: %w", err)
	}
	return nil
}

// relayShort names a relay in history: its host and the start of its peer
// ID.
func relayShort(addr string) string {
	m, err := ma.NewMultiaddr(addr)
	if err != nil || len(m) < 2 {
		return short(addr)
	}
	return m[0].Value() + " (" + short(m[len(m)-1].Value()) + ")"
}

// relay checks an operation on the relay entry key of the space document:
// a number set on a valid relay address in its canonical spelling, or its
// deletion; never an object, and no more than maxRelayKeys entries.
func (c *changeCheck) relay(op *amwire.Op, p []string) error {
	addr := strings.TrimPrefix(p[0], relayPrefix)
	if len(p) > 1 {
		return refusal("it writes inside a relay entry")
	}
	if op.Action == amwire.Del {
		return nil
	}
	if op.Action != amwire.Set || (op.Value.Kind != amwire.Int && op.Value.Kind != amwire.Uint && op.Value.Kind != amwire.Timestamp) {
		return refusal("it writes a relay entry that is not a time")
	}
	canon, problem := relayAddr(addr)
	if problem == "" && canon != addr {
		problem = "is not spelled as usual"
	}
	if problem != "" {
		return refusal("it records a relay whose address " + problem)
	}
	if n := c.relayCount(); n > maxRelayKeys {
		return refusal(fmt.Sprintf("it leaves %d relays in the space, more than the %d allowed", n, maxRelayKeys))
	}
	return nil
}

// relayCount is the number of relay keys of the space document as the
// change leaves it.
func (c *changeCheck) relayCount() int {
	keys, err := c.root.Keys()
	if err != nil {
		return 0
	}
	n := 0
	for _, k := range keys {
		if strings.HasPrefix(k, relayPrefix) {
			n++
		}
	}
	return n
}
