package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// Two devices named after the same host are told apart by an ID prefix in
// the text history, and --json gives each change its device's ID.
func TestHistory_DevicesWithOneName(t *testing.T) {
	a, b := strings.Repeat("3f2a91c0", 4), strings.Repeat("77e0b1d2", 4)
	c := "0123456789abcdef0123456789abcdef"
	r := &roster{self: crdt.Identity{DeviceID: a, DeviceName: "vm", MemberID: "m1"}, members: []trustsync.Member{
		{Person: trustsync.Person{ID: "m1", Name: "Alex"}, Devices: []trustsync.Device{{ID: a, Name: "vm"}, {ID: c, Name: "phone"}}},
		{Person: trustsync.Person{ID: "m2", Name: "Sam"}, Devices: []trustsync.Device{{ID: b, Name: "vm"}}},
	}}
	now := time.Now()
	hist := []trustsync.Change{
		{At: now, By: trustsync.Person{Name: "Alex"}, Device: "vm", DeviceID: a, Summary: "one"},
		{At: now, By: trustsync.Person{Name: "Sam"}, Device: "vm", DeviceID: b, Summary: "two"},
		{At: now, By: trustsync.Person{Name: "Alex"}, Device: "phone", DeviceID: c, Summary: "three"},
	}
	var out strings.Builder
	if err := writeHistory(&out, r, now, hist, ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"vm (3f2a91c0)", "vm (77e0b1d2)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("history lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "phone (") {
		t.Errorf("a device with a name of its own got an ID:\n%s", out.String())
	}
	for i, h := range hist {
		j := r.changeJSON(h)
		if j.DeviceID != h.DeviceID || j.Device != h.Device {
			t.Errorf("change %d as JSON: device %q, device_id %q", i, j.Device, j.DeviceID)
		}
	}
}
