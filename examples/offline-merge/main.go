// Command offline-merge is trustsync's demo: two partners' devices on this
// machine, each with its own home on disk (opened with package home, as
// the trustsync command opens it), pair (a one-time invite, matching
// confirmation codes) and sync over libp2p on 127.0.0.1, go offline, both
// keep writing (even the same boundary at the same time), and when they
// meet again every edit from both sides arrives and both devices agree. It
// prints what each partner typed, then what each device shows after the
// merge.
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
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/sync"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "offline-merge:", err)
		os.Exit(1)
	}
}

// device is one partner's device: a home directory on disk and, while
// online, its sync node.
type device struct {
	name  string
	home  *home.Home
	space *crdt.Space
	node  *sync.Node
}

func newDevice(dir, name string) (*device, error) {
	h, err := home.Create(dir, home.CreateOptions{
		Name:   name,
		Device: strings.ToLower(name) + "-laptop",
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, // a port is picked at the first start, then kept
		NoMDNS: true,
	})
	if err != nil {
		return nil, err
	}
	return &device{name: name, home: h, space: h.Space()}, nil
}

// online starts the device's node. The home keeps the port it got the
// first time, as `trustsync` does, so that its partner can redial it.
func (d *device) online(ctx context.Context) error {
	n, err := d.home.StartNode(ctx, home.NodeOptions{Configure: func(c *sync.Config) {
		c.RedialMin, c.RedialMax = 50*time.Millisecond, time.Second
	}})
	if err != nil {
		return err
	}
	d.node = n
	return nil
}

func (d *device) offline() error {
	err := d.node.Close()
	d.node = nil
	return err
}

func (d *device) close() { d.home.Close() }

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

func run(w io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "trustsync-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	say("== Two devices, two homes on disk")
	alex, err := newDevice(filepath.Join(tmp, "alex"), "Alex")
	if err != nil {
		return err
	}
	defer alex.close()
	sam, err := newDevice(filepath.Join(tmp, "sam"), "Sam")
	if err != nil {
		return err
	}
	defer sam.close()
	if err := alex.online(ctx); err != nil {
		return err
	}
	if err := sam.online(ctx); err != nil {
		return err
	}
	say("Alex's laptop and Sam's laptop are online on 127.0.0.1.")

	say("\n== Pairing: Alex's laptop invites, Sam's laptop joins over libp2p")
	if _, err := pair(ctx, alex, sam); err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	say("Both laptops show the same six-digit code: they compare it, it matches, they are paired.")

	say("\n== Online: a first boundary each and a first check-in")
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	err = sam.node.Connect(cctx, alex.node.AddrInfo())
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	const (
		moneyText   = "We talk before any purchase over 100"
		sundayText  = "We check in every Sunday evening"
		checkInNote = "A hard week, but I felt heard on Tuesday."
	)
	money, err := alex.space.AddBoundary(ctx, moneyText)
	if err != nil {
		return err
	}
	sunday, err := sam.space.AddBoundary(ctx, sundayText)
	if err != nil {
		return err
	}
	firstCheckIn, err := alex.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: checkInNote})
	if err != nil {
		return err
	}
	say("  Alex typed the boundary %q", moneyText)
	say("  Sam  typed the boundary %q", sundayText)
	say("  Alex typed a check-in, mood 3/5: %q", checkInNote)
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
	say("Synced: both devices hold the same changes.")

	say("\n== Offline: both devices go offline, and each partner keeps writing")
	if err := errors.Join(alex.offline(), sam.offline()); err != nil {
		return err
	}
	type edit struct {
		who  string
		what string // what the partner did, with the words typed
		fn   func() (string, error)
	}
	const (
		alexMoney = "We talk before any purchase over 100 euros"
		samMoney  = "We always talk before any purchase over 100"
		alexNew   = "Passwords stay private; we share plans instead"
		samNew    = "No contact with the other person"
		goal      = "Rebuild our Saturday walks"
		why       = "time that is only ours"
		step      = "Walk to the lake this Saturday"
		reply     = "Thank you for telling me."
		samNote   = "The walk helped. I want more of those."
	)
	var want []string // IDs every device must show in the end
	edits := []edit{
		{"Alex", fmt.Sprintf("edits the purchase boundary to %q", alexMoney), func() (string, error) {
			return "", alex.space.EditBoundary(ctx, money, alexMoney)
		}},
		{"Sam", fmt.Sprintf("edits the same boundary, at the same time, to %q", samMoney), func() (string, error) {
			return "", sam.space.EditBoundary(ctx, money, samMoney)
		}},
		{"Alex", fmt.Sprintf("agrees to %q", sundayText), func() (string, error) {
			return "", alex.space.AgreeBoundary(ctx, sunday)
		}},
		{"Sam", fmt.Sprintf("agrees to %q", sundayText), func() (string, error) {
			return "", sam.space.AgreeBoundary(ctx, sunday)
		}},
		{"Alex", fmt.Sprintf("adds the boundary %q", alexNew), func() (string, error) {
			return alex.space.AddBoundary(ctx, alexNew)
		}},
		{"Sam", fmt.Sprintf("adds the boundary %q", samNew), func() (string, error) {
			return sam.space.AddBoundary(ctx, samNew)
		}},
		{"Alex", fmt.Sprintf("adds the goal %q (why: %q) with the step %q", goal, why, step), func() (string, error) {
			g, err := alex.space.AddGoal(ctx, goal, why)
			if err == nil {
				_, err = alex.space.AddStep(ctx, g, step)
			}
			return g, err
		}},
		{"Sam", fmt.Sprintf("replies to Alex's check-in: %q", reply), func() (string, error) {
			return "", sam.space.AckCheckIn(ctx, firstCheckIn, reply)
		}},
		{"Sam", fmt.Sprintf("writes a check-in, mood 4/5, feeling hopeful: %q", samNote), func() (string, error) {
			return sam.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Feelings: []string{"hopeful"}, Note: samNote})
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

	say("\n== Back online: each device redials the other at the addresses it kept")
	if err := alex.online(ctx); err != nil {
		return err
	}
	if err := sam.online(ctx); err != nil {
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
	say("\n== What Alex's laptop shows after the merge\n%s", a)
	say("== What Sam's laptop shows after the merge\n%s", b)

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
