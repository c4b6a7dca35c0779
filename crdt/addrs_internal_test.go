package crdt

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// A home that an earlier version wrote addresses into: its device deletes
// them from its record when it next records its peer ID, and the partner's
// device no longer sees them.
func TestSpace_SetDevicePeerDropsOldAddrs(t *testing.T) {
	ctx := context.Background()
	s := newTestSpace(t, store.NewMemory(), Options{})
	me := s.Self().DeviceID
	// What an earlier version wrote at each address change.
	for _, a := range []string{`["/ip4/192.0.2.1/tcp/4001"]`, `["/ip4/192.0.2.2/tcp/4001"]`} {
		_, err := s.write(ctx, SpaceDoc, func(doc *automerge.Doc, root *automerge.Map) (edit, error) {
			if err := setFields(getMap(root, "d:"+me), "peer_id", "12D3KooWold", "addrs", a); err != nil {
				return edit{}, err
			}
			return edit{action: "addrs", kind: KindDevice, item: me, summary: "updated the addresses",
				touched: []ItemRef{{KindDevice, me}}}, nil
		})
		noErr(t, err)
	}
	legacy := func() []string {
		ms := must[[]trustsync.Member](t)(s.Members(ctx))
		return ms[0].Devices[0].Addrs
	}
	if got := legacy(); !slices.Equal(got, []string{"/ip4/192.0.2.2/tcp/4001"}) {
		t.Fatalf("the earlier version's addresses read %v", got)
	}
	before := len(must[[]trustsync.Change](t)(s.History(ctx, HistoryOptions{})))
	noErr(t, s.SetDevicePeer(ctx, "12D3KooWold"))
	hist := must[[]trustsync.Change](t)(s.History(ctx, HistoryOptions{}))
	if len(hist) != before+1 || !strings.Contains(hist[0].Summary, "removed the old addresses") {
		t.Fatalf("history after the upgrade: %d changes (was %d), newest %+v", len(hist), before, hist[0])
	}
	if got := legacy(); len(got) != 0 {
		t.Fatalf("addresses still listed after SetDevicePeer: %v", got)
	}
	err := s.loaded(ctx, SpaceDoc, func(d *automerge.Doc) error {
		keys, err := getMap(d.RootMap(), "d:"+me).Keys()
		if err != nil {
			return err
		}
		if slices.Contains(keys, "addrs") {
			t.Errorf("the device record still has addrs: %v", keys)
		}
		return nil
	})
	noErr(t, err)
	noErr(t, s.SetDevicePeer(ctx, "12D3KooWold"))
	if after := len(must[[]trustsync.Change](t)(s.History(ctx, HistoryOptions{}))); after != before+1 {
		t.Fatalf("a second SetDevicePeer wrote %d more changes", after-before-1)
	}
}
