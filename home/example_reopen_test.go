package home_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/sync"
)

// Two devices paired once sync again in later runs: each home keeps the
// port its node listens on and the addresses of the partner's device, so
// opening the homes and starting their nodes is all it takes. What each
// partner wrote while apart merges.
func ExampleHome_StartNode() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "trustsync-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	alexDir, samDir := filepath.Join(dir, "alex"), filepath.Join(dir, "sam")
	opts := home.Options{Keeper: home.NoKeeper()}
	for _, d := range []struct{ dir, name string }{{alexDir, "Alex"}, {samDir, "Sam"}} {
		h, err := home.Create(d.dir, home.CreateOptions{Options: opts, Name: d.name,
			Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
		if err != nil {
			log.Fatal(err)
		}
		h.Close()
	}

	// The first run pairs the two devices (see the package example).
	alex, sam := open(alexDir, opts), open(samDir, opts)
	alexNode, samNode := startNode(ctx, alex), startNode(ctx, sam)
	inv, err := alexNode.Invite(ctx, sync.InviteOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := samNode.Join(ctx, inv.Invite(), sync.JoinOptions{}); err != nil {
		log.Fatal(err)
	}
	if _, err := inv.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	// Home.Close closes the nodes the home started, and the invitation
	// with them.
	if err := errors.Join(alex.Close(), sam.Close()); err != nil {
		log.Fatal(err)
	}

	// Apart, each partner writes on their own device.
	alex, sam = open(alexDir, opts), open(samDir, opts)
	defer alex.Close()
	defer sam.Close()
	if _, err := alex.Space().AddBoundary(ctx, "Phones away at dinner"); err != nil {
		log.Fatal(err)
	}
	if _, err := sam.Space().AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Feelings: []string{"anxious"}}); err != nil {
		log.Fatal(err)
	}

	// Sam's device goes online while Alex's is not: nobody answers.
	samNode = startNode(ctx, sam)
	short, stop := context.WithTimeout(ctx, time.Second)
	_, err = samNode.SyncOnce(short)
	stop()
	fmt.Println("Alex's device offline:", errors.Is(err, sync.ErrNoPeers))

	// Alex's device comes online on the port it kept; Sam's finds it there.
	startNode(ctx, alex)
	report, err := samNode.SyncOnce(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("synced with", report.Synced(), "device")
	for _, h := range []*home.Home{alex, sam} {
		fmt.Println(h.Space().Self().MemberName+"'s device:", summary(ctx, h.Space()))
	}
	// Output:
	// Alex's device offline: true
	// synced with 1 device
	// Alex's device: boundaries ["Phones away at dinner"], check-ins by [Sam]
	// Sam's device: boundaries ["Phones away at dinner"], check-ins by [Sam]
}

func open(dir string, opts home.Options) *home.Home {
	h, err := home.Open(dir, opts)
	if err != nil {
		log.Fatal(err)
	}
	return h
}

func startNode(ctx context.Context, h *home.Home) *sync.Node {
	n, err := h.StartNode(ctx, home.NodeOptions{})
	if err != nil {
		log.Fatal(err)
	}
	return n
}

// summary lists what a device shows: its boundaries and who wrote its
// check-ins.
func summary(ctx context.Context, sp *crdt.Space) string {
	bs, err := sp.Boundaries(ctx, crdt.ListOptions{})
	if err != nil {
		log.Fatal(err)
	}
	cs, err := sp.CheckIns(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var texts, authors []string
	for _, b := range bs {
		texts = append(texts, b.Text)
	}
	for _, c := range cs {
		authors = append(authors, c.Author.Name)
	}
	slices.Sort(texts)
	return fmt.Sprintf("boundaries %q, check-ins by %v", texts, authors)
}
