package sync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/trustsync/trustsync"
)

// TestNode_NotRunning checks that the methods needing a node online say
// whether it was never started or is closed, in errors an application can
// test with errors.Is, and do not panic.
func TestNode_NotRunning(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := newDevice(t, "Alex")
	n, err := New(Config{Space: d.space, Store: d.st, NoMDNS: true, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	var other peer.ID = "12D3KooWAdf6NedG8FnJNBEcDxzLg9WpM37EQe6ZMw25XHux8GtR"
	calls := []struct {
		name string
		call func() error
	}{
		{"SyncOnce", func() error { _, err := n.SyncOnce(ctx); return err }},
		{"WaitSynced", func() error { return n.WaitSynced(ctx, other) }},
		{"Connect", func() error { return n.Connect(ctx, peer.AddrInfo{ID: other}) }},
		{"Invite", func() error { _, err := n.Invite(ctx, InviteOptions{}); return err }},
		{"Join", func() error { _, err := n.Join(ctx, Invite{Peer: other}, JoinOptions{}); return err }},
		{"Unpair", func() error { _, err := n.Unpair(ctx); return err }},
	}
	check := func(t *testing.T, want error) {
		for _, c := range calls {
			t.Run(c.name, func(t *testing.T) {
				if err := c.call(); !errors.Is(err, want) {
					t.Fatalf("%s = %v, want an error wrapping %v", c.name, err, want)
				}
			})
		}
	}
	t.Run("before Start", func(t *testing.T) { check(t, ErrNotStarted) })
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err == nil {
		t.Fatal("a second Start succeeded")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("after Close", func(t *testing.T) { check(t, trustsync.ErrClosed) })
	if err := n.Start(ctx); !errors.Is(err, trustsync.ErrClosed) {
		t.Fatalf("Start after Close = %v, want an error wrapping trustsync.ErrClosed", err)
	}
}

// TestNode_SyncOnce_PartnerBack checks that SyncOnce reaches a device that
// did not answer the previous SyncOnce and is online now, rather than
// refusing to dial it for a while as libp2p does after a failed dial.
func TestNode_SyncOnce_PartnerBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	na, nb := a.start(t), b.start(t)
	connect(t, nb, na)
	waitSynced(t, nb, na)
	waitAddrs(t, b, a)
	listenA := addrStrings(na)
	must(t, na.Close())

	id, err := b.space.AddBoundary(ctx, "Phones away at dinner")
	must(t, err)
	short, stop := context.WithTimeout(ctx, time.Second)
	_, err = nb.SyncOnce(short)
	stop()
	if !errors.Is(err, ErrNoPeers) {
		t.Fatalf("SyncOnce with the partner offline = %v, want ErrNoPeers", err)
	}

	a.start(t, listenA...)
	r, err := nb.SyncOnce(ctx)
	if err != nil {
		t.Fatalf("SyncOnce once the partner is back: %v", err)
	}
	if r.Synced() != 1 {
		t.Fatalf("SyncOnce synced %d devices, want 1: %s", r.Synced(), r)
	}
	if _, err := a.space.Boundary(ctx, id); err != nil {
		t.Fatalf("the boundary did not reach the partner: %v", err)
	}
}

// TestNode_Subscribe_OfflineOnClose checks that the PeerOffline event a node
// reports for its own Close says so with trustsync.ErrClosed, which an app
// tells apart from the partner going offline (ErrOffline) and from a
// refusal.
func TestNode_Subscribe_OfflineOnClose(t *testing.T) {
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	na, nb := a.start(t), b.start(t)
	events, stop := na.Subscribe()
	defer stop()
	connect(t, na, nb)
	waitSynced(t, na, nb)
	must(t, na.Close())
	var offline []error
	for ev := range events { // closed by Close
		if ev.Type == PeerOffline {
			offline = append(offline, ev.Err)
		}
	}
	if len(offline) != 1 {
		t.Fatalf("got %d PeerOffline events, want 1: %v", len(offline), offline)
	}
	if err := offline[0]; !errors.Is(err, trustsync.ErrClosed) || errors.Is(err, ErrOffline) {
		t.Fatalf("PeerOffline.Err = %v, want an error wrapping trustsync.ErrClosed and not ErrOffline", err)
	}
}
