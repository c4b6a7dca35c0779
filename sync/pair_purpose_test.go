package sync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
)

// An invite is for what the inviting device made it for: the partner's
// invite cannot add a device in the inviting person's name, whether the
// joining device asks with --as or a modified program claims the member.
// Both sides refuse with the reason, and neither home changes.
func TestPair_PartnerInviteMakesNoDeviceOfTheInviter(t *testing.T) {
	ctx := testCtx(t)
	alex, sam := newDevice(t, "Alex"), newDevice(t, "Sam")
	na, ns := alex.start(t), sam.start(t)
	beforeA, beforeS := homeState(t, alex), homeState(t, sam)

	for _, tc := range []struct {
		name string
		opts JoinOptions
		want string
	}{
		{"--as Alex", JoinOptions{As: "Alex"},
			"this invite is for Alex's partner; it cannot add a device for Alex: a device of Alex's own joins through an invite made with 'trustsync pair --own-device'"},
		{"a modified program claiming Alex", JoinOptions{As: "Alex", forgeJoin: true},
			"the invite is for Alex's partner, and the joining device asks to join as Alex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := invite(t, na, InviteOptions{})
			parsed, err := ParseInvite(inv.Invite().String())
			must(t, err)
			if parsed.Purpose != PurposePartner {
				t.Fatalf("the invite says it is for %s, want partner", parsed.Purpose)
			}
			_, err = ns.Join(ctx, parsed, tc.opts)
			if !errors.Is(err, ErrPairRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Join: %v, want a refusal saying %q", err, tc.want)
			}
			if _, err := inv.Wait(ctx); !errors.Is(err, ErrPairRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Wait: %v, want a refusal saying %q", err, tc.want)
			}
			sameHome(t, "Alex's home", beforeA, homeState(t, alex))
			sameHome(t, "Sam's home", beforeS, homeState(t, sam))
			if len(na.Peers()) != 0 || len(ns.Peers()) != 0 {
				t.Fatalf("trusted after a refusal: Alex %v, Sam %v", na.Peers(), ns.Peers())
			}
		})
	}

	// --as naming Sam's own name agrees with the invite and works.
	ir, jr := pairVia(t, na, ns, JoinOptions{As: "sam"})
	if !ir.NewMember || ir.Purpose != PurposePartner || jr.Purpose != PurposePartner || ir.Remote.MemberName != "Sam" {
		t.Fatalf("paired as %+v / %+v", ir, jr)
	}
	if sam.space.Self().MemberID == alex.space.Self().MemberID {
		t.Fatal("Sam's device is listed under Alex")
	}
	// With a partner in the space, an invite can only add Alex's own
	// device, and says so.
	if _, err := na.Invite(ctx, InviteOptions{Purpose: PurposePartner}); err == nil || !strings.Contains(err.Error(), "this space already has a partner, Sam") {
		t.Fatalf("a partner's invite with a partner present: %v", err)
	}
	inv := invite(t, na, InviteOptions{})
	if p := inv.Invite().Purpose; p != PurposeOwnDevice {
		t.Fatalf("the default invite with a partner present is for %s", p)
	}
}

// An own-device invite adds a device in the inviting person's name, only
// with both Confirm callbacks seeing what it is for; someone else's device
// is refused.
func TestPair_OwnDeviceInvite(t *testing.T) {
	ctx := testCtx(t)
	alex, sam := newDevice(t, "Alex"), newDevice(t, "Sam")
	na, ns := alex.start(t), sam.start(t)

	// Sam's device, set up as Sam, cannot use Alex's own-device invite,
	// even when a modified program claims to be new.
	for _, tc := range []struct {
		opts JoinOptions
		want string
	}{
		{JoinOptions{}, "this invite adds another device of Alex's own, but this device was set up as Sam"},
		{JoinOptions{As: "Sam"}, "this invite adds another device of Alex's own; it cannot make this device Sam's (--as Sam)"},
		{JoinOptions{forgeJoin: true}, "the invite is for another device of Alex's own, and the joining device asks to join as a new member, Sam"},
	} {
		inv := invite(t, na, InviteOptions{Purpose: PurposeOwnDevice})
		_, err := ns.Join(ctx, inv.Invite(), tc.opts)
		if !errors.Is(err, ErrPairRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("Sam joining Alex's own-device invite (%+v): %v, want %q", tc.opts, err, tc.want)
		}
		if _, err := inv.Wait(ctx); !errors.Is(err, ErrPairRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("Alex's side: %v", err)
		}
	}
	if ms, err := alex.space.Members(ctx); err != nil || len(ms) != 1 || len(ms[0].Devices) != 1 {
		t.Fatalf("Alex's space after refusals: %+v, %v", ms, err)
	}

	// Alex's phone joins: both sides see the purpose and whom it joins as.
	phone := newDevice(t, "Alex")
	np := phone.start(t)
	var seenI, seenJ Confirmation
	inv := invite(t, na, InviteOptions{Purpose: PurposeOwnDevice, Confirm: func(c Confirmation) error { seenI = c; return nil }})
	jr, err := np.Join(ctx, inv.Invite(), JoinOptions{As: "Alex", Confirm: func(c Confirmation) error { seenJ = c; return nil }})
	must(t, err)
	ir, err := inv.Wait(ctx)
	must(t, err)
	alexID := alex.space.Self().MemberID
	switch {
	case seenI.Code != ir.Code || seenJ.Code != jr.Code || ir.Code != jr.Code:
		t.Fatalf("codes: confirm %q/%q, results %q/%q", seenI.Code, seenJ.Code, ir.Code, jr.Code)
	case seenI.Purpose != PurposeOwnDevice || seenJ.Purpose != PurposeOwnDevice:
		t.Fatalf("purposes seen: inviter %s, joiner %s", seenI.Purpose, seenJ.Purpose)
	case seenI.As.ID != alexID || seenJ.As.ID != alexID || seenI.As.Name != "Alex" || seenJ.As.Name != "Alex":
		t.Fatalf("joins as: inviter saw %+v, joiner saw %+v", seenI.As, seenJ.As)
	case seenI.Remote.DeviceID != phone.space.Self().DeviceID || seenJ.Remote.DeviceID != alex.space.Self().DeviceID:
		t.Fatalf("remotes seen: %+v / %+v", seenI.Remote, seenJ.Remote)
	case seenI.Again || seenJ.Again || ir.NewMember:
		t.Fatalf("a new device seen as pairing again: %+v / %+v", seenI, seenJ)
	case phone.space.Self().MemberID != alexID:
		t.Fatal("the phone did not join as Alex")
	}
}

// TestPair_LeakedInviteGetsNoDocument measures what someone holding a
// leaked invite receives over libp2p on 127.0.0.1 when the legitimate
// inviting device refuses at the confirmation: the identity exchange and a
// refusal, no shared document (not the space document either), and no
// session afterwards. When both Confirm callbacks are set, the documents
// wait for both.
func TestPair_LeakedInviteGetsNoDocument(t *testing.T) {
	ctx := testCtx(t)
	alex, intruder := newDevice(t, "Alex"), newDevice(t, "Mallory")
	for _, text := range []string{"Alex's secret boundary"} {
		_, err := alex.space.AddBoundary(ctx, text)
		must(t, err)
	}
	_, err := alex.space.AddGoal(ctx, "Alex's private goal", "why")
	must(t, err)
	na, ni := alex.start(t), intruder.start(t)
	beforeI := homeState(t, intruder)

	var mu stdsync.Mutex
	var got []byte
	var types []byte
	record := func(typ byte, body []byte) {
		mu.Lock()
		defer mu.Unlock()
		types = append(types, typ)
		got = append(got, body...)
	}
	inv := invite(t, na, InviteOptions{Confirm: func(c Confirmation) error {
		return errors.New("the codes differ")
	}})
	_, err = ni.Join(ctx, inv.Invite(), JoinOptions{frames: record})
	if !errors.Is(err, ErrPairRefused) || !strings.Contains(err.Error(), "the codes were not confirmed") {
		t.Fatalf("the intruder's Join: %v", err)
	}
	if _, err := inv.Wait(ctx); !errors.Is(err, ErrPairRefused) {
		t.Fatalf("Alex's Wait: %v", err)
	}
	mu.Lock()
	if want := []byte{pairAccept, pairOffer, pairCheck, pairRefuse}; !bytes.Equal(types, want) {
		t.Errorf("the intruder received frames %v, want %v (no space document)", types, want)
	}
	for _, secret := range []string{"Alex's secret boundary", "Alex's private goal"} {
		if bytes.Contains(got, []byte(secret)) {
			t.Errorf("the intruder received %q", secret)
		}
	}
	t.Logf("the intruder received %d bytes in %d frames %v", len(got), len(types), types)
	mu.Unlock()
	// Nothing arrives later either: no session, no document.
	time.Sleep(500 * time.Millisecond)
	sameHome(t, "the intruder's home", beforeI, homeState(t, intruder))
	if len(na.Peers()) != 0 || len(na.Online()) != 0 || len(ni.Peers()) != 0 {
		t.Fatalf("trusted or online after the refusal: Alex %v/%v, intruder %v", na.Peers(), na.Online(), ni.Peers())
	}

	// Both sides confirm: the joining device's yes alone lets nothing
	// cross while the inviting device's person has not answered.
	sam := newDevice(t, "Sam")
	ns := sam.start(t)
	release := make(chan struct{})
	asked := make(chan struct{})
	inv = invite(t, na, InviteOptions{Confirm: func(Confirmation) error {
		close(asked)
		<-release
		return nil
	}})
	mu.Lock()
	types = nil
	mu.Unlock()
	joined := make(chan error, 1)
	go func() {
		_, err := ns.Join(ctx, inv.Invite(), JoinOptions{Confirm: func(Confirmation) error { return nil }, frames: record})
		joined <- err
	}()
	<-asked
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	if slices.Contains(types, pairYes) || slices.Contains(types, pairDone) {
		t.Errorf("frames %v crossed before Alex confirmed", types)
	}
	mu.Unlock()
	if hasBoundary(t, sam, "Alex's secret boundary") || sam.space.Self().SpaceID == alex.space.Self().SpaceID {
		t.Fatal("Sam holds Alex's space before Alex confirmed")
	}
	close(release)
	if err := <-joined; err != nil {
		t.Fatalf("Join after both confirmed: %v", err)
	}
	if _, err := inv.Wait(ctx); err != nil {
		t.Fatalf("Wait after both confirmed: %v", err)
	}
	waitFor(t, "Sam has Alex's boundary", func() bool { return hasBoundary(t, sam, "Alex's secret boundary") })
}

// A device Sam's modified program adds in Alex's name is never Alex's
// device on Alex's side (Sam's device cannot vouch a device into Alex's
// name), and after Unpair (all) no device the partner made keeps syncing.
// Alex's own phone and tablet, added through Alex's laptop, go on syncing,
// whichever of Alex's devices unpairs (the phone knows of the tablet only
// from the history it synced).
func TestNode_UnpairRemovesDevicesThePartnerAddedInYourName(t *testing.T) {
	for _, who := range []string{"laptop", "phone"} {
		t.Run("on Alex's "+who, func(t *testing.T) {
			ctx := testCtx(t)
			alex, sam := newDevice(t, "Alex"), newDevice(t, "Sam")
			na, ns := alex.start(t), sam.start(t)
			pairVia(t, na, ns, JoinOptions{})
			phone, tablet := newDevice(t, "Alex"), newDevice(t, "Alex")
			np, nt := phone.start(t), tablet.start(t)
			pairVia(t, na, np, JoinOptions{})
			pairVia(t, na, nt, JoinOptions{})

			// Sam's modified program admits a device in Alex's name. That
			// device runs a modified program too: it takes Alex's laptop's
			// key on trust, which an honest device joining through Sam's
			// device would not.
			fake := newDevice(t, "Alex")
			self := alex.space.Self()
			must(t, fake.space.TrustDevice(ctx, trustsync.Device{ID: self.DeviceID, PeerID: na.ID().String(),
				Owner: trustsync.Person{ID: self.MemberID, Name: self.MemberName}}))
			nf := fake.start(t)
			inv := invite(t, ns, InviteOptions{forgeAdmit: true})
			// Sam's device records the admission as it pleases; the
			// joining copy, running the real checks of what it takes in,
			// may already refuse Sam's document for writing into Alex's
			// device records. Either way the attack must get nowhere on
			// Alex's side.
			if _, err := nf.Join(ctx, inv.Invite(), JoinOptions{As: "Alex", forgeJoin: true}); err != nil {
				if !strings.Contains(err.Error(), "refused a change") {
					t.Fatalf("the forged join: %v", err)
				}
				t.Logf("the forged join was refused by the joining copy itself: %v", err)
			} else if _, err := inv.Wait(ctx); err != nil {
				t.Fatalf("the forged admission: %v", err)
			}
			me, nme, other, nother := alex, na, phone, np
			if who == "phone" {
				me, nme, other, nother = phone, np, alex, na
			}
			fakeID := fake.space.Self().DeviceID
			// Nobody vouches a device into the other's name: once Alex's
			// device has what Sam's device wrote since the forged
			// admission, it still neither lists nor trusts that device.
			_, err := sam.space.AddBoundary(ctx, "after the forged admission")
			must(t, err)
			waitFor(t, "Alex's "+who+" syncs with Sam's device", func() bool {
				_, tok := deviceOf(t, me, tablet.space.Self().DeviceID)
				return tok && hasBoundary(t, me, "after the forged admission")
			})
			if d, ok := deviceOf(t, me, fakeID); ok {
				t.Fatalf("Alex's %s lists the device Sam's program added in Alex's name: %+v", who, d)
			}
			if nme.isTrusted(nf.ID()) {
				t.Fatalf("Alex's %s trusts the device Sam's program added in Alex's name", who)
			}

			res, err := nme.Unpair(ctx)
			must(t, err)
			var removed []string
			for _, d := range res.Removed {
				removed = append(removed, d.ID)
			}
			slices.Sort(removed)
			// The device in Alex's name was never a device of anyone on
			// Alex's side: only Sam's laptop is there to remove.
			want := []string{sam.space.Self().DeviceID}
			if !slices.Equal(removed, want) {
				t.Fatalf("Unpair removed %v, want Sam's laptop %v", removed, want)
			}
			if nme.isTrusted(nf.ID()) || nme.isTrusted(ns.ID()) || !nme.isTrusted(nother.ID()) || !nme.isTrusted(nt.ID()) {
				t.Fatalf("trusted after Unpair: fake %v, Sam %v, Alex's other device %v, tablet %v",
					nme.isTrusted(nf.ID()), nme.isTrusted(ns.ID()), nme.isTrusted(nother.ID()), nme.isTrusted(nt.ID()))
			}
			_, err = me.space.AddBoundary(ctx, "after unpairing")
			must(t, err)
			waitFor(t, "Alex's other device gets what Alex writes", func() bool { return hasBoundary(t, other, "after unpairing") })

			// The device in Alex's name, restarted and trusting Alex, is
			// refused by the gater and the session: it gets nothing
			// written since.
			nf.Close()
			nf2 := fake.start(t)
			for range 3 {
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				err := nf2.Connect(cctx, nme.AddrInfo())
				cancel()
				if err == nil {
					t.Fatal("the device in Alex's name connected after the unpairing")
				}
			}
			if hasBoundary(t, fake, "after unpairing") {
				t.Fatal("a change made after the unpairing reached the device in Alex's name")
			}
			if d, ok := deviceOf(t, me, fakeID); ok {
				t.Fatalf("Alex's %s lists the device in Alex's name after the unpairing: %+v", who, d)
			}
		})
	}
}

// Invites and joining devices of earlier versions: an invite without a
// purpose keeps meaning what the inviting device's state says, an invite
// whose text disagrees with the inviting device is refused, and a joining
// device that ignores the purpose (an earlier version, or a modified one)
// is held to it by the inviting device.
func TestPair_EarlierVersions(t *testing.T) {
	ctx := testCtx(t)
	alex, sam := newDevice(t, "Alex"), newDevice(t, "Sam")
	na, ns := alex.start(t), sam.start(t)

	inv := invite(t, na, InviteOptions{})
	text := inv.Invite().String()
	version := func(s string) byte {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, InvitePrefix))
		must(t, err)
		return b[0]
	}
	if v := version(text); v != 2 {
		t.Fatalf("an invite with a purpose is version %d, want 2", v)
	}
	old := inv.Invite()
	old.Purpose = PurposeUnset
	oldText := old.String()
	if v := version(oldText); v != 1 {
		t.Fatalf("an invite without a purpose is version %d, want 1", v)
	}
	parsed, err := ParseInvite(oldText)
	must(t, err)
	if parsed.Purpose != PurposeUnset || parsed.Secret != old.Secret {
		t.Fatalf("version 1 parsed as %+v", parsed)
	}
	// A purpose byte this version does not know.
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(text, InvitePrefix))
	must(t, err)
	body := raw[:len(raw)-4]
	body[len(body)-1] = 9
	sum := sha256.Sum256(body)
	if _, err := ParseInvite(InvitePrefix + base64.RawURLEncoding.EncodeToString(append(body, sum[:4]...))); !errors.Is(err, ErrInviteInvalid) ||
		!strings.Contains(err.Error(), "newer version") {
		t.Fatalf("an unknown purpose: %v", err)
	}

	// The text says own-device; the inviting device made it for the partner.
	lying := inv.Invite()
	lying.Purpose = PurposeOwnDevice
	if _, err := ns.Join(ctx, lying, JoinOptions{}); !errors.Is(err, ErrPairRefused) ||
		!strings.Contains(err.Error(), "the invite says it is for own-device, the inviting device says partner") {
		t.Fatalf("Join with a purpose the inviting device did not make: %v", err)
	}
	if _, err := inv.Wait(ctx); !errors.Is(err, ErrPairRefused) {
		t.Fatalf("Wait: %v", err)
	}

	// A joining device of an earlier version asks to join as Alex.
	before := homeState(t, alex)
	inv = invite(t, na, InviteOptions{})
	if _, err := ns.Join(ctx, inv.Invite(), JoinOptions{As: "Alex", legacy: true}); !errors.Is(err, ErrPairRefused) ||
		!strings.Contains(err.Error(), "the invite is for Alex's partner, and the joining device asks to join as Alex") {
		t.Fatalf("an earlier joining device as Alex: %v", err)
	}
	if _, err := inv.Wait(ctx); !errors.Is(err, ErrPairRefused) {
		t.Fatalf("Wait: %v", err)
	}
	sameHome(t, "Alex's home", before, homeState(t, alex))

	// The same, as the partner, with a version 1 invite: paired.
	inv = invite(t, na, InviteOptions{})
	v1 := inv.Invite()
	v1.Purpose = PurposeUnset
	jr, err := ns.Join(ctx, v1, JoinOptions{legacy: true})
	must(t, err)
	ir, err := inv.Wait(ctx)
	must(t, err)
	if !ir.NewMember || ir.Remote.MemberName != "Sam" || jr.Code != ir.Code {
		t.Fatalf("paired as %+v / %+v", ir, jr)
	}
	waitSynced(t, na, ns)
}
