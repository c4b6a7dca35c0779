package sync

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestPair_FirstSyncAfterPairing pairs fresh devices on 127.0.0.1 many
// times, with the node's default redial settings (as 'trustsync pair' runs
// them), and checks that the first sync right after Join and Wait returned
// succeeds on both sides, whichever side has the lower peer ID and so
// opens the sync stream. How long the first sync takes is not the point:
// a loaded machine may take seconds; a minute is a hang.
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
				err = waitFirstSync(ctx, na, res.Peer, "inviter")
			}
			inv.Close()
			errs <- err
		}()
		go func() {
			res, err := nb.Join(ctx, parsed, JoinOptions{})
			if err == nil {
				err = waitFirstSync(ctx, nb, res.Peer, "joiner")
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

// waitFirstSync waits, up to a minute from now whatever the pairing took,
// until node n synced with the peer it paired with; side names n in the
// error.
func waitFirstSync(ctx context.Context, n *Node, id peer.ID, side string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	start := time.Now()
	if err := n.WaitSynced(ctx, id); err != nil {
		return fmt.Errorf("the %s's first sync, after %v: %w", side, time.Since(start).Round(time.Millisecond), err)
	}
	return nil
}
