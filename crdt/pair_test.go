package crdt_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// joinLikePairing joins b to a's space the way sync's pairing does: b
// takes its identity (JoinAs, or Adopt for a new member), a imports b's
// space document, a notes the pairing, b imports a's. It pairs apart from
// internal/testpair on purpose: these tests need a further device of the
// same person and the pairing's notes in the history.
func joinLikePairing(t *testing.T, a, b *crdt.Space, as *trustsync.Person) {
	t.Helper()
	ctx := context.Background()
	if as != nil {
		noErr(t, b.JoinAs(ctx, a.Self().SpaceID, *as))
	} else {
		noErr(t, b.Adopt(ctx, a.Self().SpaceID))
	}
	// Each met the other first-hand, as pairing does.
	for _, x := range [][2]*crdt.Space{{a, b}, {b, a}} {
		o := x[1].Self()
		noErr(t, x[0].TrustDevice(ctx, trustsync.Device{ID: o.DeviceID, PeerID: must[string](t)(x[1].PeerID(ctx)),
			Owner: trustsync.Person{ID: o.MemberID}}))
	}
	data, err := b.SaveSigned(ctx, crdt.SpaceDoc)
	noErr(t, err)
	_, err = a.Import(ctx, crdt.SpaceDoc, data, b.Self().DeviceID)
	noErr(t, err)
	noErr(t, a.NotePaired(ctx, b.Self().DeviceID))
	data, err = a.SaveSigned(ctx, crdt.SpaceDoc)
	noErr(t, err)
	_, err = b.Import(ctx, crdt.SpaceDoc, data, a.Self().DeviceID)
	noErr(t, err)
	noErr(t, b.NotePaired(ctx, a.Self().DeviceID))
	syncAll(t, a, b)
}

// roster renders members and devices as each space shows them.
func roster(t *testing.T, s *crdt.Space) string {
	t.Helper()
	ms, err := s.Members(context.Background())
	noErr(t, err)
	var out []string
	for _, m := range ms {
		for _, d := range m.Devices {
			out = append(out, m.Name+"/"+d.Name+"/"+d.PeerID+"/"+strings.Join(d.Addrs, ",")+"/"+map[bool]string{true: "removed", false: "current"}[d.Removed])
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func TestSpace_JoinAs(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	alex, _ := newSpaceAt(t, c, "Alex", "alex-laptop")
	sam, _ := newSpaceAt(t, c, "Sam", "sam-laptop")
	phone, _ := newSpaceAt(t, c, "Sam", "sam-phone")
	// Each device records its own peer ID before pairing: no other device
	// ever creates its record, so none gets hidden.
	for i, s := range []*crdt.Space{alex, sam, phone} {
		noErr(t, s.SetDevicePeer(ctx, "peer"+string(rune('A'+i))))
	}
	joinLikePairing(t, alex, sam, nil)
	ms, err := alex.Members(ctx)
	noErr(t, err)
	var samMember trustsync.Person
	for _, m := range ms {
		if m.Name == "Sam" {
			samMember = m.Person
		}
	}
	// A further device of Sam's joins through one of Sam's own devices:
	// only they can vouch for a device in Sam's name.
	joinLikePairing(t, sam, phone, &samMember)
	syncAll(t, alex, sam)
	syncAll(t, sam, phone)

	if phone.Self().MemberID != sam.Self().MemberID || phone.Self().SpaceID != alex.Self().SpaceID {
		t.Fatalf("phone identity %+v", phone.Self())
	}
	want := roster(t, alex)
	for _, s := range []*crdt.Space{sam, phone} {
		if got := roster(t, s); got != want {
			t.Fatalf("%s sees\n%s\nwant\n%s", s.Self().DeviceName, got, want)
		}
	}
	for _, line := range []string{"Alex/alex-laptop/" + must[string](t)(alex.PeerID(ctx)) + "/", "Sam/sam-laptop/" + must[string](t)(sam.PeerID(ctx)) + "/",
		"Sam/sam-phone/" + must[string](t)(phone.PeerID(ctx)) + "/"} {
		if !strings.Contains(want, line) {
			t.Fatalf("roster lacks %q (a device's own fields hidden?):\n%s", line, want)
		}
	}
	if n := strings.Count(want, "\n") + 1; n != 3 {
		t.Fatalf("roster has %d devices:\n%s", n, want)
	}

	// A device that wrote something of its own cannot take another's name.
	robin, _ := newSpaceAt(t, c, "Robin", "robin-laptop")
	_, err = robin.AddBoundary(ctx, "mine")
	noErr(t, err)
	wantErr(t, robin.JoinAs(ctx, alex.Self().SpaceID, samMember), trustsync.ErrInvalid)
}

func TestSpace_RemoveDevices(t *testing.T) {
	ctx := context.Background()
	sam, alex := newPair(t)
	alexDev := alex.Self().DeviceID
	for _, tc := range []struct {
		name string
		ids  []string
		want error
	}{
		{"none", nil, trustsync.ErrInvalid},
		{"this device", []string{sam.Self().DeviceID}, trustsync.ErrInvalid},
		{"unknown", []string{"0123456789abcdef0123456789abcdef"}, trustsync.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, sam.RemoveDevices(ctx, tc.ids, ""), tc.want) })
	}
	noErr(t, sam.RemoveDevices(ctx, []string{alexDev}, "testing"))
	noErr(t, sam.RemoveDevices(ctx, []string{alexDev}, "again")) // no change, no error
	hist, err := sam.History(ctx, crdt.HistoryOptions{})
	noErr(t, err)
	var unpairs []string
	for _, h := range hist {
		if h.Action == "unpair" {
			unpairs = append(unpairs, h.Summary)
		}
	}
	if len(unpairs) != 1 || unpairs[0] != `unpaired "alex-phone" of Alex: testing` {
		t.Fatalf("unpair history %q", unpairs)
	}
	syncAll(t, sam, alex)
	if got := roster(t, alex); !strings.Contains(got, "Alex/alex-phone/"+must[string](t)(alex.PeerID(ctx))+"//removed") {
		t.Fatalf("Alex's device does not show it was removed:\n%s", got)
	}
	// Pairing again makes it current.
	noErr(t, sam.NotePaired(ctx, alexDev))
	if got := roster(t, sam); strings.Contains(got, "removed") {
		t.Fatalf("still removed after pairing again:\n%s", got)
	}
}
