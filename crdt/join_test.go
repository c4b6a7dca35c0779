package crdt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// spaceState renders what pairing could change in a space: identity,
// members and devices, documents and heads, the history's length and the
// member rows of the view.
func spaceState(t *testing.T, s *crdt.Space, st trustsync.Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	id, _ := json.Marshal(s.Self())
	fmt.Fprintf(&b, "identity %s\n", id)
	for _, m := range must[[]trustsync.Member](t)(s.Members(ctx)) {
		fmt.Fprintf(&b, "member %s %s\n", m.ID, m.Name)
		for _, d := range m.Devices {
			fmt.Fprintf(&b, "  device %s %s %s\n", d.ID, d.Name, d.PeerID)
		}
	}
	for _, doc := range must[[]string](t)(s.Docs(ctx)) {
		fmt.Fprintf(&b, "doc %s %v\n", doc, must[[]string](t)(s.Heads(ctx, doc)))
	}
	fmt.Fprintf(&b, "history %d\n", len(must[[]trustsync.Change](t)(s.History(ctx, crdt.HistoryOptions{}))))
	fmt.Fprintf(&b, "member rows %d\n", len(memberRows(t, st)))
	return b.String()
}

func TestSpace_Admit(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	alex, alexSt := newSpaceAt(t, c, "Alex", "alex-laptop")
	sam, samSt := newSpaceAt(t, c, "Sam", "sam-laptop")
	samID := sam.Self()
	data := must[[]byte](t)(sam.SaveSigned(ctx, crdt.SpaceDoc))
	j := crdt.Joiner{Device: samID.DeviceID, PeerID: must[string](t)(sam.PeerID(ctx)), Member: trustsync.Person{ID: samID.MemberID, Name: "Sam"}}

	// A refusal by check, a document that is not one, a handover from a
	// member of the space: nothing stored.
	before := spaceState(t, alex, alexSt)
	refused := errors.New("refused")
	for _, tc := range []struct {
		name  string
		data  []byte
		j     crdt.Joiner
		check func([]trustsync.Member) error
		want  error
	}{
		{"check refuses", data, j, func(ms []trustsync.Member) error {
			if len(ms) != 2 {
				t.Errorf("check sees %d members, want the merged 2", len(ms))
			}
			return refused
		}, refused},
		{"garbage", []byte("not a document"), j, nil, trustsync.ErrInvalid},
		{"no record of the device", must[[]byte](t)(alex.SaveSigned(ctx, crdt.SpaceDoc)), j, nil, trustsync.ErrInvalid},
		{"from a member of the space", data, crdt.Joiner{Device: samID.DeviceID, Member: j.Member, From: alex.Self().MemberID}, nil, trustsync.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, alex.Admit(ctx, tc.data, tc.j, tc.check), tc.want)
			if got := spaceState(t, alex, alexSt); got != before {
				t.Fatalf("a refused Admit changed the space:\n%s\nwas\n%s", got, before)
			}
		})
	}

	noErr(t, alex.Admit(ctx, data, j, nil))
	ms := must[[]trustsync.Member](t)(alex.Members(ctx))
	if len(ms) != 2 || ms[1].Name != "Sam" || ms[1].Devices[0].PeerID != j.PeerID {
		t.Fatalf("members after Admit: %+v", ms)
	}

	// The joining side: a document without the inviting device is refused
	// and nothing is stored, identity included; the real one joins.
	samBefore := spaceState(t, sam, samSt)
	other, _ := newSpaceAt(t, c, "Robin", "robin-laptop")
	wantErr(t, sam.JoinSpace(ctx, alex.Self().SpaceID, j.Member, must[[]byte](t)(other.SaveSigned(ctx, crdt.SpaceDoc)), alex.Self().DeviceID, must[string](t)(alex.PeerID(ctx))), trustsync.ErrForged)
	wantErr(t, sam.JoinSpace(ctx, alex.Self().SpaceID, j.Member, []byte("garbage"), alex.Self().DeviceID, must[string](t)(alex.PeerID(ctx))), trustsync.ErrInvalid)
	if got := spaceState(t, sam, samSt); got != samBefore {
		t.Fatalf("a refused JoinSpace changed the space:\n%s\nwas\n%s", got, samBefore)
	}
	reopened := must[*crdt.Space](t)(crdt.Open(ctx, samSt, crdt.Options{}))
	if reopened.Self() != samID {
		t.Fatalf("stored identity %+v after a refused JoinSpace, want %+v", reopened.Self(), samID)
	}
	reopened.Close()

	noErr(t, sam.JoinSpace(ctx, alex.Self().SpaceID, j.Member, must[[]byte](t)(alex.SaveSigned(ctx, crdt.SpaceDoc)), alex.Self().DeviceID, must[string](t)(alex.PeerID(ctx))))
	if sam.Self().SpaceID != alex.Self().SpaceID || sam.Self().MemberID != samID.MemberID {
		t.Fatalf("Sam's identity after JoinSpace: %+v", sam.Self())
	}
	syncAll(t, alex, sam)
	if a, s := roster(t, alex), roster(t, sam); a != s || strings.Count(a, "\n") != 1 {
		t.Fatalf("rosters differ or are not two devices:\n%s\n--\n%s", a, s)
	}
}

// A further device: the inviting device hands it over to its person, the
// member it was created with is gone from the document and from every view,
// and the same steps again (a pairing tried twice) change nothing more.
func TestSpace_AdmitFurtherDevice(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	phone, phoneSt := newSpaceAt(t, c, "Alex", "alex-phone")
	sam, _ := newSpaceAt(t, c, "Sam", "sam-laptop")
	laptop, laptopSt := newSpaceAt(t, c, "Alex", "alex-laptop")
	joinLikePairing(t, phone, sam, nil)
	alex := trustsync.Person{ID: phone.Self().MemberID, Name: "Alex"}
	created := laptop.Self()
	j := crdt.Joiner{Device: created.DeviceID, PeerID: must[string](t)(laptop.PeerID(ctx)), Member: alex, From: created.MemberID}

	for round := range 2 {
		data := must[[]byte](t)(laptop.SaveSigned(ctx, crdt.SpaceDoc))
		noErr(t, phone.Admit(ctx, data, j, nil))
		if round == 0 {
			// An interrupted pairing: the laptop never got the phone's
			// document and is as it was.
			if laptop.Self() != created {
				t.Fatalf("laptop identity changed before it joined: %+v", laptop.Self())
			}
			continue
		}
		noErr(t, laptop.JoinSpace(ctx, phone.Self().SpaceID, alex, must[[]byte](t)(phone.SaveSigned(ctx, crdt.SpaceDoc)), phone.Self().DeviceID, must[string](t)(phone.PeerID(ctx))))
	}
	if laptop.Self().MemberID != alex.ID || laptop.Self().SpaceID != phone.Self().SpaceID {
		t.Fatalf("laptop identity %+v", laptop.Self())
	}
	syncAll(t, phone, laptop)
	syncAll(t, phone, sam)
	for _, s := range []*crdt.Space{phone, sam, laptop} {
		ms := must[[]trustsync.Member](t)(s.Members(ctx))
		if len(ms) != 2 {
			t.Fatalf("%s: %d members", s.Self().DeviceName, len(ms))
		}
	}
	for name, st := range map[string]trustsync.Store{"phone": phoneSt, "laptop": laptopSt} {
		if rows := memberRows(t, st); len(rows) != 2 {
			t.Errorf("%s holds %d member rows, want 2", name, len(rows))
		}
	}
	if got, want := roster(t, laptop), roster(t, phone); got != want || !strings.Contains(got, "Alex/alex-laptop/"+j.PeerID+"/") {
		t.Fatalf("laptop sees\n%s\nphone sees\n%s", got, want)
	}
}
