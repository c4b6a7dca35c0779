package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/testpair"
	"github.com/trustsync/trustsync/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Process-wide workers of libp2p's dependencies, started once.
		goleak.IgnoreAnyFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/tcpreuse.(*ConnMgr).dial"),
	)
}

// device is one test device: a space on an in-memory store and its key.
type device struct {
	space *crdt.Space
	st    trustsync.Store
	key   crypto.PrivKey
	id    peer.ID
}

func newDevice(t testing.TB, member string) *device {
	t.Helper()
	d := newDeviceNoTB(t, member)
	t.Cleanup(func() { d.space.Close(); d.st.Close() })
	return d
}

// fataler is what both *testing.T and *rapid.T offer.
type fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// newDeviceNoTB makes a device the caller closes.
func newDeviceNoTB(t fataler, member string) *device {
	t.Helper()
	ctx := context.Background()
	st := store.NewMemory()
	sp, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: member, DeviceName: member + "-laptop"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := LoadOrCreateKey(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &device{space: sp, st: st, key: key, id: id}
}

// pairAll pairs every two devices by hand, as a pairing leaves them
// (internal/testpair): they join the first one's space and each holds
// every other's device record and peer ID. The first sync is the test's.
func pairAll(t fataler, devs ...*device) {
	t.Helper()
	spaces := make([]*crdt.Space, len(devs))
	for i, d := range devs {
		spaces[i] = d.space
	}
	testpair.Spaces(t, spaces...)
}

func (d *device) start(t testing.TB, listen ...string) *Node {
	t.Helper()
	if len(listen) == 0 {
		listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	n, err := New(Config{Space: d.space, Store: d.st, ListenAddrs: listen, NoMDNS: true, Logger: testLogger(),
		RedialMin: 20 * time.Millisecond, RedialMax: 500 * time.Millisecond, RefreshInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func connect(t testing.TB, a, b *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Connect(ctx, b.AddrInfo()); err != nil {
		t.Fatalf("connect: %v", err)
	}
}

func waitSynced(t testing.TB, a, b *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.WaitSynced(ctx, b.ID()); err != nil {
		t.Fatalf("WaitSynced: %v", err)
	}
	if err := b.WaitSynced(ctx, a.ID()); err != nil {
		t.Fatalf("WaitSynced (other side): %v", err)
	}
}

// state renders what a user sees of a space, for comparing devices.
func state(t fataler, d *device) string {
	t.Helper()
	ctx := context.Background()
	bs, err := d.space.Boundaries(ctx, crdt.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := d.space.Goals(ctx, crdt.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := d.space.CheckIns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	for _, b := range bs {
		out += fmt.Sprintf("boundary %s %q agreed=%v n=%d\n", b.ID, b.Text, b.Agreed, len(b.Agreements))
	}
	for _, g := range gs {
		out += fmt.Sprintf("goal %s %q done=%v steps=%d\n", g.ID, g.Title, g.Done, len(g.Steps))
	}
	for _, c := range cs {
		out += fmt.Sprintf("checkin %s %q acks=%d\n", c.ID, c.Note, len(c.Acks))
	}
	docs, err := d.space.Docs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs {
		if doc == crdt.SpaceDoc {
			// Nodes record their peer IDs there at start, possibly
			// right after WaitSynced returned.
			continue
		}
		hs, err := d.space.Heads(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf("heads %s %v\n", doc, hs)
	}
	return out
}

func sameState(t fataler, devs ...*device) {
	t.Helper()
	want := state(t, devs[0])
	for i, d := range devs[1:] {
		if got := state(t, d); got != want {
			t.Fatalf("device %d differs:\n%s\nfrom device 0:\n%s", i+1, got, want)
		}
	}
}

func TestNode_LiveSync(t *testing.T) {
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	na, nb := a.start(t), b.start(t)
	events, stop := na.Subscribe()
	defer stop()
	connect(t, nb, na)
	waitSynced(t, na, nb)

	ctx := context.Background()
	id, err := b.space.AddBoundary(ctx, "No phones at dinner")
	if err != nil {
		t.Fatal(err)
	}
	// A learns of it without any call on A's side: live push.
	deadline := time.After(time.Minute)
	for got := false; !got; {
		select {
		case ev := <-events:
			if ev.Type == ChangesReceived && slices.Contains(ev.Received.Items, crdt.ItemRef{Kind: crdt.KindBoundary, ID: id}) {
				got = true
				if ev.Remote.MemberName != "Sam" {
					t.Errorf("change attributed to %q, want Sam", ev.Remote.MemberName)
				}
			}
		case <-deadline:
			t.Fatal("the boundary never arrived on A")
		}
	}
	bd, err := a.space.Boundary(ctx, id)
	if err != nil || bd.Text != "No phones at dinner" {
		t.Fatalf("A reads %+v, %v", bd, err)
	}
	if on := na.Online(); !slices.Equal(on, []peer.ID{nb.ID()}) {
		t.Fatalf("A sees online %v, want B", on)
	}
}

func TestNode_OfflineEditsMergeOnReconnect(t *testing.T) {
	ctx := context.Background()
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	na, nb := a.start(t), b.start(t)
	connect(t, na, nb)
	shared, err := a.space.AddBoundary(ctx, "We talk before spending over 100")
	if err != nil {
		t.Fatal(err)
	}
	waitSynced(t, na, nb)
	// Each device keeps the addresses the other told it in the session;
	// going offline before they were kept would leave nothing to redial.
	waitAddrs(t, a, b)
	waitAddrs(t, b, a)
	listenA := addrStrings(na)
	listenB := addrStrings(nb)
	na.Close()
	nb.Close()

	// Offline on both sides, including a concurrent edit of one boundary.
	var want []string
	for i := range 3 {
		id, err := a.space.AddBoundary(ctx, fmt.Sprintf("alex boundary %d", i))
		must(t, err)
		want = append(want, id)
		id, err = b.space.AddBoundary(ctx, fmt.Sprintf("sam boundary %d", i))
		must(t, err)
		want = append(want, id)
	}
	must(t, a.space.EditBoundary(ctx, shared, "We talk before spending over 100 euros"))
	must(t, b.space.EditBoundary(ctx, shared, "We always talk before spending over 100"))
	must(t, a.space.AgreeBoundary(ctx, shared))
	must(t, b.space.AgreeBoundary(ctx, shared))
	g, err := a.space.AddGoal(ctx, "Weekly walk", "time together")
	must(t, err)
	_, err = b.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Note: "better week"})
	must(t, err)

	// Back online on the same ports: each redials the other from the
	// addresses it kept, with no Connect call.
	na2, nb2 := a.start(t, listenA...), b.start(t, listenB...)
	waitSynced(t, na2, nb2)
	sameState(t, a, b)
	for _, id := range want {
		if _, err := b.space.Boundary(ctx, id); err != nil {
			t.Errorf("boundary %s missing on B: %v", id, err)
		}
		if _, err := a.space.Boundary(ctx, id); err != nil {
			t.Errorf("boundary %s missing on A: %v", id, err)
		}
	}
	if _, err := b.space.Goal(ctx, g); err != nil {
		t.Errorf("goal missing on B: %v", err)
	}
	bd, err := b.space.Boundary(ctx, shared)
	must(t, err)
	for _, frag := range []string{"euros", "always"} {
		if !contains(bd.Text, frag) {
			t.Errorf("merged text %q lost %q", bd.Text, frag)
		}
	}
	if bd.Agreed {
		t.Errorf("agreements to two different texts count as agreed: %+v", bd)
	}
}

func addrStrings(n *Node) []string {
	var out []string
	for _, a := range n.AddrInfo().Addrs {
		out = append(out, a.String())
	}
	return out
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func must(t fataler, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// stranger is a libp2p host outside the space, counting every byte it gets.
func TestNode_RefusesUnknownPeerBeforeAnyByte(t *testing.T) {
	ctx := context.Background()
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	_, err := a.space.AddBoundary(ctx, "private words")
	must(t, err)
	na := a.start(t)
	events, stop := na.Subscribe()
	defer stop()

	// A node with a host of the caller's: no gater of ours, refused per
	// stream instead.
	hostC, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	must(t, err)
	defer hostC.Close()
	c := newDevice(t, "Casey")
	nc, err := New(Config{Space: c.space, Host: hostC, NoMDNS: true})
	must(t, err)
	must(t, nc.Start(ctx))
	defer nc.Close()

	for _, target := range []*Node{na, nc} {
		stranger, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
		must(t, err)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = stranger.Connect(cctx, target.AddrInfo()) // nil even when refused
		var got int64
		st, err := stranger.NewStream(cctx, target.ID(), ProtocolID)
		if err == nil {
			// Say hello like a device would, then count what comes back.
			body, _ := hello{Version: 1, SpaceID: a.space.Self().SpaceID, DeviceID: "0123456789abcdef0123456789abcdef", MemberID: "x"}.encode()
			st.Write(encodeFrame(frameHello, body))
			st.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, _ = io.Copy(io.Discard, st)
			st.Reset()
		}
		cancel()
		stranger.Close()
		if got != 0 {
			t.Fatalf("stranger received %d bytes from %s", got, target.ID())
		}
	}
	select {
	case ev := <-events:
		t.Fatalf("event for a stranger: %+v", ev)
	default:
	}
	if on := na.Online(); len(on) != 0 {
		t.Fatalf("online: %v", on)
	}
}

func TestNode_ConnectToUnpairedDeviceFails(t *testing.T) {
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	// B trusts A but A never recorded B: A's gater refuses B. B's Connect
	// must not report success.
	must(t, b.space.Adopt(context.Background(), a.space.Self().SpaceID))
	self := a.space.Self()
	dev := trustsync.Device{ID: self.DeviceID, Name: "x",
		Owner: trustsync.Person{ID: self.MemberID, Name: "Alex"}, PeerID: a.id.String()}
	must(t, b.space.TrustDevice(context.Background(), dev))
	data, err := a.space.SaveSigned(context.Background(), crdt.SpaceDoc)
	must(t, err)
	_, err = b.space.Import(context.Background(), crdt.SpaceDoc, data, self.DeviceID)
	must(t, err)
	must(t, b.space.AddDevice(context.Background(), dev))
	na, nb := a.start(t), b.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := nb.Connect(ctx, na.AddrInfo()); err == nil {
		t.Fatal("Connect to a device that does not trust us returned nil")
	}
	if _, err := nb.SyncOnce(ctx); !errors.Is(err, ErrNoPeers) {
		t.Fatalf("SyncOnce = %v, want ErrNoPeers", err)
	}
	if err := na.Connect(ctx, nb.AddrInfo()); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("A connecting to an unpaired device = %v, want ErrUnknownDevice", err)
	}
}

func TestNode_CutSessionsConverge(t *testing.T) {
	ctx := context.Background()
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	na, nb := a.start(t), b.start(t)
	connect(t, na, nb)
	rng := rand.New(rand.NewPCG(1, 2))
	var ids []string
	for round := range 8 {
		for i := range 5 {
			d := a
			if rng.IntN(2) == 0 {
				d = b
			}
			id, err := d.space.AddBoundary(ctx, fmt.Sprintf("round %d edit %d %s", round, i, string(rune('a'+rng.IntN(26)))))
			must(t, err)
			ids = append(ids, id)
		}
		// Cut the connection at a random moment of the exchange.
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		if rng.IntN(2) == 0 {
			na.Host().Network().ClosePeer(nb.ID())
		} else {
			for _, c := range nb.Host().Network().ConnsToPeer(na.ID()) {
				for _, s := range c.GetStreams() {
					s.Reset()
				}
			}
		}
	}
	waitSynced(t, na, nb)
	sameState(t, a, b)
	for _, id := range ids {
		if _, err := a.space.Boundary(ctx, id); err != nil {
			t.Fatalf("lost %s on A: %v", id, err)
		}
	}
}

func TestNode_ThreeDevicesConverge(t *testing.T) {
	ctx := context.Background()
	a, b, c := newDevice(t, "Alex"), newDevice(t, "Sam"), newDevice(t, "Sam-phone")
	pairAll(t, a, b, c)
	na, nb, nc := a.start(t), b.start(t), c.start(t)
	connect(t, na, nb)
	connect(t, nb, nc)
	connect(t, na, nc)
	for i, d := range []*device{a, b, c} {
		_, err := d.space.AddBoundary(ctx, fmt.Sprintf("from device %d", i))
		must(t, err)
		_, err = d.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: trustsync.Mood(i + 1), Note: "hi"})
		must(t, err)
	}
	waitSynced(t, na, nb)
	waitSynced(t, nb, nc)
	waitSynced(t, na, nc)
	sameState(t, a, b, c)
	bs, err := c.space.Boundaries(ctx, crdt.ListOptions{})
	must(t, err)
	if len(bs) != 3 {
		t.Fatalf("C has %d boundaries, want 3", len(bs))
	}
}

func TestNode_SyncOnceReportsInWords(t *testing.T) {
	ctx := context.Background()
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	nb := b.start(t)
	// A is `trustsync sync`: A keeps B's address, as it would after an
	// earlier sync.
	self := b.space.Self()
	must(t, a.space.AddDevice(ctx, trustsync.Device{ID: self.DeviceID, Name: self.DeviceName,
		Owner: trustsync.Person{ID: self.MemberID, Name: "Sam"}, PeerID: b.id.String(), Addrs: addrStrings(nb)}))
	for _, text := range []string{"one", "two"} {
		_, err := b.space.AddBoundary(ctx, text)
		must(t, err)
	}
	_, err := b.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: "ok"})
	must(t, err)
	_, err = a.space.AddGoal(ctx, "walks", "")
	must(t, err)
	na := a.start(t)
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rep, err := na.SyncOnce(sctx)
	must(t, err)
	got := rep.String()
	want := "received 2 boundaries, 1 check-in and changes to the devices from Sam (Sam-laptop); sent 1 goal and changes to the devices"
	if got != want {
		t.Fatalf("report %q\nwant   %q", got, want)
	}
}

// TestNode_SyncOnceCountsWhatMovedBeforeIt: the partner's serve dials a
// node that `trustsync sync` just started, and everything moves before
// SyncOnce is called. SyncOnce still reports it, instead of "already in
// sync"; a second SyncOnce then reports nothing new.
func TestNode_SyncOnceCountsWhatMovedBeforeIt(t *testing.T) {
	ctx := context.Background()
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	_, err := a.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: "ok"})
	must(t, err)
	_, err = b.space.AddBoundary(ctx, "one")
	must(t, err)
	na, nb := a.start(t), b.start(t)
	connect(t, nb, na) // Sam's serve dials first
	waitSynced(t, na, nb)
	sctx, cancel := context.WithTimeout(ctx, time.Minute) // a hang detector
	defer cancel()
	rep, err := na.SyncOnce(sctx)
	must(t, err)
	if got := rep.String(); !strings.Contains(got, "received 1 boundary") || !strings.Contains(got, "sent 1 check-in") {
		t.Fatalf("first SyncOnce reported %q, want the boundary received and the check-in sent", got)
	}
	rep, err = na.SyncOnce(sctx)
	must(t, err)
	if got := rep.String(); !strings.HasPrefix(got, "already in sync") {
		t.Fatalf("second SyncOnce reported %q, want nothing new", got)
	}
}

var _ network.Stream

func testLogger() *slog.Logger {
	if os.Getenv("SYNC_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitAddrs waits until d's space holds addresses for other's device.
func waitAddrs(t testing.TB, d, other *device) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		k, err := d.space.KnownAddrs(context.Background(), other.space.Self().DeviceID)
		must(t, err)
		if len(k.Addrs) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the partner's addresses were never kept")
}
