package sync

import (
	"context"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// Store metadata keys where a node notes when it last had a session with a
// device (seen) and when both last held the same changes (synced), as
// RFC 3339 times. They are this device's own notes, never shared.
func seenKey(deviceID string) string   { return "sync/seen/" + deviceID }
func syncedKey(deviceID string) string { return "sync/synced/" + deviceID }

// noteEvery is how often at most a node writes a device's notes while a
// live session keeps reporting syncs.
const noteEvery = 2 * time.Second

// DeviceStatus is one device of the couple as [Devices] lists it.
type DeviceStatus struct {
	trustsync.Device
	// This is true for the device the list was read on.
	This bool
	// Online is true while a node on this device has a session with it;
	// always false from [Devices], which reads the store only.
	Online bool
	// LastSeen is when this device last had a session with it, LastSynced
	// when the two last held the same changes; zero when never. They come
	// from this device's own notes: the list of devices is the same on
	// every device, these times are each device's own.
	LastSeen, LastSynced time.Time
}

// Devices lists every device of the space, the removed ones too, members
// in the order they joined and each member's devices in the order they were
// added, with what this device noted about each in st (which may be nil).
func Devices(ctx context.Context, sp *crdt.Space, st trustsync.Store) ([]DeviceStatus, error) {
	members, err := sp.Members(ctx)
	if err != nil {
		return nil, err
	}
	self := sp.Self().DeviceID
	var out []DeviceStatus
	for _, m := range members {
		for _, d := range m.Devices {
			d.Owner.Name = m.Name
			out = append(out, DeviceStatus{Device: d, This: d.ID == self})
		}
	}
	if st == nil {
		return out, nil
	}
	err = st.View(ctx, func(tx trustsync.ReadTx) error {
		for i := range out {
			out[i].LastSeen = readTime(tx, seenKey(out[i].ID))
			out[i].LastSynced = readTime(tx, syncedKey(out[i].ID))
		}
		return nil
	})
	return out, err
}

func readTime(tx trustsync.ReadTx, key string) time.Time {
	b, err := tx.Get(key)
	if err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}
	}
	return t
}

// Devices lists the space's devices as [Devices] does, with Online set
// for those this node has a session with.
func (n *Node) Devices(ctx context.Context) ([]DeviceStatus, error) {
	out, err := Devices(ctx, n.space, n.cfg.Store)
	if err != nil {
		return nil, err
	}
	online := map[string]bool{}
	for _, id := range n.Online() {
		online[id.String()] = true
	}
	for i := range out {
		out[i].Online = out[i].PeerID != "" && online[out[i].PeerID]
	}
	return out, nil
}
