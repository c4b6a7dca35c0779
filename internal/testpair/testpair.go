// Package testpair pairs the devices of tests by hand: it leaves their
// spaces as a pairing ceremony does, without a network and without the
// ceremony's codes. It is imported by tests only.
//
// # What a pairing leaves
//
// [Spaces] makes every space after the first take the first one's space
// ID ([crdt.Space.Adopt]), and every device trust every other's device
// key, as the ceremony checks it ([crdt.Space.TrustDevice]). Then, for
// every two devices in turn, each imports the other's signed space
// document, which carries the other's own member and device records, as
// the ceremony sends it, and vouches for the other device in its own
// space document ([crdt.Space.AddDevice]); the earlier device does so
// first, as the inviting device does before the joining one. No other
// document moves: the first sync is the test's, by the sync protocol, by
// copying documents, or by running nodes.
//
// [Nodes] does the same for devices whose sync nodes listen: each device
// record also holds the addresses the device listens on, so that the
// other's node can dial it.
//
// # What is not here
//
// Pairing through the ceremony itself (the sync package's Invite and Join)
// is the sync package's, and its own tests, which cannot import a package
// that imports sync, share one helper for it. Package crdt's own internal
// tests cannot import this package either (it imports crdt): they keep one
// copy of [Spaces] of their own. Tests that pair differently on purpose --
// as a further device of the same person, with the ceremony's notes in the
// history, or trusting a key other than the device's -- say so where they
// do it.
package testpair

import (
	"context"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// TB is what the helpers need of a *testing.T, a *testing.B, a *rapid.T
// or a testscript.TestScript.
type TB interface {
	Fatalf(format string, args ...any)
}

// helper marks the caller as a test helper when t can.
func helper(t TB) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
}

// Node is a device to pair whose sync node listens: its space and the
// addresses its node listens on.
type Node struct {
	Space *crdt.Space
	Addrs []string
}

// Device returns the record a paired device keeps of s's device: its ID,
// name and owner, and the peer ID of its key.
func Device(t TB, s *crdt.Space) trustsync.Device {
	helper(t)
	pid, err := s.PeerID(context.Background())
	if err != nil {
		t.Fatalf("pair: the peer ID of %s: %v", s.Self().DeviceName, err)
	}
	id := s.Self()
	return trustsync.Device{ID: id.DeviceID, Name: id.DeviceName, PeerID: pid,
		Owner: trustsync.Person{ID: id.MemberID, Name: id.MemberName}}
}

// Spaces pairs every two of spaces by hand, as the package doc says: the
// first one's space is theirs from then on. Each must have been created
// as a member of its own.
func Spaces(t TB, spaces ...*crdt.Space) {
	helper(t)
	nodes := make([]Node, len(spaces))
	for i, s := range spaces {
		nodes[i] = Node{Space: s}
	}
	Nodes(t, nodes...)
}

// Nodes is [Spaces] for devices whose nodes listen: each device record
// holds the addresses its node listens on.
func Nodes(t TB, nodes ...Node) {
	helper(t)
	ctx := context.Background()
	if len(nodes) < 2 {
		t.Fatalf("pair: %d devices, want two or more", len(nodes))
	}
	first := nodes[0].Space.Self()
	for _, n := range nodes[1:] {
		if err := n.Space.Adopt(ctx, first.SpaceID); err != nil {
			t.Fatalf("pair: %s adopting %s's space: %v", n.Space.Self().DeviceName, first.DeviceName, err)
		}
	}
	devs := make([]trustsync.Device, len(nodes))
	for i, n := range nodes {
		devs[i] = Device(t, n.Space)
		devs[i].Addrs = n.Addrs
	}
	// Every device met every other first: with more than two, a space
	// document carries the records of devices met elsewhere, signed with
	// their keys.
	for i, n := range nodes {
		for j := range nodes {
			if i == j {
				continue
			}
			if err := n.Space.TrustDevice(ctx, devs[j]); err != nil {
				t.Fatalf("pair: %s trusting %s: %v", devs[i].Name, devs[j].Name, err)
			}
		}
	}
	for i := range nodes {
		for j := i + 1; j < len(nodes); j++ {
			take(t, nodes[i].Space, nodes[j].Space, devs[j])
			take(t, nodes[j].Space, nodes[i].Space, devs[i])
		}
	}
}

// take is one side of a pairing, after the keys were checked: s takes
// the space document of other, whose record is dev, and vouches for it.
func take(t TB, s, other *crdt.Space, dev trustsync.Device) {
	helper(t)
	ctx := context.Background()
	on := s.Self().DeviceName
	data, err := other.SaveSigned(ctx, crdt.SpaceDoc)
	if err != nil {
		t.Fatalf("pair: the space document of %s: %v", dev.Name, err)
	}
	if _, err := s.Import(ctx, crdt.SpaceDoc, data, dev.ID); err != nil {
		t.Fatalf("pair: %s taking the space document of %s: %v", on, dev.Name, err)
	}
	if err := s.AddDevice(ctx, dev); err != nil {
		t.Fatalf("pair: %s vouching for %s: %v", on, dev.Name, err)
	}
}
