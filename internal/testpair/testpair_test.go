package testpair_test

import (
	"context"
	"slices"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/testpair"
	"github.com/trustsync/trustsync/store"
)

func newSpace(t *testing.T, member string) *crdt.Space {
	t.Helper()
	st := store.NewMemory()
	t.Cleanup(func() { st.Close() })
	s, err := crdt.Create(context.Background(), st, crdt.CreateOptions{MemberName: member, DeviceName: member + "-laptop"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestNodes pairs three devices: all share the first one's space, each
// lists every other device with its owner and key and knows where it
// listens, and a
// boundary one writes is taken by another as that person's.
func TestNodes(t *testing.T) {
	ctx := context.Background()
	alex, sam, robin := newSpace(t, "Alex"), newSpace(t, "Sam"), newSpace(t, "Robin")
	addrs := map[*crdt.Space][]string{
		alex: {"/ip4/127.0.0.1/tcp/4001"}, sam: {"/ip4/127.0.0.1/tcp/4002"}, robin: nil,
	}
	testpair.Nodes(t, testpair.Node{Space: alex, Addrs: addrs[alex]}, testpair.Node{Space: sam, Addrs: addrs[sam]},
		testpair.Node{Space: robin})
	spaces := []*crdt.Space{alex, sam, robin}
	for _, s := range spaces {
		if s.Self().SpaceID != alex.Self().SpaceID {
			t.Fatalf("%s is in space %s, want Alex's %s", s.Self().MemberName, s.Self().SpaceID, alex.Self().SpaceID)
		}
		ms, err := s.Members(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range spaces {
			if o == s {
				continue
			}
			want := testpair.Device(t, o)
			var got *trustsync.Device
			for _, m := range ms {
				for _, d := range m.Devices {
					if d.ID == want.ID {
						got = &d
					}
				}
			}
			switch {
			case got == nil:
				t.Errorf("%s does not list %s's device", s.Self().MemberName, want.Owner.Name)
			case got.Owner.ID != want.Owner.ID || got.PeerID != want.PeerID:
				t.Errorf("%s lists %s's device as %+v, want owner %s and peer %s",
					s.Self().MemberName, want.Owner.Name, *got, want.Owner.ID, want.PeerID)
			}
			// Where the device listens is this device's own knowledge.
			known, err := s.KnownAddrs(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(known.Addrs, addrs[o]) {
				t.Errorf("%s knows %s's device at %v, want %v", s.Self().MemberName, want.Owner.Name, known.Addrs, addrs[o])
			}
		}
	}

	id, err := sam.AddBoundary(ctx, "We talk before bed")
	if err != nil {
		t.Fatal(err)
	}
	data, err := sam.SaveSigned(ctx, crdt.BoundariesDoc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := robin.Import(ctx, crdt.BoundariesDoc, data, sam.Self().DeviceID); err != nil {
		t.Fatalf("Robin taking Sam's boundaries: %v", err)
	}
	bs, err := robin.Boundaries(ctx, crdt.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(bs, func(b trustsync.Boundary) bool { return b.ID == id && b.ProposedBy.Name == "Sam" }) {
		t.Fatalf("Robin's boundaries %+v lack Sam's %s by Sam", bs, id)
	}
}

// TestSpaces_MovesOnlyTheSpaceDocument: pairing moves no other document;
// the first sync is the test's.
func TestSpaces_MovesOnlyTheSpaceDocument(t *testing.T) {
	ctx := context.Background()
	alex, sam := newSpace(t, "Alex"), newSpace(t, "Sam")
	if _, err := alex.AddBoundary(ctx, "Phones away at dinner"); err != nil {
		t.Fatal(err)
	}
	testpair.Spaces(t, alex, sam)
	bs, err := sam.Boundaries(ctx, crdt.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 0 {
		t.Fatalf("Sam holds %d boundaries right after pairing, want none before a sync", len(bs))
	}
}
