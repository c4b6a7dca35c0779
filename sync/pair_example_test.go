package sync_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
	"github.com/trustsync/trustsync/sync"
)

// Alex's device invites, Sam's device joins with the invite; both show the
// same confirmation code, sync, and later Sam unpairs from Sam's side alone.
func ExampleNode_Invite() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	start := func(name string) (*crdt.Space, *sync.Node) {
		st := store.NewMemory()
		closers = append(closers, st.Close)
		sp, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: name, DeviceName: name + "-laptop"})
		if err != nil {
			log.Fatal(err)
		}
		closers = append(closers, sp.Close)
		n, err := sync.New(sync.Config{Space: sp, Store: st,
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
		if err != nil {
			log.Fatal(err)
		}
		if err := n.Start(ctx); err != nil {
			log.Fatal(err)
		}
		closers = append(closers, n.Close)
		return sp, n
	}
	alex, na := start("Alex")
	sam, ns := start("Sam")

	// On Alex's device: an invite, shown to Sam (as text or a QR code).
	inv, err := na.Invite(ctx, sync.InviteOptions{TTL: 10 * time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	defer inv.Close()
	text := inv.Invite().String()

	// On Sam's device.
	parsed, err := sync.ParseInvite(text)
	if err != nil {
		log.Fatal(err)
	}
	joined, err := ns.Join(ctx, parsed, sync.JoinOptions{})
	if err != nil {
		log.Fatal(err)
	}
	invited, err := inv.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Sam joined:", invited.Remote.MemberName, "on", invited.Remote.DeviceName)
	fmt.Println("same code on both devices:", joined.Code == invited.Code)

	if _, err := alex.AddBoundary(ctx, "We talk before deciding about money"); err != nil {
		log.Fatal(err)
	}
	if err := na.WaitSynced(ctx, ns.ID()); err != nil {
		log.Fatal(err)
	}
	bs, _ := sam.Boundaries(ctx, crdt.ListOptions{})
	fmt.Printf("Sam's device shows %q\n", bs[0].Text)

	// Sam leaves: from one side, at once; Alex's device is told.
	res, err := ns.Unpair(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("unpaired:", res.Removed[0].Name, "told:", len(res.Told) == 1)
	devs, _ := sync.Devices(ctx, sam, nil)
	for _, d := range devs {
		fmt.Printf("%s of %s removed=%v\n", d.Name, d.Owner.Name, d.Removed)
	}
	// Unordered output:
	// Sam joined: Sam on Sam-laptop
	// same code on both devices: true
	// Sam's device shows "We talk before deciding about money"
	// unpaired: Alex-laptop told: true
	// Alex-laptop of Alex removed=true
	// Sam-laptop of Sam removed=false
}
