package sync

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

// homeState renders everything of a home that pairing could change: its
// identity (space ID included), its members and devices, its documents with
// their heads, and its history.
func homeState(t testing.TB, d *device) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	id, err := json.Marshal(d.space.Self())
	must(t, err)
	fmt.Fprintf(&b, "identity %s\n", id)
	ms, err := d.space.Members(ctx)
	must(t, err)
	for _, m := range ms {
		fmt.Fprintf(&b, "member %s %s\n", m.ID, m.Name)
		for _, dev := range m.Devices {
			fmt.Fprintf(&b, "  device %s %s peer=%s removed=%v\n", dev.ID, dev.Name, dev.PeerID, dev.Removed)
		}
	}
	docs, err := d.space.Docs(ctx)
	must(t, err)
	for _, doc := range docs {
		heads, err := d.space.Heads(ctx, doc)
		must(t, err)
		fmt.Fprintf(&b, "doc %s %s\n", doc, strings.Join(heads, ","))
	}
	hs, err := d.space.History(ctx, crdt.HistoryOptions{})
	must(t, err)
	fmt.Fprintf(&b, "history %d\n", len(hs))
	return b.String()
}

func sameHome(t testing.TB, who, before, after string) {
	t.Helper()
	if before != after {
		t.Fatalf("%s changed:\nbefore:\n%safter:\n%s", who, before, after)
	}
}

var errNotConfirmed = errors.New("the codes differ")

// A pairing refused before both sides stored it changes neither home, and
// a fresh pairing afterwards succeeds. Joining as the partner and as a
// further device of a person.
func TestPair_RefusedChangesNothing(t *testing.T) {
	refuse := func(Confirmation) error { return errNotConfirmed }
	for _, tc := range []struct {
		name   string
		invite InviteOptions
		join   JoinOptions
	}{
		{"joining device does not confirm the code", InviteOptions{}, JoinOptions{Confirm: refuse}},
		{"inviting device does not confirm the code", InviteOptions{Confirm: refuse}, JoinOptions{}},
	} {
		for _, further := range []bool{false, true} {
			name := tc.name + map[bool]string{false: ", partner", true: ", further device"}[further]
			t.Run(name, func(t *testing.T) {
				ctx := testCtx(t)
				alex, sam := newDevice(t, "Alex"), newDevice(t, "Sam")
				na, ns := alex.start(t), sam.start(t)
				inviter, joiner, nj := alex, sam, ns
				if further {
					pairVia(t, na, ns, JoinOptions{})
					phone := newDevice(t, "Sam")
					inviter, joiner, nj = sam, phone, phone.start(t)
				}
				ni := map[*device]*Node{alex: na, sam: ns}[inviter]
				beforeI, beforeJ := homeState(t, inviter), homeState(t, joiner)

				inv := invite(t, ni, tc.invite)
				if _, err := nj.Join(ctx, inv.Invite(), tc.join); !errors.Is(err, ErrPairRefused) {
					t.Fatalf("Join: %v, want ErrPairRefused", err)
				}
				if _, err := inv.Wait(ctx); !errors.Is(err, ErrPairRefused) {
					t.Fatalf("Wait: %v, want ErrPairRefused", err)
				}
				sameHome(t, "the inviting home", beforeI, homeState(t, inviter))
				sameHome(t, "the joining home", beforeJ, homeState(t, joiner))
				if peers := nj.Peers(); len(peers) != 0 {
					t.Fatalf("the joining node trusts %v after a refused pairing", peers)
				}

				pairVia(t, ni, nj, JoinOptions{})
				if joiner.space.Self().SpaceID != alex.space.Self().SpaceID {
					t.Fatal("the fresh pairing did not join the space")
				}
				waitSynced(t, ni, nj)
				sameState(t, inviter, joiner)
				if ms, _ := joiner.space.Members(ctx); len(ms) != 2 {
					t.Fatalf("%d members after pairing, want 2", len(ms))
				}
			})
		}
	}
}

// An inviting device that sends a space document the joining device cannot
// take -- garbage, or another space's document without the inviting device
// in it -- is refused, and the joining home is exactly as it was: it keeps
// its own space ID. The inviting device has stored its side already;
// pairing again with an honest invite then succeeds.
func TestPair_HostileInviterChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		forge func(t *testing.T) func([]byte) []byte
	}{
		{"garbage", func(t *testing.T) func([]byte) []byte {
			return func([]byte) []byte { return []byte("not an automerge document") }
		}},
		{"another space", func(t *testing.T) func([]byte) []byte {
			other := newDevice(t, "Robin")
			doc, err := other.space.SaveSigned(context.Background(), crdt.SpaceDoc)
			must(t, err)
			return func([]byte) []byte { return doc }
		}},
	} {
		for _, further := range []bool{false, true} {
			name := tc.name + map[bool]string{false: ", partner", true: ", further device"}[further]
			t.Run(name, func(t *testing.T) {
				ctx := testCtx(t)
				alex, sam := newDevice(t, "Alex"), newDevice(t, "Sam")
				na, ns := alex.start(t), sam.start(t)
				ni, joiner, nj := na, sam, ns
				if further {
					pairVia(t, na, ns, JoinOptions{})
					phone := newDevice(t, "Sam")
					ni, joiner, nj = ns, phone, phone.start(t)
				}
				before := homeState(t, joiner)
				inv := invite(t, ni, InviteOptions{forgeDone: tc.forge(t)})
				_, err := nj.Join(ctx, inv.Invite(), JoinOptions{})
				if !errors.Is(err, ErrPairRefused) || !strings.Contains(err.Error(), "cannot take the inviting device's records") {
					t.Fatalf("Join: %v, want a refusal of the inviting device's records", err)
				}
				sameHome(t, "the joining home", before, homeState(t, joiner))
				if joiner.space.Self().SpaceID == alex.space.Self().SpaceID {
					t.Fatal("the joining home took the hostile inviter's space ID")
				}
				// The inviting device had stored its side: it says so.
				if _, err := inv.Wait(ctx); !errors.Is(err, ErrPairRefused) || !strings.Contains(err.Error(), "recorded the pairing already") {
					t.Fatalf("Wait: %v, want the joining device's refusal", err)
				}
				inv.Close()

				pairVia(t, ni, nj, JoinOptions{})
				if joiner.space.Self().SpaceID != alex.space.Self().SpaceID {
					t.Fatal("the fresh pairing did not join the space")
				}
				waitSynced(t, ni, nj)
				if ms, _ := joiner.space.Members(ctx); len(ms) != 2 {
					t.Fatalf("%d members after pairing again, want 2", len(ms))
				}
				for _, d := range []*device{alex, sam, joiner} {
					if ms, _ := d.space.Members(ctx); len(ms) != 2 {
						t.Fatalf("%s sees %d members", d.space.Self().DeviceName, len(ms))
					}
				}
				if further {
					var owner string
					ms, err := sam.space.Members(ctx)
					must(t, err)
					if _, m, ok := findDevice(ms, joiner.space.Self().DeviceID); ok {
						owner = m.Name
					}
					if owner != "Sam" || joiner.space.Self().MemberID != sam.space.Self().MemberID {
						t.Fatalf("the phone is %q's on Sam's laptop, member %s on itself", owner, joiner.space.Self().MemberID)
					}
				}
			})
		}
	}
}

// A joining device that presents itself as created as a member the space
// has is refused before anything is stored: the inviting device would
// otherwise hand over (and delete) a partner. So is one that skips its own
// checks to join as the other partner.
func TestPair_FromAnExistingMemberRefused(t *testing.T) {
	ctx := testCtx(t)
	alex, sam := newDevice(t, "Alex"), newDevice(t, "Sam")
	na, ns := alex.start(t), sam.start(t)
	pairVia(t, na, ns, JoinOptions{})
	before := homeState(t, alex)
	samID := sam.space.Self()
	err := alex.space.Admit(ctx, []byte("x"), crdt.Joiner{Device: "0123456789abcdef0123456789abcdef",
		Member: trustsync.Person{ID: alex.space.Self().MemberID, Name: "Alex"}, From: samID.MemberID}, nil)
	if !errors.Is(err, trustsync.ErrInvalid) {
		t.Fatalf("Admit from Sam's member: %v, want ErrInvalid", err)
	}
	sameHome(t, "Alex's home", before, homeState(t, alex))

	// A modified client joining as Alex through Sam's invite: both homes
	// as they were.
	fake := newDevice(t, "Robin")
	nf := fake.start(t)
	beforeSam, beforeFake := homeState(t, sam), homeState(t, fake)
	inv := invite(t, ns, InviteOptions{})
	if _, err := nf.Join(ctx, inv.Invite(), JoinOptions{As: "Alex", forgeJoin: true}); !errors.Is(err, ErrPairRefused) {
		t.Fatalf("Robin joining as Alex: %v", err)
	}
	if _, err := inv.Wait(ctx); !errors.Is(err, ErrPairRefused) {
		t.Fatalf("Sam's side: %v", err)
	}
	sameHome(t, "Sam's home", beforeSam, homeState(t, sam))
	sameHome(t, "Robin's home", beforeFake, homeState(t, fake))
}

// A joining device that stops once it has the inviting device's records,
// before storing anything (a process killed then): it is as it was, the
// inviting device is paired and says the other did not confirm, and a
// fresh pairing completes both.
func TestPair_JoinerStopsBeforeStoring(t *testing.T) {
	ctx := testCtx(t)
	alex, sam := newDevice(t, "Alex"), newDevice(t, "Sam")
	na, ns := alex.start(t), sam.start(t)
	before := homeState(t, sam)
	inv := invite(t, na, InviteOptions{})
	if _, err := ns.Join(ctx, inv.Invite(), JoinOptions{stopBeforeStore: true}); err == nil {
		t.Fatal("Join succeeded")
	}
	res, err := inv.Wait(ctx)
	if err != nil || !res.Unconfirmed {
		t.Fatalf("Wait: %+v, %v; want an unconfirmed pairing", res, err)
	}
	inv.Close()
	sameHome(t, "the joining home", before, homeState(t, sam))
	if ms, _ := alex.space.Members(ctx); len(ms) != 2 {
		t.Fatalf("the inviting home has %d members, want 2 (its side is stored)", len(ms))
	}

	ir, _ := pairVia(t, na, ns, JoinOptions{})
	if ir.Unconfirmed {
		t.Fatal("a completed pairing is unconfirmed")
	}
	waitSynced(t, na, ns)
	sameState(t, alex, sam)
}
