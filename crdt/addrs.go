package crdt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/trustsync/trustsync"
)

// Limits of what [Space.NoteAddrs] keeps for one device.
const (
	maxKnownAddrs = 32
	maxAddrLen    = 256
)

// KnownAddrs is where this device last knew another device of the space to
// listen. It is this device's own knowledge, kept in its store's metadata
// under "peer/addrs/<device ID>", never in a shared document and never
// synced: a partner's device cannot read it, and no history of it is kept
// (each note replaces the one before).
//
// Earlier versions wrote each device's addresses into its record of the
// space document instead, where Automerge kept every past value, so that a
// partner could read back a timed trail of the other's network addresses.
// Those old values are still in the history of homes that ran them; such a
// record's last value is [trustsync.Device.Addrs].
type KnownAddrs struct {
	// Addrs are the addresses the device said it listens on: in its last
	// sync session with this device, during pairing, in its invite, or as
	// given to [Space.AddDevice].
	Addrs []string `json:"addrs,omitempty"`
	// Observed is the address of the other end of the last connection
	// with the device, as the network saw it. For a connection the device
	// opened, it may be a port the device does not listen on.
	Observed string `json:"observed,omitempty"`
	// Relayed are the addresses another device of the space last passed
	// on for it, in a live session: what the device had said of itself
	// there. They let two devices that never met (a partner's phone that
	// joined through the partner's laptop) find each other.
	Relayed []string `json:"relayed,omitempty"`
	// At is when Addrs or Observed last changed; zero when nothing is known.
	At time.Time `json:"at"`
}

// IsZero reports whether nothing is known.
func (k KnownAddrs) IsZero() bool {
	return len(k.Addrs) == 0 && k.Observed == "" && len(k.Relayed) == 0
}

// All returns Addrs, Observed and Relayed, each address once, in that
// order.
func (k KnownAddrs) All() []string {
	out := slices.Clone(k.Addrs)
	for _, a := range append([]string{k.Observed}, k.Relayed...) {
		if a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// knownAddrsKey is the store meta key of what this device knows of where
// a device listens.
func knownAddrsKey(deviceID string) string { return "peer/addrs/" + deviceID }

// KnownAddrs returns what this device knows of where the device deviceID
// listens; the zero value when nothing. A value that cannot be read counts
// as nothing known (the next note replaces it).
func (s *Space) KnownAddrs(ctx context.Context, deviceID string) (KnownAddrs, error) {
	if err := s.check(); err != nil {
		return KnownAddrs{}, err
	}
	var k KnownAddrs
	err := s.st.View(ctx, func(tx trustsync.ReadTx) error {
		b, err := tx.Get(knownAddrsKey(deviceID))
		if errors.Is(err, trustsync.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if json.Unmarshal(b, &k) != nil {
			s.log.Warn("unreadable record of a device's addresses; ignored", "device", deviceID)
			k = KnownAddrs{}
		}
		return nil
	})
	if err != nil {
		return KnownAddrs{}, fmt.Errorf("read the known addresses of %s: %w", deviceID, err)
	}
	return k, nil
}

// NoteAddrs records in this device's store (not in any shared document)
// what it learned of where the device deviceID listens: k.Addrs and
// k.Relayed, when not nil, replace those kept; k.Observed, when not empty,
// the observed one. k.At is ignored: the record is stamped with the time of the change.
// It reports whether anything changed; nothing is written otherwise.
// Addresses beyond the first 32, and any longer than 256 bytes, are left
// out. This device's own ID is refused.
func (s *Space) NoteAddrs(ctx context.Context, deviceID string, k KnownAddrs) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if !validDeviceID(deviceID) || deviceID == s.Self().DeviceID {
		return false, fmt.Errorf("note the addresses of %q: not another device of the space: %w", deviceID, trustsync.ErrInvalid)
	}
	addrs, relayed := keepAddrs(k.Addrs), keepAddrs(k.Relayed)
	if len(k.Observed) > maxAddrLen {
		k.Observed = ""
	}
	changed := false
	err := s.st.Update(ctx, func(tx trustsync.Tx) error {
		changed = false
		var cur KnownAddrs
		if b, err := tx.Get(knownAddrsKey(deviceID)); err == nil {
			_ = json.Unmarshal(b, &cur) // unreadable: replaced
		} else if !errors.Is(err, trustsync.ErrNotFound) {
			return err
		}
		next := cur
		if addrs != nil {
			next.Addrs = addrs
		}
		if relayed != nil {
			next.Relayed = relayed
		}
		if k.Observed != "" {
			next.Observed = k.Observed
		}
		if slices.Equal(next.Addrs, cur.Addrs) && next.Observed == cur.Observed && slices.Equal(next.Relayed, cur.Relayed) {
			return nil
		}
		next.At = ms(s.now())
		b, err := json.Marshal(next)
		if err != nil {
			return err
		}
		changed = true
		return tx.Put(knownAddrsKey(deviceID), b)
	})
	if err != nil {
		return false, fmt.Errorf("note the addresses of %s: %w", deviceID, err)
	}
	return changed, nil
}

// keepAddrs returns the addresses NoteAddrs keeps of addrs: nil for nil,
// each once, at most 32, none longer than 256 bytes.
func keepAddrs(addrs []string) []string {
	if addrs == nil {
		return nil
	}
	out := []string{}
	for _, a := range addrs {
		if a != "" && len(a) <= maxAddrLen && !slices.Contains(out, a) && len(out) < maxKnownAddrs {
			out = append(out, a)
		}
	}
	return out
}
