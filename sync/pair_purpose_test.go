package sync

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	stdsync "sync"
	"testing"
	"time"
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

// After Unpair (all), no device the partner made keeps syncing: Sam's,
// and a device Sam's modified program added in Alex's name. Alex's own
// phone, added through Alex's laptop, goes on syncing.
func TestNode_UnpairRemovesDevicesThePartnerAddedInYourName(t *testing.T) {
	ctx := testCtx(t)
	alex, sam := newDevice(t, "Alex"), newDevice(t, "Sam")
	na, ns := alex.start(t), sam.start(t)
	pairVia(t, na, ns, JoinOptions{})
	phone := newDevice(t, "Alex")
	np := phone.start(t)
	pairVia(t, na, np, JoinOptions{})

	// Sam's modified program admits a device in Alex's name.
	fake := newDevice(t, "Alex")
	nf := fake.start(t)
	inv := invite(t, ns, InviteOptions{forgeAdmit: true})
	if _, err := nf.Join(ctx, inv.Invite(), JoinOptions{As: "Alex", forgeJoin: true}); err != nil {
		t.Fatalf("the forged join: %v", err)
	}
	if _, err := inv.Wait(ctx); err != nil {
		t.Fatalf("the forged admission: %v", err)
	}
	fakeID := fake.space.Self().DeviceID
	waitFor(t, "Alex's space lists the device under Alex", func() bool {
		d, ok := deviceOf(t, alex, fakeID)
		return ok && d.Owner.ID == alex.space.Self().MemberID
	})
	waitFor(t, "Alex's node trusts it", func() bool { return na.isTrusted(nf.ID()) })

	res, err := na.Unpair(ctx)
	must(t, err)
	var removed []string
	for _, d := range res.Removed {
		removed = append(removed, d.ID)
	}
	slices.Sort(removed)
	want := []string{sam.space.Self().DeviceID, fakeID}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Fatalf("Unpair removed %v, want Sam's laptop and the device in Alex's name %v", removed, want)
	}
	if na.isTrusted(nf.ID()) || na.isTrusted(ns.ID()) || !na.isTrusted(np.ID()) {
		t.Fatalf("trusted after Unpair: fake %v, Sam %v, phone %v", na.isTrusted(nf.ID()), na.isTrusted(ns.ID()), na.isTrusted(np.ID()))
	}
	_, err = alex.space.AddBoundary(ctx, "after unpairing")
	must(t, err)
	waitFor(t, "the phone gets what Alex writes", func() bool { return hasBoundary(t, phone, "after unpairing") })

	// The device in Alex's name, restarted and trusting Alex, is refused
	// by the gater and the session: it gets nothing written since.
	nf.Close()
	nf2 := fake.start(t)
	for range 3 {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := nf2.Connect(cctx, na.AddrInfo())
		cancel()
		if err == nil {
			t.Fatal("the device in Alex's name connected after the unpairing")
		}
	}
	if hasBoundary(t, fake, "after unpairing") {
		t.Fatal("a change made after the unpairing reached the device in Alex's name")
	}
	if d, ok := deviceOf(t, alex, fakeID); !ok || !d.Removed {
		t.Fatalf("Alex's record of the device: %+v", d)
	}
}
