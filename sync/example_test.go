package sync_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
	"github.com/trustsync/trustsync/sync"
)

// Two partners' devices on this machine pair with an invite and sync over
// libp2p on 127.0.0.1, with mDNS off. Each device has its own store on disk
// and its own node; closing them in the reverse order of opening (node,
// space, store) leaves no goroutine behind.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "trustsync-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	device := func(name string) (*crdt.Space, *sync.Node) {
		st, err := store.Open(filepath.Join(dir, name), store.Options{})
		if err != nil {
			log.Fatal(err)
		}
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
		if err := n.Start(ctx); err != nil { // ctx bounds the start only
			log.Fatal(err)
		}
		closers = append(closers, n.Close)
		return sp, n
	}
	alex, alexNode := device("Alex")
	sam, samNode := device("Sam")

	// Nobody is paired yet: there is no one to sync with.
	_, err = samNode.SyncOnce(ctx)
	fmt.Println("before pairing:", errors.Is(err, sync.ErrNoPeers))

	// Alex's device makes an invite; its text travels to Sam's device (on
	// screen, as a QR code), which joins with it. Join returns once Sam's
	// device recorded the pairing, Wait once Alex's did.
	inv, err := alexNode.Invite(ctx, sync.InviteOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer inv.Close()
	parsed, err := sync.ParseInvite(inv.Invite().String())
	if err != nil {
		log.Fatal(err)
	}
	joined, err := samNode.Join(ctx, parsed, sync.JoinOptions{})
	if err != nil {
		log.Fatal(err)
	}
	invited, err := inv.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("paired with", invited.Remote.MemberName, "- same code on both:", joined.Code == invited.Code)

	// Each edits; one SyncOnce brings both devices in step.
	if _, err := alex.AddBoundary(ctx, "No phones at dinner"); err != nil {
		log.Fatal(err)
	}
	if _, err := sam.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Feelings: []string{"hopeful"}}); err != nil {
		log.Fatal(err)
	}
	report, err := samNode.SyncOnce(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("synced with", report.Synced(), "device")
	bs, err := sam.Boundaries(ctx, crdt.ListOptions{})
	if err != nil {
		log.Fatal(err)
	}
	cs, err := alex.CheckIns(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Sam's device shows %q, proposed by %s\n", bs[0].Text, bs[0].ProposedBy.Name)
	fmt.Printf("Alex's device shows %s feeling %v\n", cs[0].Author.Name, cs[0].Feelings)
	// Output:
	// before pairing: true
	// paired with Sam - same code on both: true
	// synced with 1 device
	// Sam's device shows "No phones at dinner", proposed by Alex
	// Alex's device shows Sam feeling [hopeful]
}
