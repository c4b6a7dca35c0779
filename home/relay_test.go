package home_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/home"
	tsync "github.com/trustsync/trustsync/sync"
)

// The last sync with a device keeps how the device was reached; a record
// from before paths reads back with the path not known.
func TestHome_RecordSyncPath(t *testing.T) {
	ctx := context.Background()
	h, err := home.Open(create(t, false, home.NoKeeper()), home.Options{Keeper: home.NoKeeper()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, p := range []tsync.Path{tsync.PathRelayed, tsync.PathHolePunched, tsync.PathDirect, tsync.PathUnreachable} {
		if err := h.RecordSync(ctx, "dev1", at, p); err != nil {
			t.Fatal(err)
		}
		got, path, ok, err := h.LastSyncPath(ctx, "dev1")
		if err != nil || !ok || !got.Equal(at) || path != p {
			t.Fatalf("LastSyncPath after recording %s = %v, %s, %v, %v", p, got, path, ok, err)
		}
		if got, ok, err := h.LastSync(ctx, "dev1"); err != nil || !ok || !got.Equal(at) {
			t.Fatalf("LastSync = %v, %v, %v", got, ok, err)
		}
	}
	if _, _, ok, err := h.LastSyncPath(ctx, "never"); err != nil || ok {
		t.Fatalf("a device never synced: %v, %v", ok, err)
	}
}

// StartNode passes the network switches and extra relays to the node; a
// relay address that cannot be one is refused before anything starts.
func TestHome_StartNode_Relays(t *testing.T) {
	ctx := context.Background()
	h, err := home.Open(create(t, false, home.NoKeeper()), home.Options{Keeper: home.NoKeeper()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	_, err = h.StartNode(ctx, home.NodeOptions{Relays: []string{"/ip4/127.0.0.1/tcp/4001"}})
	if !errors.Is(err, trustsync.ErrInvalid) {
		t.Fatalf("StartNode with a relay address without /p2p/: %v, want ErrInvalid", err)
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	relay := "/ip4/127.0.0.1/tcp/9/p2p/" + id.String()
	var cfg tsync.Config
	n, err := h.StartNode(ctx, home.NodeOptions{Relays: []string{relay}, NoHolePunch: true, NoAutoNAT: true,
		Configure: func(c *tsync.Config) { cfg = *c }})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if len(cfg.Relays) != 1 || cfg.Relays[0].ID != id || !cfg.NoHolePunch || !cfg.NoAutoNAT || cfg.NoRelay {
		t.Fatalf("the node's configuration: relays %v, no hole punch %v, no AutoNAT %v, no relay %v",
			cfg.Relays, cfg.NoHolePunch, cfg.NoAutoNAT, cfg.NoRelay)
	}
	if rs := n.Relays(); len(rs) != 1 || rs[0].ID != id {
		t.Fatalf("the node uses the relays %v", rs)
	}
}
