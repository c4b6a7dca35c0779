package sync

import (
	"context"
	"flag"
	"fmt"
	"net"
	"testing"
	"time"

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
