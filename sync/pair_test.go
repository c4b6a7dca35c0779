package sync

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// invite opens an invitation on n, closed at the end of the test.
func invite(t testing.TB, n *Node, opts InviteOptions) *Invitation {
	t.Helper()
	inv, err := n.Invite(context.Background(), opts)
	must(t, err)
	t.Cleanup(func() { inv.Close() })
	return inv
}

// pairVia pairs joiner through a fresh invite of inviter, with the
// ceremony itself, and checks that both sides show the same code. It is
// the one helper for it: a shared package holding it would import sync,
// which the sync package's own tests cannot import. (Pairing by hand,
// without the ceremony, is internal/testpair's: see pairAll.)
func pairVia(t fataler, inviter, joiner *Node, opts JoinOptions) (PairResult, PairResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inv, err := inviter.Invite(ctx, InviteOptions{})
	if err != nil {
		t.Fatalf("Invite: %v", err)
	}
	defer inv.Close()
	parsed, err := ParseInvite(inv.Invite().String())
	if err != nil {
		t.Fatalf("ParseInvite: %v", err)
	}
	jr, err := joiner.Join(ctx, parsed, opts)
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	ir, err := inv.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if len(ir.Code) != 6 || ir.Code != jr.Code {
		t.Fatalf("codes differ or are malformed: inviter %q, joiner %q", ir.Code, jr.Code)
	}
	return ir, jr
}

func deviceOf(t testing.TB, d *device, id string) (trustsync.Device, bool) {
	t.Helper()
	ms, err := d.space.Members(context.Background())
	must(t, err)
	dev, _, ok := findDevice(ms, id)
	return dev, ok
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hasBoundary(t testing.TB, d *device, text string) bool {
	t.Helper()
	bs, err := d.space.Boundaries(context.Background(), crdt.ListOptions{All: true})
	must(t, err)
	return slices.ContainsFunc(bs, func(b trustsync.Boundary) bool { return b.Text == text })
}

func historyHas(t testing.TB, d *device, sub string) bool {
	t.Helper()
	hs, err := d.space.History(context.Background(), crdt.HistoryOptions{})
	must(t, err)
	return slices.ContainsFunc(hs, func(c trustsync.Change) bool { return strings.Contains(c.Summary, sub) })
}

func TestInvite_StringRoundTrip(t *testing.T) {
	a := newDevice(t, "Alex")
	na := a.start(t)
	inv := invite(t, na, InviteOptions{}).Invite()
	got, err := ParseInvite(" " + inv.String()[:20] + "\n" + inv.String()[20:] + " ")
	must(t, err)
	if got.Peer != inv.Peer || got.SpaceID != inv.SpaceID || !got.Expires.Equal(inv.Expires) ||
		got.Secret != inv.Secret || len(got.Addrs) != len(inv.Addrs) {
		t.Fatalf("round trip changed the invite: %+v, want %+v", got, inv)
	}
	s := inv.String()
	for _, tc := range []struct{ name, text string }{
		{"empty", ""},
		{"no prefix", strings.TrimPrefix(s, InvitePrefix)},
		{"cut", s[:len(s)-3]},
		{"one letter changed", s[:30] + string(rune(s[30]^1)) + s[31:]},
	} {
		if _, err := ParseInvite(tc.text); !errors.Is(err, ErrInviteInvalid) {
			t.Errorf("%s: ParseInvite = %v, want ErrInviteInvalid", tc.name, err)
		}
	}
}

func TestNode_PairTwoPartners(t *testing.T) {
	ctx := testCtx(t)
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	_, err := b.space.AddBoundary(ctx, "written by Sam before pairing")
	must(t, err)
	na, nb := a.start(t), b.start(t)
	ir, jr := pairVia(t, na, nb, JoinOptions{})
	if !ir.NewMember || ir.Remote.MemberName != "Sam" || jr.Remote.MemberName != "Alex" || jr.Remote.DeviceName != "Alex-laptop" {
		t.Fatalf("results: inviter %+v, joiner %+v", ir, jr)
	}
	if b.space.Self().SpaceID != a.space.Self().SpaceID {
		t.Fatal("the joining device did not join the inviting device's space")
	}
	// Each device's record came from that device alone, so its peer ID is
	// visible everywhere (not hidden by a concurrent copy); the record
	// holds no address. Each device keeps the other's addresses itself.
	for _, d := range []*device{a, b} {
		for _, o := range []*device{a, b} {
			dev, ok := deviceOf(t, d, o.space.Self().DeviceID)
			if !ok || dev.PeerID != o.id.String() || len(dev.Addrs) != 0 || dev.Removed {
				t.Fatalf("%s's record of %s: %+v (found %v)", d.space.Self().MemberName, o.space.Self().DeviceName, dev, ok)
			}
		}
	}
	waitAddrs(t, a, b)
	waitAddrs(t, b, a)
	_, err = a.space.AddBoundary(ctx, "written by Alex after pairing")
	must(t, err)
	waitSynced(t, na, nb)
	sameState(t, a, b)
	for _, d := range []*device{a, b} {
		if !hasBoundary(t, d, "written by Sam before pairing") || !hasBoundary(t, d, "written by Alex after pairing") {
			t.Fatalf("%s lacks a boundary", d.space.Self().MemberName)
		}
		if !historyHas(t, d, "paired with the device") {
			t.Fatalf("%s's history does not show the pairing", d.space.Self().MemberName)
		}
		if ms, _ := d.space.Members(ctx); len(ms) != 2 {
			t.Fatalf("%s sees %d members, want 2", d.space.Self().MemberName, len(ms))
		}
	}
	devs, err := na.Devices(ctx)
	must(t, err)
	slices.SortFunc(devs, func(x, y DeviceStatus) int { return strings.Compare(x.Owner.Name, y.Owner.Name) })
	if len(devs) != 2 || !devs[0].This || devs[1].Owner.Name != "Sam" || !devs[1].Online || devs[1].LastSeen.IsZero() {
		t.Fatalf("devices on Alex's: %+v", devs)
	}
}

// TestInvite_RefusedAttempts presents invites that must not pair, many times
// each, and checks that both sides say why and nothing was paired.
func TestInvite_RefusedAttempts(t *testing.T) {
	ctx := testCtx(t)
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	na, nb := a.start(t), b.start(t)
	events, stop := na.Subscribe()
	defer stop()
	clock := struct {
		stdsync.Mutex
		at time.Time
	}{at: time.Now()}
	now := func() time.Time { clock.Lock(); defer clock.Unlock(); return clock.at }
	inv := invite(t, na, InviteOptions{TTL: time.Hour, now: now})
	good := inv.Invite()

	// Strangers with fresh devices: their own state must not change.
	c := newDevice(t, "Casey")
	nc := c.start(t)
	cSpace := c.space.Self().SpaceID

	refusedOnA := func(want error) {
		t.Helper()
		for {
			select {
			case ev := <-events:
				if ev.Type != PairRefused {
					continue
				}
				if !errors.Is(ev.Err, want) {
					t.Fatalf("A refused with %v, want %v", ev.Err, want)
				}
				return
			case <-ctx.Done():
				t.Fatalf("A reported no refusal (want %v)", want)
			}
		}
	}
	const attempts = 25
	forged := good
	wrongSpace := good
	wrongSpace.SpaceID = cSpace
	for i := range attempts {
		copy(forged.Secret[:], fmt.Sprintf("forged secret number %02d ......", i))
		for _, tc := range []struct {
			name string
			inv  Invite
			want error
		}{
			{"forged", forged, ErrInviteInvalid},
			{"wrong space", wrongSpace, ErrInviteSpace},
		} {
			_, err := nc.Join(ctx, tc.inv, JoinOptions{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("%s attempt %d: Join = %v, want %v", tc.name, i, err, tc.want)
			}
			refusedOnA(tc.want)
		}
	}
	// None of that used the invite up: the partner pairs with it.
	jr, err := nb.Join(ctx, good, JoinOptions{})
	must(t, err)
	ir, err := inv.Wait(ctx)
	must(t, err)
	if ir.Code != jr.Code {
		t.Fatalf("codes differ: %s and %s", ir.Code, jr.Code)
	}
	for ev := range events {
		if ev.Type == Paired {
			break
		}
	}

	// The invite is used up: a second device, and the first one again,
	// are refused, on both sides.
	for i := range attempts {
		if _, err := nc.Join(ctx, good, JoinOptions{}); !errors.Is(err, ErrInviteUsed) {
			t.Fatalf("second device, attempt %d: Join = %v, want ErrInviteUsed", i, err)
		}
		refusedOnA(ErrInviteUsed)
		if _, err := nb.Join(ctx, good, JoinOptions{}); !errors.Is(err, ErrInviteUsed) {
			t.Fatalf("same device again, attempt %d: Join = %v, want ErrInviteUsed", i, err)
		}
	}

	// An expired invite: the joining device refuses it itself; presented
	// anyway (its clock is behind), the inviting device refuses it.
	inv2 := invite(t, na, InviteOptions{TTL: time.Minute, now: now})
	clock.Lock()
	clock.at = clock.at.Add(2 * time.Minute)
	clock.Unlock()
	for i := range attempts {
		if _, err := nc.Join(ctx, inv2.Invite(), JoinOptions{now: now}); !errors.Is(err, ErrInviteExpired) {
			t.Fatalf("expired, attempt %d: Join = %v, want ErrInviteExpired", i, err)
		}
		if _, err := nc.Join(ctx, inv2.Invite(), JoinOptions{}); !errors.Is(err, ErrInviteExpired) {
			t.Fatalf("expired (joiner's clock behind), attempt %d: Join = %v, want ErrInviteExpired", i, err)
		}
		refusedOnA(ErrInviteExpired)
	}
	if _, err := inv2.Wait(ctx); !errors.Is(err, ErrInviteExpired) {
		t.Fatalf("Wait on an expired invite = %v", err)
	}

	// Nothing of Casey reached Alex, nothing of Alex reached Casey.
	ms, err := a.space.Members(ctx)
	must(t, err)
	if len(ms) != 2 || !slices.ContainsFunc(ms, func(m trustsync.Member) bool { return m.Name == "Sam" }) {
		t.Fatalf("Alex's members: %s", names(ms))
	}
	if _, ok := deviceOf(t, a, c.space.Self().DeviceID); ok {
		t.Fatal("Casey's device reached Alex's space")
	}
	if cm, _ := c.space.Members(ctx); len(cm) != 1 || c.space.Self().SpaceID != cSpace {
		t.Fatalf("Casey's space changed: %d members", len(cm))
	}
	if slices.Contains(na.Peers(), nc.ID()) {
		t.Fatal("Alex trusts Casey")
	}
}

// stranger is a bare libp2p host on 127.0.0.1.
func stranger(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	must(t, err)
	t.Cleanup(func() { h.Close() })
	return h
}

// readAll reads what a stream gives within a short time.
func readAll(st io.Reader) []byte {
	b, _ := io.ReadAll(io.LimitReader(st, 1<<20))
	return b
}

// TestNode_StrangerGetsNoDocumentByte counts what unpaired peers receive,
// with and without an open invitation.
func TestNode_StrangerGetsNoDocumentByte(t *testing.T) {
	ctx := testCtx(t)
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	_, err := a.space.AddBoundary(ctx, "private words")
	must(t, err)
	na, nb := a.start(t), b.start(t)
	pairVia(t, na, nb, JoinOptions{})
	s := stranger(t)

	try := func(i int, proto protocol.ID, send []byte) []byte {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = s.Connect(cctx, na.AddrInfo()) // nil even when refused
		st, err := s.NewStream(cctx, na.ID(), proto)
		if err != nil {
			return nil
		}
		defer st.Reset()
		_ = st.SetDeadline(time.Now().Add(3 * time.Second))
		if send != nil {
			st.Write(send)
		}
		return readAll(st)
	}
	helloBody, _ := hello{Version: 1, SpaceID: a.space.Self().SpaceID, DeviceID: b.space.Self().DeviceID,
		MemberID: b.space.Self().MemberID}.encode()
	syncHello := encodeFrame(frameHello, helloBody)
	forgedPair := encodeFrame(pairHello, append([]byte(`{"v":1,"space":"`+a.space.Self().SpaceID+`","expires":1,"commit":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`), make([]byte, 32)...))

	for _, inviting := range []bool{false, true} {
		var inv *Invitation
		if inviting {
			inv = invite(t, na, InviteOptions{})
		}
		for i := range 25 {
			if got := try(i, ProtocolID, syncHello); len(got) != 0 {
				t.Fatalf("inviting=%v attempt %d: a stranger got %d bytes of the sync protocol", inviting, i, len(got))
			}
			if got := try(i, UnpairProtocolID, encodeFrame(byeFrame, []byte(`{}`))); len(got) != 0 {
				t.Fatalf("inviting=%v attempt %d: a stranger got %d bytes of the unpair protocol", inviting, i, len(got))
			}
			got := try(i, PairProtocolID, forgedPair)
			if !inviting {
				if len(got) != 0 {
					t.Fatalf("attempt %d: a stranger got %d bytes of pairing with no invite open", i, len(got))
				}
				continue
			}
			// One refusal frame and nothing else.
			f, err := readFrame(bufio.NewReader(strings.NewReader(string(got))), 1<<10)
			var m pairRefuseMsg
			if err != nil || f.typ != pairRefuse || json.Unmarshal(f.body, &m) != nil || m.Code != "invalid" ||
				len(got) != len(encodeFrame(f.typ, f.body)) {
				t.Fatalf("attempt %d: a stranger's forged pairing got %q", i, got)
			}
		}
		if inv != nil {
			inv.Close()
		}
	}
	if slices.Contains(na.Online(), s.ID()) || slices.Contains(na.Peers(), s.ID()) {
		t.Fatal("the stranger counts as a device")
	}
	// After the invitation closed, the stranger's connections were dropped.
	waitFor(t, "the stranger is disconnected", func() bool { return len(na.Host().Network().ConnsToPeer(s.ID())) == 0 })
}

// TestNode_FurtherDevicesJoin: Sam's phone joins through an invite of
// Alex's device, Alex's tablet through Sam's laptop; all four converge.
func TestNode_FurtherDevicesJoin(t *testing.T) {
	ctx := testCtx(t)
	alex, sam := newDevice(t, "Alex"), newDevice(t, "Sam")
	na, ns := alex.start(t), sam.start(t)
	pairVia(t, na, ns, JoinOptions{})

	phone := newDevice(t, "sam") // matched by name, ignoring case
	tablet := newDevice(t, "Tablet owner")
	np, nt := phone.start(t), tablet.start(t)
	ir, jr := pairVia(t, ns, np, JoinOptions{})
	if ir.NewMember || jr.Remote.MemberName != "Sam" || ir.Remote.MemberName != "Sam" {
		t.Fatalf("phone joined as %+v / %+v", ir, jr)
	}
	ir, _ = pairVia(t, na, nt, JoinOptions{As: "alex"})
	if ir.NewMember || ir.Remote.MemberName != "Alex" {
		t.Fatalf("tablet joined as %+v", ir)
	}
	if phone.space.Self().MemberID != sam.space.Self().MemberID || tablet.space.Self().MemberID != alex.space.Self().MemberID {
		t.Fatal("a further device did not take its person's member ID")
	}

	all := []*device{alex, sam, phone, tablet}
	nodes := []*Node{na, ns, np, nt}
	for i, d := range all {
		_, err := d.space.AddBoundary(ctx, fmt.Sprintf("from device %d", i))
		must(t, err)
	}
	for _, d := range all {
		waitFor(t, "every boundary reached every device", func() bool {
			for i := range all {
				if !hasBoundary(t, d, fmt.Sprintf("from device %d", i)) {
					return false
				}
			}
			return true
		})
	}
	for i := range nodes {
		for j := i + 1; j < len(nodes); j++ {
			waitFor(t, "every device trusts every other", func() bool { return slices.Contains(nodes[i].Peers(), nodes[j].ID()) })
			waitSynced(t, nodes[i], nodes[j])
		}
	}
	sameState(t, all...)
	for _, d := range all {
		ms, err := d.space.Members(ctx)
		must(t, err)
		if len(ms) != 2 || len(ms[0].Devices) != 2 || len(ms[1].Devices) != 2 {
			t.Fatalf("%s sees %s with %d and %d devices", d.space.Self().DeviceName, names(ms), len(ms[0].Devices), len(ms[1].Devices))
		}
	}

	// A third person is refused, and so is joining as someone else from a
	// device that already wrote things of its own.
	other := newDevice(t, "Robin")
	no := other.start(t)
	_, err := other.space.AddBoundary(ctx, "Robin's own")
	must(t, err)
	for _, opts := range []JoinOptions{{}, {As: "Sam"}} {
		inv := invite(t, na, InviteOptions{})
		if _, err := no.Join(ctx, inv.Invite(), opts); !errors.Is(err, ErrPairRefused) {
			t.Fatalf("Robin joining with %+v: %v, want ErrPairRefused", opts, err)
		}
		if _, err := inv.Wait(ctx); !errors.Is(err, ErrPairRefused) {
			t.Fatalf("Alex's side of Robin's attempt: %v", err)
		}
	}
	if ms, _ := alex.space.Members(ctx); len(ms) != 2 {
		t.Fatalf("Alex's space has %d members after Robin's attempts", len(ms))
	}
}

// TestNode_NoDeviceInTheOtherName is the reviewer's repro: Sam invites
// from his own device and a fresh device asks to join as Alex. Both sides
// refuse, and nothing it could write counts as Alex's. Sam's own further
// device still joins through Sam's invite.
func TestNode_NoDeviceInTheOtherName(t *testing.T) {
	ctx := testCtx(t)
	alex, sam := newDevice(t, "Alex"), newDevice(t, "Sam")
	na, ns := alex.start(t), sam.start(t)
	pairVia(t, na, ns, JoinOptions{})

	for _, tc := range []struct {
		opts JoinOptions
		want string
	}{
		{JoinOptions{As: "Alex"}, "this invite adds another device of Sam's own; it cannot make this device Alex's (--as Alex)"},
		{JoinOptions{}, "this invite adds another device of Sam's own, but this device was set up as Alex: join with --as Sam only if it is Sam's device"},
	} {
		opts, want := tc.opts, tc.want
		fake := newDevice(t, "Alex") // named like Alex
		nf := fake.start(t)
		inv := invite(t, ns, InviteOptions{})
		_, err := nf.Join(ctx, inv.Invite(), opts)
		if !errors.Is(err, ErrPairRefused) || !strings.Contains(err.Error(), want) {
			t.Fatalf("joining as Alex through Sam's device (%+v): %v", opts, err)
		}
		if _, err := inv.Wait(ctx); !errors.Is(err, ErrPairRefused) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Sam's side of the attempt: %v", err)
		}
		if fake.space.Self().MemberID == alex.space.Self().MemberID {
			t.Fatal("the refused device took Alex's member ID")
		}
		if _, ok := deviceOf(t, sam, fake.space.Self().DeviceID); ok {
			t.Fatal("Sam's space records the refused device")
		}
		if slices.Contains(ns.Peers(), nf.ID()) {
			t.Fatal("Sam's node trusts the refused device")
		}
	}

	// A modified client that skips its own check is refused by the
	// inviting device all the same.
	fake := newDevice(t, "Robin")
	nf := fake.start(t)
	inv := invite(t, ns, InviteOptions{})
	_, err := nf.Join(ctx, inv.Invite(), JoinOptions{As: "Alex", forgeJoin: true})
	want := "the invite is for another device of Sam's own, and the joining device asks to join as Alex"
	if !errors.Is(err, ErrPairRefused) || !strings.Contains(err.Error(), "the other device says") || !strings.Contains(err.Error(), want) {
		t.Fatalf("Robin joining as Alex: %v", err)
	}
	if _, err := inv.Wait(ctx); !errors.Is(err, ErrPairRefused) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Sam's side: %v", err)
	}

	phone := newDevice(t, "Sam")
	np := phone.start(t)
	ir, jr := pairVia(t, ns, np, JoinOptions{})
	if ir.NewMember || ir.Remote.MemberName != "Sam" || jr.Remote.MemberName != "Sam" ||
		phone.space.Self().MemberID != sam.space.Self().MemberID {
		t.Fatalf("Sam's phone joined as %+v / %+v", ir, jr)
	}
	_, err = phone.space.AddBoundary(ctx, "from Sam's phone")
	must(t, err)
	waitFor(t, "Alex has the phone's boundary", func() bool { return hasBoundary(t, alex, "from Sam's phone") })
	if d, ok := deviceOf(t, alex, phone.space.Self().DeviceID); !ok || d.Owner.ID != sam.space.Self().MemberID {
		t.Fatalf("Alex sees the phone as %+v (found %v)", d, ok)
	}
}

// TestNode_Unpair: after Alex unpairs, Sam's devices are refused, every
// time, and nothing written afterwards reaches them.
func TestNode_Unpair(t *testing.T) {
	ctx := testCtx(t)
	alex, sam := newDevice(t, "Alex"), newDevice(t, "Sam")
	na, ns := alex.start(t), sam.start(t)
	pairVia(t, na, ns, JoinOptions{})
	_, err := alex.space.AddBoundary(ctx, "before")
	must(t, err)
	waitSynced(t, na, ns)
	samEvents, stop := ns.Subscribe()
	defer stop()

	res, err := na.Unpair(ctx)
	must(t, err)
	if len(res.Removed) != 1 || res.Removed[0].ID != sam.space.Self().DeviceID || len(res.Told) != 1 {
		t.Fatalf("Unpair = %+v", res)
	}
	_, err = alex.space.AddBoundary(ctx, "after")
	must(t, err)
	for ev := range samEvents {
		if ev.Type == Unpaired {
			if ev.Remote.MemberName != "Alex" {
				t.Fatalf("Sam heard of the unpairing from %+v", ev.Remote)
			}
			break
		}
	}
	if !historyHas(t, alex, "unpaired \"Sam-laptop\" of Sam") {
		t.Fatal("Alex's history does not show the unpairing")
	}
	waitFor(t, "Sam records the unpairing", func() bool { return historyHas(t, sam, "Alex unpaired this device") })
	if slices.Contains(ns.Peers(), na.ID()) || slices.Contains(na.Peers(), ns.ID()) {
		t.Fatal("a side still trusts the other")
	}

	// Sam's device, restarted and still trusting Alex (as when it was
	// offline during the unpairing), dials again and again: refused.
	ns.Close()
	must(t, sam.space.NotePaired(ctx, alex.space.Self().DeviceID)) // trust Alex again, locally
	ns2 := sam.start(t)
	for i := range 25 {
		_, err := alex.space.AddBoundary(ctx, fmt.Sprintf("after %d", i))
		must(t, err)
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = ns2.Host().Connect(cctx, na.AddrInfo()) // nil even when refused
		for _, proto := range []protocol.ID{ProtocolID, UnpairProtocolID, PairProtocolID} {
			st, err := ns2.Host().NewStream(cctx, na.ID(), proto)
			if err == nil {
				_ = st.SetDeadline(time.Now().Add(2 * time.Second))
				got := readAll(st)
				st.Reset()
				t.Fatalf("attempt %d: the removed device opened %s and got %d bytes", i, proto, len(got))
			}
		}
		cancel()
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := ns2.Connect(cctx, na.AddrInfo()); err == nil {
		t.Fatal("the removed device's node connected")
	}
	for i := range 25 {
		if hasBoundary(t, sam, fmt.Sprintf("after %d", i)) {
			t.Fatalf("change %d made after the unpairing reached the removed device", i)
		}
	}
	if hasBoundary(t, sam, "after") {
		t.Fatal("a change made after the unpairing reached the removed device")
	}
	if !hasBoundary(t, sam, "before") {
		t.Fatal("the removed device lost its copy")
	}
	if on := na.Online(); len(on) != 0 {
		t.Fatalf("Alex is online with %v", on)
	}
}
