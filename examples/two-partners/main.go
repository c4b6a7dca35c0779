// Command two-partners runs two partners' devices in one process, each
// with its own home on disk (opened with package home), online together on
// 127.0.0.1, and shows each edit reaching the other device live, as the
// events of the sync node report it.
//
//	go run ./examples/two-partners
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/sync"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "two-partners:", err)
		os.Exit(1)
	}
}

// partner is one partner's phone: a home and its running node.
type partner struct {
	home *home.Home
	node *sync.Node
}

func newPartner(ctx context.Context, dir, name string) (*partner, error) {
	h, err := home.Create(dir, home.CreateOptions{
		Name: name, Device: name + "-phone", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true,
	})
	if err != nil {
		return nil, err
	}
	n, err := h.StartNode(ctx, home.NodeOptions{})
	if err != nil {
		h.Close()
		return nil, err
	}
	return &partner{home: h, node: n}, nil
}

// pair pairs b's phone with a's: a invites, b joins with the invite.
func pair(ctx context.Context, a, b *partner) error {
	inv, err := a.node.Invite(ctx, sync.InviteOptions{})
	if err != nil {
		return err
	}
	defer inv.Close()
	joined := make(chan error, 1)
	go func() {
		_, err := b.node.Join(ctx, inv.Invite(), sync.JoinOptions{})
		joined <- err
	}()
	_, err = inv.Wait(ctx)
	return errors.Join(err, <-joined)
}

func run(w io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tmp, err := os.MkdirTemp("", "trustsync-two-partners-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	alex, err := newPartner(ctx, filepath.Join(tmp, "alex"), "Alex")
	if err != nil {
		return err
	}
	defer alex.home.Close() // also stops its node
	sam, err := newPartner(ctx, filepath.Join(tmp, "sam"), "Sam")
	if err != nil {
		return err
	}
	defer sam.home.Close()
	if err := pair(ctx, alex, sam); err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	events, stop := sam.node.Subscribe()
	defer stop()
	if err := sam.node.Connect(ctx, alex.node.AddrInfo()); err != nil {
		return err
	}
	fmt.Fprintln(w, "Alex's and Sam's phones are paired and online together.")

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

	id, err := alex.home.Space().AddBoundary(ctx, "We say it when we need space, and when we will be back")
	if err != nil {
		return err
	}
	took, err := arrive(crdt.KindBoundary, id)
	if err != nil {
		return err
	}
	b, err := sam.home.Space().Boundary(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Alex proposes a boundary; Sam's phone shows it %v later: %q\n", took.Round(time.Millisecond), b.Text)

	id, err = alex.home.Space().AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Note: "Thank you for dinner."})
	if err != nil {
		return err
	}
	if took, err = arrive(crdt.KindCheckIn, id); err != nil {
		return err
	}
	fmt.Fprintf(w, "Alex writes a check-in; it reaches Sam's phone %v later.\n", took.Round(time.Millisecond))

	if err := sam.home.Space().AckCheckIn(ctx, id, "It was lovely."); err != nil {
		return err
	}
	if err := sam.node.WaitSynced(ctx, alex.node.ID()); err != nil {
		return err
	}
	c, err := alex.home.Space().CheckIn(ctx, id)
	if err != nil {
		return err
	}
	for _, a := range c.Acks {
		fmt.Fprintf(w, "Sam replies; Alex's phone shows %s: %q\n", a.By.Name, a.Reply)
	}
	if len(c.Acks) != 1 {
		return fmt.Errorf("Alex sees %d acknowledgements, want 1", len(c.Acks))
	}
	return nil
}
