package sync_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
	"github.com/trustsync/trustsync/sync"
)

// Two partners' devices on this machine sync a boundary over libp2p on
// 127.0.0.1.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	type device struct {
		space *crdt.Space
		st    trustsync.Store
		id    peer.ID
	}
	newDevice := func(name string) device {
		st := store.NewMemory()
		sp, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: name, DeviceName: name + "-laptop"})
		if err != nil {
			log.Fatal(err)
		}
		key, err := sync.LoadOrCreateKey(ctx, st)
		if err != nil {
			log.Fatal(err)
		}
		id, _ := peer.IDFromPrivateKey(key)
		return device{sp, st, id}
	}
	alex, sam := newDevice("Alex"), newDevice("Sam")
	defer alex.st.Close()
	defer sam.st.Close()
	defer alex.space.Close()
	defer sam.space.Close()

	// Pairing, by hand: Sam joins Alex's space, each trusts the other's
	// device key (what a pairing ceremony checks) and records its device and
	// peer ID. (The `trustsync pair` command does this for real.)
	if err := sam.space.Adopt(ctx, alex.space.Self().SpaceID); err != nil {
		log.Fatal(err)
	}
	for _, p := range [][2]device{{alex, sam}, {sam, alex}} {
		other := p[1].space.Self()
		d := trustsync.Device{ID: other.DeviceID, Name: other.DeviceName,
			Owner: trustsync.Person{ID: other.MemberID, Name: other.MemberName}, PeerID: p[1].id.String()}
		if err := p[0].space.TrustDevice(ctx, d); err != nil {
			log.Fatal(err)
		}
		data, err := p[1].space.SaveSigned(ctx, crdt.SpaceDoc) // its own records
		if err != nil {
			log.Fatal(err)
		}
		if _, err := p[0].space.Import(ctx, crdt.SpaceDoc, data, other.DeviceID); err != nil {
			log.Fatal(err)
		}
		if err := p[0].space.AddDevice(ctx, d); err != nil {
			log.Fatal(err)
		}
	}

	start := func(d device) *sync.Node {
		n, err := sync.New(sync.Config{Space: d.space, Store: d.st,
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
		if err != nil {
			log.Fatal(err)
		}
		if err := n.Start(ctx); err != nil {
			log.Fatal(err)
		}
		return n
	}
	na, ns := start(alex), start(sam)
	defer na.Close()
	defer ns.Close()
	if err := ns.Connect(ctx, na.AddrInfo()); err != nil {
		log.Fatal(err)
	}

	if _, err := alex.space.AddBoundary(ctx, "No phones at dinner"); err != nil {
		log.Fatal(err)
	}
	if err := na.WaitSynced(ctx, ns.ID()); err != nil {
		log.Fatal(err)
	}
	bs, err := sam.space.Boundaries(ctx, crdt.ListOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range bs {
		fmt.Printf("Sam's device shows %q, proposed by %s\n", b.Text, b.ProposedBy.Name)
	}
	// Output: Sam's device shows "No phones at dinner", proposed by Alex
}
