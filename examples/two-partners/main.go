// Command two-partners runs two partners' devices in one process, online
// together on 127.0.0.1, and shows each edit reaching the other device live,
// as the events of the sync node report it.
//
//	go run ./examples/two-partners
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
	"github.com/trustsync/trustsync/sync"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "two-partners:", err)
		os.Exit(1)
	}
}

type partner struct {
	st    trustsync.Store
	space *crdt.Space
	id    peer.ID
	node  *sync.Node
}

func newPartner(ctx context.Context, name string) (*partner, error) {
	st := store.NewMemory()
	sp, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: name, DeviceName: name + "-phone"})
	if err != nil {
		return nil, err
	}
	key, err := sync.LoadOrCreateKey(ctx, st)
	if err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(key)
	return &partner{st: st, space: sp, id: id}, err
}

func (p *partner) close() {
	if p.node != nil {
		p.node.Close()
	}
	p.space.Close()
	p.st.Close()
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alex, err := newPartner(ctx, "Alex")
	if err != nil {
		return err
	}
	defer alex.close()
	sam, err := newPartner(ctx, "Sam")
	if err != nil {
		return err
	}
	defer sam.close()

	// Pairing by hand; the `trustsync pair` command will do this for real.
	if err := sam.space.Adopt(ctx, alex.space.Self().SpaceID); err != nil {
		return err
	}
	for _, p := range [][2]*partner{{alex, sam}, {sam, alex}} {
		o := p[1].space.Self()
		d := trustsync.Device{ID: o.DeviceID, Name: o.DeviceName,
			Owner: trustsync.Person{ID: o.MemberID, Name: o.MemberName}, PeerID: p[1].id.String()}
		// A pairing ceremony checks that this is the other device's key;
		// only then are the changes it signs accepted.
		if err := p[0].space.TrustDevice(ctx, d); err != nil {
			return err
		}
		// The other device's own records come with its space document, as
		// pairing sends it; then this device vouches for it.
		data, err := p[1].space.SaveSigned(ctx, crdt.SpaceDoc)
		if err != nil {
			return err
		}
		if _, err := p[0].space.Import(ctx, crdt.SpaceDoc, data, o.DeviceID); err != nil {
			return err
		}
		if err := p[0].space.AddDevice(ctx, d); err != nil {
			return err
		}
	}
	for _, p := range []*partner{alex, sam} {
		n, err := sync.New(sync.Config{Space: p.space, Store: p.st, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
		if err != nil {
			return err
		}
		if err := n.Start(ctx); err != nil {
			return err
		}
		p.node = n
	}
	events, stop := sam.node.Subscribe()
	defer stop()
	if err := sam.node.Connect(ctx, alex.node.AddrInfo()); err != nil {
		return err
	}
	fmt.Println("Alex's and Sam's phones are online together.")

	arrive := func(kind, id string) (time.Duration, error) {
		start := time.Now()
		for {
			select {
			case ev := <-events:
				if ev.Type != sync.ChangesReceived {
					continue
				}
				for _, it := range ev.Received.Items {
					if it.Kind == kind && it.ID == id {
						return time.Since(start), nil
					}
				}
			case <-ctx.Done():
				return 0, fmt.Errorf("%s %s never reached Sam: %w", kind, id, ctx.Err())
			}
		}
	}

	id, err := alex.space.AddBoundary(ctx, "We say it when we need space, and when we will be back")
	if err != nil {
		return err
	}
	took, err := arrive(crdt.KindBoundary, id)
	if err != nil {
		return err
	}
	b, err := sam.space.Boundary(ctx, id)
	if err != nil {
		return err
	}
	fmt.Printf("Alex proposes a boundary; Sam's phone shows it %v later: %q\n", took.Round(time.Millisecond), b.Text)

	id, err = alex.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Note: "Thank you for dinner."})
	if err != nil {
		return err
	}
	if took, err = arrive(crdt.KindCheckIn, id); err != nil {
		return err
	}
	fmt.Printf("Alex writes a check-in; it reaches Sam's phone %v later.\n", took.Round(time.Millisecond))

	if err := sam.space.AckCheckIn(ctx, id, "It was lovely."); err != nil {
		return err
	}
	if err := sam.node.WaitSynced(ctx, alex.node.ID()); err != nil {
		return err
	}
	c, err := alex.space.CheckIn(ctx, id)
	if err != nil {
		return err
	}
	for _, a := range c.Acks {
		fmt.Printf("Sam replies; Alex's phone shows %s: %q\n", a.By.Name, a.Reply)
	}
	if len(c.Acks) != 1 {
		return fmt.Errorf("Alex sees %d acknowledgements, want 1", len(c.Acks))
	}
	return nil
}
