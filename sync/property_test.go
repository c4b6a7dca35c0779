package sync

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"pgregory.net/rapid"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// link is a running pair of sessions between two devices over a net.Pipe.
type link struct {
	cancel context.CancelFunc
	sa, sb *Session
}

func startLink(a, b *device) *link {
	ca, cb := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	l := &link{cancel: cancel,
		sa: NewSession(a.space, SessionConfig{Conn: ca, Initiator: true}),
		sb: NewSession(b.space, SessionConfig{Conn: cb})}
	go l.sa.Run(ctx)
	go l.sb.Run(ctx)
	return l
}

func (l *link) stop() {
	l.cancel()
	<-l.sa.Done()
	<-l.sb.Done()
}

// TestSession_ConvergenceProperty edits random devices while random links go
// up and down (a link cut mid-exchange included), then connects everyone and
// checks that all devices hold identical documents containing every edit
// that was acknowledged.
func TestSession_ConvergenceProperty(t *testing.T) {
	if !flagSet("rapid.checks") {
		// Each case builds real spaces; keep the run under a minute.
		flag.Set("rapid.checks", "60")
		defer flag.Set("rapid.checks", "100")
	}
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		n := rapid.IntRange(2, 3).Draw(rt, "devices")
		var devs []*device
		var cleanups []func()
		defer func() {
			for _, c := range cleanups {
				c()
			}
		}()
		for i := range n {
			d := newDeviceNoTB(rt, fmt.Sprintf("m%d", i))
			cleanups = append(cleanups, func() { d.space.Close(); d.st.Close() })
			devs = append(devs, d)
		}
		pairAll(rt, devs...)
		links := map[[2]int]*link{}
		defer func() {
			for _, l := range links {
				l.stop()
			}
		}()
		var acked []string
		steps := rapid.IntRange(1, 25).Draw(rt, "steps")
		for range steps {
			i := rapid.IntRange(0, n-1).Draw(rt, "device")
			d := devs[i]
			switch rapid.IntRange(0, 4).Draw(rt, "action") {
			case 0, 1:
				id, err := d.space.AddBoundary(ctx, rapid.StringMatching(`[a-z][a-z ]{0,11}`).Draw(rt, "text"))
				if err != nil {
					rt.Fatal(err)
				}
				acked = append(acked, "b:"+id)
			case 2:
				id, err := d.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: "n"})
				if err != nil {
					rt.Fatal(err)
				}
				acked = append(acked, "c:"+id)
			case 3: // link up or down
				j := rapid.IntRange(0, n-1).Draw(rt, "other")
				if i == j {
					continue
				}
				key := [2]int{min(i, j), max(i, j)}
				if l := links[key]; l != nil {
					if rapid.Bool().Draw(rt, "wait before cut") {
						time.Sleep(time.Millisecond)
					}
					l.stop()
					delete(links, key)
				} else {
					links[key] = startLink(devs[key[0]], devs[key[1]])
				}
			case 4: // edit an existing boundary, possibly concurrently elsewhere
				bs, err := d.space.Boundaries(ctx, crdt.ListOptions{})
				if err != nil {
					rt.Fatal(err)
				}
				if len(bs) > 0 {
					b := bs[rapid.IntRange(0, len(bs)-1).Draw(rt, "boundary")]
					if err := d.space.EditBoundary(ctx, b.ID, b.Text+"!"); err != nil {
						rt.Fatal(err)
					}
				}
			}
		}
		// Heal: link every pair, then wait until each is synced.
		for i := range n {
			for j := i + 1; j < n; j++ {
				if links[[2]int{i, j}] == nil {
					links[[2]int{i, j}] = startLink(devs[i], devs[j])
				}
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for round := 0; round < 2; round++ { // a second pass covers relayed changes
			for _, l := range links {
				if err := l.sa.WaitSynced(wctx); err != nil {
					rt.Fatalf("WaitSynced: %v", err)
				}
				if err := l.sb.WaitSynced(wctx); err != nil {
					rt.Fatalf("WaitSynced: %v", err)
				}
			}
		}
		sameState(rt, devs...)
		for _, d := range devs {
			for _, a := range acked {
				var err error
				if a[0] == 'b' {
					_, err = d.space.Boundary(ctx, a[2:])
				} else {
					_, err = d.space.CheckIn(ctx, a[2:])
				}
				if err != nil {
					rt.Fatalf("acknowledged edit %s missing: %v", a, err)
				}
			}
		}
	})
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// checksEnv names the environment variable that sets how many cases the
// convergence properties run (rapid's -rapid.checks, which wins when given).
const checksEnv = "TRUSTSYNC_PROPERTY_CHECKS"

// propertyChecks sets rapid's number of cases for one test: the
// -rapid.checks flag when given, else $TRUSTSYNC_PROPERTY_CHECKS, else def.
// On failure it says how to replay the failing case.
func propertyChecks(t *testing.T, def int) {
	t.Helper()
	if !flagSet("rapid.checks") {
		n := def
		if v := os.Getenv(checksEnv); v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil || n <= 0 {
				t.Fatalf("%s=%q: want a positive number of cases", checksEnv, v)
			}
		}
		old := flag.Lookup("rapid.checks").Value.String()
		flag.Set("rapid.checks", strconv.Itoa(n))
		t.Cleanup(func() { flag.Set("rapid.checks", old) })
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay the failing case with the -run and -rapid.seed (or -rapid.failfile) printed above, e.g.\n"+
				"\tgo test ./sync -run '^%s$' -rapid.seed=<seed>\n"+
				"more cases: %s=200 go test ./sync -run '^%s$'", t.Name(), checksEnv, t.Name())
		}
	})
}

// pnode is a device of TestNode_ConvergenceProperty with its running node,
// nil while it is offline.
type pnode struct {
	*device
	member string
	node   *Node
}

// startNode starts d's node on 127.0.0.1. The session's keep-alive is long
// enough that its watchdog never restarts a sync state within the test: the
// devices must converge without it.
func startNode(rt *rapid.T, d *pnode) {
	n, err := New(Config{Space: d.space, Store: d.st, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true,
		Logger: testLogger(), RedialMin: 20 * time.Millisecond, RedialMax: 500 * time.Millisecond,
		RefreshInterval: 50 * time.Millisecond, Session: SessionConfig{KeepAlive: 10 * time.Minute}})
	if err != nil {
		rt.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		rt.Fatal(err)
	}
	d.node = n
}

// stopNode takes d offline; with restart its space is closed and opened
// again from its store, like a process that restarts.
func stopNode(rt *rapid.T, d *pnode, restart bool) {
	if d.node != nil {
		d.node.Close()
		d.node = nil
	}
	if restart {
		d.space.Close()
		sp, err := crdt.Open(context.Background(), d.st, crdt.Options{})
		if err != nil {
			rt.Fatal(err)
		}
		d.space = sp
	}
}

// TestNode_ConvergenceProperty is crdt's convergence property through real
// nodes over libp2p on 127.0.0.1: two partners' devices, and in some cases
// a further device of one of them, paired with invites; random edits of
// every kind while connections are cut, devices go offline and restart
// from their stores. Once every device is online and connected to every
// other, all must hold identical documents and every acknowledged edit.
// The sessions' watchdog is kept out of the way, so the devices converge
// through the Automerge sync protocol alone. $TRUSTSYNC_PROPERTY_CHECKS
// sets the number of cases.
func TestNode_ConvergenceProperty(t *testing.T) {
	propertyChecks(t, 5)
	var retried atomic.Int64
	var lastErr atomic.Value
	defer func() {
		if n := retried.Load(); n > 0 {
			t.Logf("%d connects retried while healing; the last error: %v", n, lastErr.Load())
		}
	}()
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		n := rapid.IntRange(2, 3).Draw(rt, "devices")
		members := []string{"Alex", "Sam", rapid.SampledFrom([]string{"Alex", "Sam"}).Draw(rt, "owner of the further device")}
		var devs []*pnode
		defer func() {
			for _, d := range devs {
				stopNode(rt, d, false)
				d.space.Close()
				d.st.Close()
			}
		}()
		for i := range n {
			d := &pnode{device: newDeviceNoTB(rt, members[i]), member: members[i]}
			devs = append(devs, d)
			startNode(rt, d)
		}
		pairVia(rt, devs[0].node, devs[1].node, JoinOptions{})
		if n == 3 {
			inviter := devs[0]
			if members[2] == "Sam" {
				inviter = devs[1]
			}
			pairVia(rt, inviter.node, devs[2].node, JoinOptions{})
		}
		var boundaries, checkins, questions []string
		var acked []string // "kind:id" of items made
		pick := func(ids []string, label string) string {
			if len(ids) == 0 {
				return "zzzzzzzzzzzzzzzz"
			}
			return ids[rapid.IntRange(0, len(ids)-1).Draw(rt, label)]
		}
		steps := rapid.IntRange(1, 30).Draw(rt, "steps")
		for step := range steps {
			i := rapid.IntRange(0, n-1).Draw(rt, "device")
			d := devs[i]
			s := d.space
			text := fmt.Sprintf("%d %s", step, rapid.StringMatching(`[a-z][a-z ]{0,10}`).Draw(rt, "text"))
			var err error
			var id string
			switch rapid.IntRange(0, 15).Draw(rt, "action") {
			case 0:
				if id, err = s.AddBoundary(ctx, text); err == nil {
					boundaries = append(boundaries, id)
					acked = append(acked, "b:"+id)
				}
			case 1:
				err = s.EditBoundary(ctx, pick(boundaries, "b"), text)
			case 2:
				err = s.AgreeBoundary(ctx, pick(boundaries, "b"))
			case 3:
				if rapid.Bool().Draw(rt, "archive") {
					err = s.ArchiveBoundary(ctx, pick(boundaries, "b"))
				} else {
					err = s.RestoreBoundary(ctx, pick(boundaries, "b"))
				}
			case 4:
				if id, err = s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: trustsync.Mood(1 + step%5), Note: text}); err == nil {
					checkins = append(checkins, id)
					acked = append(acked, "c:"+id)
				}
			case 5:
				err = s.AckCheckIn(ctx, pick(checkins, "c"), text)
			case 6:
				if id, err = s.AskQuestion(ctx, text+"?"); err == nil {
					questions = append(questions, id)
				}
			case 7:
				err = s.AnswerQuestion(ctx, pick(questions, "q"), text)
			case 8:
				var g string
				if g, err = s.AddGoal(ctx, text, ""); err == nil {
					_, err = s.AddStep(ctx, g, "first "+text)
				}
			case 9:
				_, err = s.AddMoment(ctx, text, rapid.Bool().Draw(rt, "thanks"))
			case 10: // cut the connections of this device mid-exchange
				if d.node != nil {
					if rapid.Bool().Draw(rt, "wait before cut") {
						time.Sleep(time.Millisecond)
					}
					for _, o := range devs {
						if o != d && o.node != nil {
							d.node.Host().Network().ClosePeer(o.node.ID())
						}
					}
				}
			case 11: // offline, or back online
				if d.node != nil {
					stopNode(rt, d, false)
				} else {
					startNode(rt, d)
				}
			case 12: // restart from the store
				stopNode(rt, d, true)
				startNode(rt, d)
			case 14, 15: // a burst of edits on two connected devices: messages
				// cross edits made between receiving and replying
				o := devs[(i+1+rapid.IntRange(0, n-2).Draw(rt, "other"))%n]
				if d.node == nil || o.node == nil {
					continue
				}
				cctx, cancel := context.WithTimeout(ctx, time.Minute)
				err = d.node.Connect(cctx, o.node.AddrInfo())
				cancel()
				if errors.Is(err, ErrUnknownDevice) || dialFailed(err) {
					continue
				}
				if err != nil {
					rt.Fatalf("connect: %v", err)
				}
				if d.member != o.member && rapid.Bool().Draw(rt, "answers") {
					// Both partners answer a question at once: each
					// device reveals its answer on receiving the other's.
					q, err := d.space.AskQuestion(ctx, fmt.Sprintf("%d what now?", step))
					if err != nil {
						rt.Fatal(err)
					}
					wctx, cancel := context.WithTimeout(ctx, time.Minute)
					err = d.node.WaitSynced(wctx, o.node.ID()) // o holds d's heads
					cancel()
					if err != nil {
						rt.Fatalf("waiting for the question: %v", err)
					}
					for _, x := range []*pnode{d, o} {
						if err := x.space.AnswerQuestion(ctx, q, "answer of "+x.member); err != nil {
							rt.Fatal(err)
						}
					}
					continue
				}
				for e := range rapid.IntRange(1, 12).Draw(rt, "burst") {
					x := []*pnode{d, o}[e%2]
					if _, err := x.space.AddBoundary(ctx, fmt.Sprintf("%d burst %d", step, e)); err != nil {
						rt.Fatal(err)
					}
					time.Sleep(time.Duration(rapid.IntRange(0, 3).Draw(rt, "pause")) * time.Millisecond)
				}
			case 13: // connect to another device now
				o := devs[rapid.IntRange(0, n-1).Draw(rt, "other")]
				if o != d && d.node != nil && o.node != nil {
					cctx, cancel := context.WithTimeout(ctx, time.Minute)
					err = d.node.Connect(cctx, o.node.AddrInfo())
					cancel()
					if errors.Is(err, ErrUnknownDevice) || dialFailed(err) {
						// A further device that one side has not
						// heard of yet: refused, as it should be. Or
						// a dial that failed (two devices dialing each
						// other at once on loopback can fail the
						// handshake): the heal below connects again.
						err = nil
					}
					if err != nil {
						rt.Fatalf("connect: %v", err)
					}
				}
			}
			if errors.Is(err, trustsync.ErrNotFound) || errors.Is(err, trustsync.ErrInvalid) || errors.Is(err, crdt.ErrAnswered) {
				continue // not received yet, or refused to this person
			}
			if err != nil {
				rt.Fatalf("step %d: %v", step, err)
			}
		}
		// Heal: everyone online and connected to everyone, then wait until
		// every pair is synced, twice (a change may travel through a device,
		// and receiving an answer reveals one, which travels back).
		for _, d := range devs {
			if d.node == nil {
				startNode(rt, d)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute) // a hang detector
		defer cancel()
		for round := 0; round < 2; round++ {
			for i := range n {
				for j := i + 1; j < n; j++ {
					a, b := devs[i].node, devs[j].node
					// A dial can fail for a moment on loopback (both
					// sides dialing at once); the nodes redial, and so
					// does this, until the hang detector.
					for {
						err := a.Connect(wctx, b.AddrInfo())
						if err == nil {
							break
						}
						if wctx.Err() != nil {
							rt.Fatalf("connect %d to %d: %v", i, j, err)
						}
						retried.Add(1)
						lastErr.Store(err.Error())
						time.Sleep(50 * time.Millisecond)
					}
					if err := a.WaitSynced(wctx, b.ID()); err != nil {
						rt.Fatalf("device %d waiting for %d: %v", i, j, err)
					}
					if err := b.WaitSynced(wctx, a.ID()); err != nil {
						rt.Fatalf("device %d waiting for %d: %v", j, i, err)
					}
				}
			}
		}
		ds := make([]*device, n)
		for i, d := range devs {
			ds[i] = d.device
		}
		sameState(rt, ds...)
		for _, d := range devs {
			for _, a := range acked {
				var err error
				if a[0] == 'b' {
					_, err = d.space.Boundary(ctx, a[2:])
				} else {
					_, err = d.space.CheckIn(ctx, a[2:])
				}
				if err != nil {
					rt.Fatalf("acknowledged edit %s missing on %s: %v", a, d.member, err)
				}
			}
		}
	})
}

// dialFailed reports whether err is a failed libp2p dial, a network
// condition rather than a refusal.
func dialFailed(err error) bool {
	var de *swarm.DialError
	return errors.As(err, &de)
}
