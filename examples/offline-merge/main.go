// Command offline-merge is trustsync's demo: two partners' devices on this
// machine, each with its own home on disk, pair (a one-time invite, matching
// confirmation codes) and sync over libp2p on 127.0.0.1, go offline, both keep writing (even the same boundary at the same time), and
// when they meet again every edit from both sides arrives and both devices
// agree.
//
//	go run ./examples/offline-merge
//
// It exits 0 when both devices end up identical with every edit present, and
// 1 with a message otherwise.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
	"github.com/trustsync/trustsync/sync"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "offline-merge:", err)
		os.Exit(1)
	}
}

// device is one partner's device: a home directory with its store, space
// and libp2p identity.
type device struct {
	name  string
	st    *store.Disk
	space *crdt.Space
	id    peer.ID
	node  *sync.Node
}

func newDevice(ctx context.Context, home, name string) (*device, error) {
	st, err := store.Open(home, store.Options{})
	if err != nil {
		return nil, err
	}
	sp, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: name, DeviceName: strings.ToLower(name) + "-laptop"})
	if err != nil {
		st.Close()
		return nil, err
	}
	key, err := sync.LoadOrCreateKey(ctx, st)
	if err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &device{name: name, st: st, space: sp, id: id}, nil
}

// online starts the device's node on 127.0.0.1. listen is empty the first
// time (any free port); later the device keeps its port, as `trustsync`
// does, so that its partner can redial it.
func (d *device) online(ctx context.Context, listen []string) error {
	if len(listen) == 0 {
		listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	n, err := sync.New(sync.Config{Space: d.space, Store: d.st, ListenAddrs: listen, NoMDNS: true,
		RedialMin: 50 * time.Millisecond, RedialMax: time.Second})
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		return err
	}
	d.node = n
	return nil
}

func (d *device) offline() []string {
	var addrs []string
	for _, a := range d.node.AddrInfo().Addrs {
		addrs = append(addrs, a.String())
	}
	d.node.Close()
	d.node = nil
	return addrs
}

func (d *device) close() {
	if d.node != nil {
		d.node.Close()
	}
	d.space.Close()
	d.st.Close()
}

// pair pairs Sam's device with Alex's the way `trustsync pair` does: Alex's
// device makes a one-time invite, Sam's device joins with it over libp2p, and
// both show the same six-digit confirmation code.
func pair(ctx context.Context, a, b *device) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	inv, err := a.node.Invite(ctx, sync.InviteOptions{})
	if err != nil {
		return "", err
	}
	defer inv.Close()
	invite, err := sync.ParseInvite(inv.Invite().String()) // what Sam types or scans
	if err != nil {
		return "", err
	}
	type result struct {
		res sync.PairResult
		err error
	}
	waited := make(chan result, 1)
	go func() {
		res, err := inv.Wait(ctx)
		waited <- result{res, err}
	}()
	joined, err := b.node.Join(ctx, invite, sync.JoinOptions{})
	if err != nil {
		return "", err
	}
	invited := <-waited
	if invited.err != nil {
		return "", invited.err
	}
	if invited.res.Code != joined.Code {
		return "", fmt.Errorf("the codes differ: %s on %s's device, %s on %s's", invited.res.Code, a.name, joined.Code, b.name)
	}
	return joined.Code, nil
}

func waitSynced(ctx context.Context, a, b *device) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := a.node.WaitSynced(ctx, b.node.ID()); err != nil {
		return fmt.Errorf("%s and %s did not sync: %w", a.name, b.name, err)
	}
	return b.node.WaitSynced(ctx, a.node.ID())
}

func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

func run() error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "trustsync-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	say("== Two devices, two homes on disk (%s)", tmp)
	alex, err := newDevice(ctx, filepath.Join(tmp, "alex"), "Alex")
	if err != nil {
		return err
	}
	defer alex.close()
	sam, err := newDevice(ctx, filepath.Join(tmp, "sam"), "Sam")
	if err != nil {
		return err
	}
	defer sam.close()
	say("Alex's laptop is %s", alex.id)
	say("Sam's laptop is  %s", sam.id)
	if err := alex.online(ctx, nil); err != nil {
		return err
	}
	if err := sam.online(ctx, nil); err != nil {
		return err
	}

	say("\n== Pairing: Alex's laptop invites, Sam's laptop joins over libp2p on 127.0.0.1")
	code, err := pair(ctx, alex, sam)
	if err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	say("Both laptops show the code %s: they compare it, it matches, they are paired.", code)

	say("\n== Online: a first boundary and a first check-in")
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	err = sam.node.Connect(cctx, alex.node.AddrInfo())
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	money, err := alex.space.AddBoundary(ctx, "We talk before any purchase over 100")
	if err != nil {
		return err
	}
	sunday, err := sam.space.AddBoundary(ctx, "We check in every Sunday evening")
	if err != nil {
		return err
	}
	firstCheckIn, err := alex.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: "A hard week, but I felt heard on Tuesday."})
	if err != nil {
		return err
	}
	if err := waitSynced(ctx, alex, sam); err != nil {
		return err
	}
	// Each device tells the other its addresses in the session, and each
	// keeps what it was told (on its own device, never in the shared
	// space) to redial later; let that happen before going offline.
	if err := waitAddrs(ctx, alex, sam); err != nil {
		return err
	}
	if err := waitAddrs(ctx, sam, alex); err != nil {
		return err
	}
	say("Alex proposed %q; Sam proposed %q; Alex wrote a check-in.", "We talk before any purchase over 100", "We check in every Sunday evening")
	say("Synced: both devices hold the same changes.")

	say("\n== Offline: both devices go offline and keep writing")
	alexAddrs, samAddrs := alex.offline(), sam.offline()
	type edit struct {
		who  string
		what string
		fn   func() (string, error)
	}
	var want []string // IDs every device must show in the end
	edits := []edit{
		{"Alex", "edits the purchase boundary (Sam edits it at the same time)", func() (string, error) {
			return "", alex.space.EditBoundary(ctx, money, "We talk before any purchase over 100 euros")
		}},
		{"Sam", "edits the same boundary", func() (string, error) {
			return "", sam.space.EditBoundary(ctx, money, "We always talk before any purchase over 100")
		}},
		{"Alex", "agrees to the Sunday check-in boundary", func() (string, error) {
			return "", alex.space.AgreeBoundary(ctx, sunday)
		}},
		{"Sam", "agrees to the Sunday check-in boundary", func() (string, error) {
			return "", sam.space.AgreeBoundary(ctx, sunday)
		}},
		{"Alex", "adds a boundary", func() (string, error) {
			return alex.space.AddBoundary(ctx, "Passwords stay private; we share plans instead")
		}},
		{"Sam", "adds a boundary", func() (string, error) {
			return sam.space.AddBoundary(ctx, "No contact with the other person")
		}},
		{"Alex", "adds a goal with a step", func() (string, error) {
			g, err := alex.space.AddGoal(ctx, "Rebuild our Saturday walks", "time that is only ours")
			if err == nil {
				_, err = alex.space.AddStep(ctx, g, "Walk to the lake this Saturday")
			}
			return g, err
		}},
		{"Sam", "acknowledges Alex's check-in with a reply", func() (string, error) {
			return "", sam.space.AckCheckIn(ctx, firstCheckIn, "Thank you for telling me.")
		}},
		{"Sam", "writes a check-in", func() (string, error) {
			return sam.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Feelings: []string{"hopeful"}, Note: "The walk helped. I want more of those."})
		}},
	}
	for _, e := range edits {
		id, err := e.fn()
		if err != nil {
			return fmt.Errorf("%s %s: %w", e.who, e.what, err)
		}
		if id != "" {
			want = append(want, id)
		}
		say("  %-4s %s", e.who, e.what)
	}

	say("\n== Back online: each device redials the other from the addresses it kept")
	if err := alex.online(ctx, alexAddrs); err != nil {
		return err
	}
	if err := sam.online(ctx, samAddrs); err != nil {
		return err
	}
	if err := waitSynced(ctx, alex, sam); err != nil {
		return err
	}
	say("Synced again.")

	a, err := render(ctx, alex)
	if err != nil {
		return err
	}
	b, err := render(ctx, sam)
	if err != nil {
		return err
	}
	say("\n== What Alex's laptop shows\n%s", a)
	say("== What Sam's laptop shows\n%s", b)

	var problems []string
	if a != b {
		problems = append(problems, "the two devices show different things")
	}
	for _, d := range []*device{alex, sam} {
		for _, id := range want {
			_, errB := d.space.Boundary(ctx, id)
			_, errG := d.space.Goal(ctx, id)
			_, errC := d.space.CheckIn(ctx, id)
			if errB != nil && errG != nil && errC != nil {
				problems = append(problems, fmt.Sprintf("%s's device lacks %s", d.name, id))
			}
		}
		bd, err := d.space.Boundary(ctx, money)
		if err != nil {
			return err
		}
		if !strings.Contains(bd.Text, "euros") || !strings.Contains(bd.Text, "always") {
			problems = append(problems, fmt.Sprintf("%s's device lost one of the concurrent edits: %q", d.name, bd.Text))
		}
		sb, err := d.space.Boundary(ctx, sunday)
		if err != nil {
			return err
		}
		if !sb.Agreed {
			problems = append(problems, fmt.Sprintf("%s's device does not show both agreements to the Sunday boundary", d.name))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	say("Every edit from both devices arrived, and both devices agree.")
	return nil
}

// render describes a space as a partner would read it.
func render(ctx context.Context, d *device) (string, error) {
	var b strings.Builder
	bs, err := d.space.Boundaries(ctx, crdt.ListOptions{})
	if err != nil {
		return "", err
	}
	b.WriteString("Boundaries:\n")
	for _, x := range bs {
		state := "waiting for agreement"
		if x.Agreed {
			state = "agreed by both"
		}
		fmt.Fprintf(&b, "  - %q (proposed by %s; %s)\n", x.Text, x.ProposedBy.Name, state)
	}
	gs, err := d.space.Goals(ctx, crdt.ListOptions{})
	if err != nil {
		return "", err
	}
	b.WriteString("Goals:\n")
	for _, g := range gs {
		fmt.Fprintf(&b, "  - %s (why: %s)\n", g.Title, g.Why)
		for _, s := range g.Steps {
			fmt.Fprintf(&b, "      step: %s\n", s.Text)
		}
	}
	cs, err := d.space.CheckIns(ctx)
	if err != nil {
		return "", err
	}
	b.WriteString("Check-ins (newest first):\n")
	for _, c := range cs {
		fmt.Fprintf(&b, "  - %s, mood %d/5: %q\n", c.Author.Name, c.Mood, c.Note)
		for _, a := range c.Acks {
			fmt.Fprintf(&b, "      %s replied: %q\n", a.By.Name, a.Reply)
		}
	}
	return b.String(), nil
}

// waitAddrs waits until d's device keeps addresses for other's device.
func waitAddrs(ctx context.Context, d, other *device) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		k, err := d.space.KnownAddrs(ctx, other.space.Self().DeviceID)
		if err != nil {
			return err
		}
		if len(k.Addrs) > 0 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%s's addresses never reached %s's device", other.name, d.name)
}
