package crdt_test

import (
	"context"
	"fmt"
	"log"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

func ExampleCreate() {
	ctx := context.Background()
	st := store.NewMemory() // store.Open(dir, store.Options{}) keeps it on disk
	defer st.Close()

	s, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: "Sam", DeviceName: "sam-laptop"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ms, _ := s.Members(ctx)
	fmt.Println(ms[0].Name, "on", ms[0].Devices[0].Name)

	// A second Create on the same store is refused.
	_, err = crdt.Create(ctx, st, crdt.CreateOptions{MemberName: "Sam"})
	fmt.Println(err)
	// Output:
	// Sam on sam-laptop
	// create space: already initialised
}

func ExampleSpace_AddBoundary() {
	ctx := context.Background()
	st := store.NewMemory()
	defer st.Close()
	s, _ := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: "Sam", DeviceName: "sam-laptop"})
	defer s.Close()

	id, err := s.AddBoundary(ctx, "Phones away at dinner")
	if err != nil {
		log.Fatal(err)
	}
	b, _ := s.Boundary(ctx, id[:6]) // a unique prefix is enough
	fmt.Printf("%q proposed by %s, agreed: %v\n", b.Text, b.ProposedBy.Name, b.Agreed)

	_, err = s.AddBoundary(ctx, "   ")
	fmt.Println(err)
	// Output:
	// "Phones away at dinner" proposed by Sam, agreed: false
	// the boundary text is empty: invalid input
}

func ExampleSpace_AgreeBoundary() {
	ctx := context.Background()
	// Two partners, each on their own device and store.
	sam, alex := examplePair(ctx)
	defer sam.Close()
	defer alex.Close()

	id, _ := sam.AddBoundary(ctx, "We say where we are going")
	_ = sam.AgreeBoundary(ctx, id)
	exampleSync(ctx, sam, alex)

	b, _ := alex.Boundary(ctx, id)
	fmt.Println("agreed after Sam:", b.Agreed)

	_ = alex.AgreeBoundary(ctx, id)
	exampleSync(ctx, sam, alex)
	b, _ = sam.Boundary(ctx, id)
	fmt.Println("agreed after both:", b.Agreed)

	// Changing the text asks both again.
	_ = alex.EditBoundary(ctx, id, "We say where we are going and when we are back")
	exampleSync(ctx, sam, alex)
	b, _ = sam.Boundary(ctx, id)
	fmt.Println("agreed after an edit:", b.Agreed)
	// Output:
	// agreed after Sam: false
	// agreed after both: true
	// agreed after an edit: false
}

func ExampleSpace_Boundaries() {
	ctx := context.Background()
	st := store.NewMemory()
	defer st.Close()
	s, _ := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: "Sam", DeviceName: "sam-laptop"})
	defer s.Close()

	_, _ = s.AddBoundary(ctx, "No phones at dinner")
	old, _ := s.AddBoundary(ctx, "Home by ten")
	_, _ = s.AddBoundary(ctx, "Ask before sharing photos")
	_ = s.ArchiveBoundary(ctx, old)

	active, _ := s.Boundaries(ctx, crdt.ListOptions{})
	for _, b := range active {
		fmt.Println(b.Text)
	}
	all, _ := s.Boundaries(ctx, crdt.ListOptions{All: true})
	fmt.Println(len(all), "with the archived one")
	// Output:
	// No phones at dinner
	// Ask before sharing photos
	// 3 with the archived one
}

// examplePair makes two paired spaces the way pairing does.
func examplePair(ctx context.Context) (*crdt.Space, *crdt.Space) {
	sam, _ := crdt.Create(ctx, store.NewMemory(), crdt.CreateOptions{MemberName: "Sam", DeviceName: "sam-laptop"})
	alex, _ := crdt.Create(ctx, store.NewMemory(), crdt.CreateOptions{MemberName: "Alex", DeviceName: "alex-phone"})
	_ = alex.Adopt(ctx, sam.Self().SpaceID)
	for _, x := range [][2]*crdt.Space{{sam, alex}, {alex, sam}} {
		// Each device checked the other's key when they met.
		peerID, _ := x[1].PeerID(ctx)
		o := x[1].Self()
		_ = x[0].TrustDevice(ctx, trustsync.Device{ID: o.DeviceID, PeerID: peerID, Owner: trustsync.Person{ID: o.MemberID}})
		data, _ := x[1].SaveSigned(ctx, crdt.SpaceDoc)
		_, _ = x[0].Import(ctx, crdt.SpaceDoc, data, x[1].Self().DeviceID)
	}
	exampleSync(ctx, sam, alex)
	return sam, alex
}

// exampleSync runs the sync protocol between two spaces in memory; the sync
// package does the same over the network.
func exampleSync(ctx context.Context, a, b *crdt.Space) {
	pa, pb := a.Peer(b.Self().DeviceID), b.Peer(a.Self().DeviceID)
	docsA, _ := a.Docs(ctx)
	docsB, _ := b.Docs(ctx)
	for _, doc := range append(docsA, docsB...) {
		for moved := true; moved; {
			moved = false
			if m, ok, _ := pa.GenerateMessage(ctx, doc); ok {
				_, _ = pb.ReceiveMessage(ctx, doc, m)
				moved = true
			}
			if m, ok, _ := pb.GenerateMessage(ctx, doc); ok {
				_, _ = pa.ReceiveMessage(ctx, doc, m)
				moved = true
			}
		}
	}
}
