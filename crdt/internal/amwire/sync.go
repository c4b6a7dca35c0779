package amwire

import (
	"bytes"
	"fmt"
	"math"
)

// Sync message types.
const (
	syncMessageV1 = 0x42
	syncMessageV2 = 0x43 // carries a whole document; not produced by the automerge-go we use
)

// ParseSyncMessage parses a sync message, as automerge.SyncMessage.Bytes
// returns it, and every change it carries.
func ParseSyncMessage(b []byte, lim Limits) (*SyncMessage, error) {
	m, err := parseSyncMessage(b, lim)
	if err != nil {
		return nil, fmt.Errorf("amwire: sync message: %w", err)
	}
	return m, nil
}

func parseSyncMessage(b []byte, lim Limits) (*SyncMessage, error) {
	p := newParser(lim)
	if err := p.checkSize(b); err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, malformed("empty")
	}
	switch b[0] {
	case syncMessageV1:
	case syncMessageV2:
		return nil, unsupported("message type 0x%02x (a whole document)", b[0])
	default:
		return nil, unsupported("unknown message type 0x%02x", b[0])
	}
	r := reader{b: b, off: 1}
	m := &SyncMessage{}
	var err error
	if m.Heads, err = r.hashes(); err != nil {
		return nil, fmt.Errorf("heads: %w", err)
	}
	if m.Need, err = r.hashes(); err != nil {
		return nil, fmt.Errorf("need: %w", err)
	}
	// Each "have" takes at least two bytes.
	nHave, err := r.count(r.left() / 2)
	if err != nil {
		return nil, fmt.Errorf("have: %w", err)
	}
	if nHave > p.lim.MaxChanges {
		return nil, fmt.Errorf("have: %w", overLimit("%d entries exceed the limit of %d", nHave, p.lim.MaxChanges))
	}
	if nHave > 0 {
		m.Have = make([]Have, nHave)
	}
	for i := range m.Have {
		h := &m.Have[i]
		if h.LastSync, err = r.hashes(); err != nil {
			return nil, fmt.Errorf("have %d: last sync: %w", i, err)
		}
		bloom, err := r.lenBytes()
		if err != nil {
			return nil, fmt.Errorf("have %d: bloom filter: %w", i, err)
		}
		if err := checkBloom(bloom); err != nil {
			return nil, fmt.Errorf("have %d: bloom filter: %w", i, err)
		}
		h.Bloom = bytes.Clone(bloom)
	}
	// Each change takes at least one byte.
	nChanges, err := r.count(r.left())
	if err != nil {
		return nil, fmt.Errorf("changes: %w", err)
	}
	if nChanges > p.lim.MaxChanges {
		return nil, fmt.Errorf("changes: %w", overLimit("%d changes exceed the limit of %d", nChanges, p.lim.MaxChanges))
	}
	if nChanges > 0 {
		m.Changes = make([]*Change, 0, nChanges)
	}
	for i := 0; i < nChanges; i++ {
		cb, err := r.lenBytes()
		if err != nil {
			return nil, fmt.Errorf("change %d: %w", i, err)
		}
		p.changes++
		c, n, err := p.chunk(cb)
		if err != nil {
			return nil, fmt.Errorf("change %d: %w", i, err)
		}
		if n != len(cb) {
			return nil, fmt.Errorf("change %d: %w", i, malformed("%d bytes after the chunk", len(cb)-n))
		}
		m.Changes = append(m.Changes, c)
	}
	if !r.done() {
		flags, err := r.lenBytes()
		if err != nil {
			return nil, fmt.Errorf("flags: %w", err)
		}
		if !r.done() {
			return nil, malformed("%d bytes after the flags", r.left())
		}
		m.Flags = bytes.Clone(flags)
	}
	return m, nil
}

// checkBloom checks that a Bloom filter's encoding is whole: empty, or
// three 32-bit numbers (entries, bits per entry, probes) and at least
// entries*bits/8 bytes of bits.
func checkBloom(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	r := reader{b: b}
	var v [3]uint64
	for i := range v {
		n, err := r.uleb()
		if err != nil {
			return err
		}
		if n > math.MaxUint32 {
			return malformed("parameter %d exceeds 32 bits", n)
		}
		v[i] = n
	}
	need := (v[0]*v[1] + 7) / 8
	if need > uint64(r.left()) {
		return malformed("%d bytes of bits wanted, %d present", need, r.left())
	}
	return nil
}
