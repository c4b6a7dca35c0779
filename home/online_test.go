package home_test

import (
	"context"
	"errors"
	"testing"

	"github.com/trustsync/trustsync/home"
)

// TestHome_StartNode_Online checks that a home goes online through one node
// at a time: a second StartNode while the first node runs says so (rather
// than blaming another program for the port), and works again once the
// first node is closed.
func TestHome_StartNode_Online(t *testing.T) {
	ctx := context.Background()
	h, err := home.Open(create(t, false, home.NoKeeper()), home.Options{Keeper: home.NoKeeper()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	first, err := h.StartNode(ctx, home.NodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Running() {
		t.Fatal("a started node does not report Running")
	}
	_, err = h.StartNode(ctx, home.NodeOptions{})
	var inUse *home.PortInUseError
	if !errors.Is(err, home.ErrOnline) || errors.As(err, &inUse) {
		t.Fatalf("second StartNode = %v, want an error wrapping home.ErrOnline", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if first.Running() {
		t.Fatal("a closed node reports Running")
	}
	second, err := h.StartNode(ctx, home.NodeOptions{})
	if err != nil {
		t.Fatalf("StartNode after the first node closed: %v", err)
	}
	cfg, err := h.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := second.ListenAddrs(); len(got) != 1 || got[0] != cfg.Listen[0] {
		t.Fatalf("second node listens on %v, want the kept %v", got, cfg.Listen)
	}
}
