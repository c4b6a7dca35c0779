package sync

import (
	"context"
	"testing"
	"time"
)

// TestPair_FirstSyncAfterPairing pairs fresh devices on 127.0.0.1 many
// times, with the node's default redial settings (as 'trustsync pair' runs
// them), and checks that the first sync right after Join and Wait returned
// succeeds on both sides, whichever side has the lower peer ID and so
// opens the sync stream.
func TestPair_FirstSyncAfterPairing(t *testing.T) {
	for i := range 20 {
		a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
		start := func(d *device) *Node {
			n, err := New(Config{Space: d.space, Store: d.st, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
				NoMDNS: true, Logger: testLogger()})
			must(t, err)
			must(t, n.Start(context.Background()))
			return n
		}
		na, nb := start(a), start(b)
		ctx := testCtx(t)
		inv, err := na.Invite(ctx, InviteOptions{})
		must(t, err)
		parsed, err := ParseInvite(inv.Invite().String())
		must(t, err)
		errs := make(chan error, 2)
		go func() {
			res, err := inv.Wait(ctx)
			if err == nil {
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err = na.WaitSynced(wctx, res.Peer)
				cancel()
			}
			inv.Close()
			errs <- err
		}()
		go func() {
			res, err := nb.Join(ctx, parsed, JoinOptions{})
			if err == nil {
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err = nb.WaitSynced(wctx, res.Peer)
				cancel()
			}
			errs <- err
		}()
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("pairing %d (inviter opens the stream: %v): %v", i, na.ID() < nb.ID(), err)
			}
		}
		na.Close()
		nb.Close()
	}
}
