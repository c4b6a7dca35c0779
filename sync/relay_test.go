package sync

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/trustsync/trustsync"
)

// testRelay is a circuit relay v2 service on 127.0.0.1, as `trustsync
// relay` runs one on a machine with a public address.
type testRelay struct {
	opts []relayv2.Option
	key  crypto.PrivKey
	h    host.Host
	svc  *relayv2.Relay
	addr string // with /p2p/
}

func startRelay(t *testing.T, key crypto.PrivKey, listen string, opts ...relayv2.Option) *testRelay {
	t.Helper()
	if key == nil {
		var err error
		if key, _, err = crypto.GenerateEd25519Key(nil); err != nil {
			t.Fatal(err)
		}
	}
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings(listen), libp2p.DisableRelay(),
		libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := relayv2.New(h, opts...)
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	r := &testRelay{opts: opts, key: key, h: h, svc: svc}
	r.addr = h.Addrs()[0].String() + "/p2p/" + h.ID().String()
	t.Cleanup(r.close)
	return r
}

func (r *testRelay) close() {
	r.svc.Close()
	r.h.Close()
}

// restart stops the relay and starts it again with the same key and
// address, as a relay machine that rebooted: every reservation is gone.
func (r *testRelay) restart(t *testing.T) {
	t.Helper()
	r.close()
	listen := strings.TrimSuffix(r.addr, "/p2p/"+r.h.ID().String())
	var nr *testRelay
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, err := libp2p.New(libp2p.Identity(r.key), libp2p.ListenAddrStrings(listen), libp2p.DisableRelay(),
			libp2p.DisableMetrics())
		if err == nil {
			svc, err := relayv2.New(h, r.opts...)
			if err != nil {
				h.Close()
				t.Fatal(err)
			}
			nr = &testRelay{opts: r.opts, key: r.key, h: h, svc: svc, addr: r.addr}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restart the relay at %s: %v", listen, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	*r = *nr
}

func (r *testRelay) info(t *testing.T) peer.AddrInfo {
	t.Helper()
	ai, err := ParseRelayAddr(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	return ai
}

// startBehindNAT starts d's node listening nowhere: like a device behind a
// NAT that lets nothing in, it can be reached only through a relay.
func (d *device) startBehindNAT(t *testing.T, mod func(*Config)) *Node {
	t.Helper()
	cfg := Config{Space: d.space, Store: d.st, NoMDNS: true, Logger: testLogger(), noListen: true,
		RedialMin: 20 * time.Millisecond, RedialMax: 500 * time.Millisecond, RefreshInterval: 50 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func waitBoundary(t *testing.T, d *device, id string) {
	t.Helper()
	waitFor(t, "the boundary "+id+" to arrive", func() bool {
		_, err := d.space.Boundary(context.Background(), id)
		return err == nil
	})
}

// Two paired devices that know no direct address of each other, each
// behind a "NAT", meet through the couple's relay: Path says relayed, a
// live edit arrives, edits made offline merge when the node comes back,
// and the relay cannot open a sync session.
func TestNode_Relayed(t *testing.T) {
	ctx := context.Background()
	relay := startRelay(t, nil, "/ip4/127.0.0.1/tcp/0")
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	// Alex chooses the relay; Sam's device learns it by syncing... which
	// needs the relay: in real use the invite carries it. Here both
	// record it, as after a first sync.
	must(t, a.space.UseRelay(ctx, relay.addr))
	must(t, b.space.UseRelay(ctx, relay.addr))
	noPunch := func(c *Config) { c.NoHolePunch = true }
	na := a.startBehindNAT(t, noPunch)
	paths, stop := na.Subscribe()
	defer stop()
	nb := b.startBehindNAT(t, noPunch)
	rid := relay.h.ID()
	waitFor(t, "both reservations", func() bool { return na.Reserved(rid) && nb.Reserved(rid) })
	waitSynced(t, na, nb)
	if p := na.Path(nb.ID()); p != PathRelayed {
		t.Fatalf("Alex's device reaches Sam's %s, want relayed", p)
	}
	if p := nb.Path(na.ID()); p != PathRelayed {
		t.Fatalf("Sam's device reaches Alex's %s, want relayed", p)
	}
	waitEvent(t, paths, func(ev Event) bool { return ev.Type == PathChanged && ev.Path == PathRelayed && ev.Peer == nb.ID() })
	for _, k := range []*device{a, b} {
		other := map[*device]*device{a: b, b: a}[k]
		kn, err := k.space.KnownAddrs(ctx, other.space.Self().DeviceID)
		must(t, err)
		for _, s := range kn.All() {
			if strings.Contains(s, "p2p-circuit") {
				t.Fatalf("an address through the relay was kept as the device's own: %v", kn)
			}
		}
	}

	// A live edit goes through the relay.
	id, err := b.space.AddBoundary(ctx, "We say goodnight even after a fight")
	must(t, err)
	waitBoundary(t, a, id)
	rep, err := na.SyncOnce(ctx)
	must(t, err)
	if rep.Peers[0].Path != PathRelayed {
		t.Fatalf("SyncOnce reports the path %s", rep.Peers[0].Path)
	}

	// The relay is let in for the relay protocol only: a sync stream it
	// opens is refused before any hello.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if st, err := relay.h.NewStream(sctx, na.ID(), ProtocolID); err == nil {
		_ = st.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := st.Read(make([]byte, 1)); err == nil {
			t.Fatal("the relay opened a sync stream that was answered")
		}
		st.Reset()
	}
	if slices.Contains(na.Online(), rid) {
		t.Fatal("the relay counts as an online device")
	}

	// Offline edits on both sides merge when Sam's node comes back.
	must(t, nb.Close())
	ida, err := a.space.AddBoundary(ctx, "We keep Sundays free")
	must(t, err)
	idb, err := b.space.AddBoundary(ctx, "We ask before sharing photos")
	must(t, err)
	nb2 := b.startBehindNAT(t, noPunch)
	waitSynced(t, na, nb2)
	waitBoundary(t, a, idb)
	waitBoundary(t, b, ida)
	sameState(t, a, b)
	if p := nb2.Path(na.ID()); p != PathRelayed {
		t.Fatalf("after reconnecting, Sam's device reaches Alex's %s", p)
	}
}

func waitEvent(t *testing.T, events <-chan Event, ok func(Event) bool) Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ok(ev) {
				return ev
			}
		case <-timeout:
			t.Fatal("gave up waiting for an event")
		}
	}
}

// A relay that restarts forgets every reservation: each node reserves
// again by itself, and the devices find each other again without a
// restart of either node.
func TestNode_RelayRestart(t *testing.T) {
	ctx := context.Background()
	relay := startRelay(t, nil, "/ip4/127.0.0.1/tcp/0")
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	ai := relay.info(t)
	extra := func(c *Config) { c.Relays = []peer.AddrInfo{ai}; c.NoHolePunch = true }
	na, nb := a.startBehindNAT(t, extra), b.startBehindNAT(t, extra)
	rid := relay.h.ID()
	waitFor(t, "both reservations", func() bool { return na.Reserved(rid) && nb.Reserved(rid) })
	waitSynced(t, na, nb)

	relay.restart(t)
	waitFor(t, "the reservations again", func() bool {
		return relay.h.Network().Connectedness(na.ID()) == network.Connected &&
			relay.h.Network().Connectedness(nb.ID()) == network.Connected && na.Reserved(rid) && nb.Reserved(rid)
	})
	id, err := a.space.AddBoundary(ctx, "We take a walk after dinner")
	must(t, err)
	waitBoundary(t, b, id)
	if p := na.Path(nb.ID()); p != PathRelayed {
		t.Fatalf("after the relay restarted, the path is %s", p)
	}
}

// With NoRelay, nothing dials the relay, whatever the space and the
// configuration list.
func TestNode_NoRelay(t *testing.T) {
	ctx := context.Background()
	relay := startRelay(t, nil, "/ip4/127.0.0.1/tcp/0")
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	must(t, a.space.UseRelay(ctx, relay.addr))
	off := func(c *Config) { c.NoRelay = true; c.Relays = []peer.AddrInfo{relay.info(t)} }
	na := a.startBehindNAT(t, off)
	nb := b.start(t) // listening on 127.0.0.1, reachable
	if len(na.Relays()) != 0 {
		t.Fatalf("relays in use with NoRelay: %v", na.Relays())
	}
	connect(t, na, nb)
	waitSynced(t, na, nb)
	if p := na.Path(nb.ID()); p != PathDirect {
		t.Fatalf("the path is %s, want direct", p)
	}
	time.Sleep(500 * time.Millisecond)
	if c := relay.h.Network().ConnsToPeer(na.ID()); len(c) != 0 {
		t.Fatalf("the node connected to the relay with NoRelay: %v", c)
	}
}

// A device reachable directly takes the session off the relay: the two
// meet through it, then a direct dial works (on loopback, as on a LAN or
// where hole punching succeeds) and the session moves over, with nothing
// lost. Hole punching stays on: on loopback there is no public address to
// punch from, and Path says direct, not hole punched.
func TestNode_RelayedMovesToDirect(t *testing.T) {
	ctx := context.Background()
	relay := startRelay(t, nil, "/ip4/127.0.0.1/tcp/0")
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	must(t, a.space.UseRelay(ctx, relay.addr))
	must(t, b.space.UseRelay(ctx, relay.addr))
	na := a.startBehindNAT(t, nil)
	events, stop := na.Subscribe()
	defer stop()
	nb := b.start(t) // listens on 127.0.0.1, which Alex's device does not know yet
	rid := relay.h.ID()
	waitFor(t, "both reservations", func() bool { return na.Reserved(rid) && nb.Reserved(rid) })
	first := waitEvent(t, events, func(ev Event) bool { return ev.Type == PathChanged && ev.Peer == nb.ID() })
	if first.Path != PathRelayed {
		t.Fatalf("the first path is %s, want relayed: Alex's device knew no direct address", first.Path)
	}
	waitEvent(t, events, func(ev Event) bool { return ev.Type == PathChanged && ev.Path == PathDirect && ev.Peer == nb.ID() })
	waitSynced(t, na, nb)
	waitFor(t, "both sides direct", func() bool {
		return na.Path(nb.ID()) == PathDirect && nb.Path(na.ID()) == PathDirect
	})
	id, err := b.space.AddBoundary(ctx, "We plan the week on Sunday")
	must(t, err)
	waitBoundary(t, a, id)
	waitSynced(t, na, nb)
	sameState(t, a, b)
}

func TestParseRelayAddr(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	must(t, err)
	id, err := peer.IDFromPrivateKey(key)
	must(t, err)
	good := "/ip4/203.0.113.7/tcp/4001/p2p/" + id.String()
	ai, err := ParseRelayAddr(good)
	must(t, err)
	if ai.ID != id || len(ai.Addrs) != 1 || !ai.Addrs[0].Equal(ma.StringCast("/ip4/203.0.113.7/tcp/4001")) {
		t.Fatalf("ParseRelayAddr(%q) = %v", good, ai)
	}
	for _, bad := range []string{"", "relay.example.org", "/ip4/203.0.113.7/tcp/4001", good + "/p2p-circuit"} {
		if _, err := ParseRelayAddr(bad); !errors.Is(err, trustsync.ErrInvalid) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseRelayAddr(%q): %v", bad, err)
		}
	}
	if PathHolePunched.String() != "hole punched" || Path(99).String() != "unreachable" {
		t.Fatal("Path words")
	}
}

// An invite carries the relays; one without relays keeps the format the
// versions before relays read.
func TestInvite_Relays(t *testing.T) {
	relay := startRelay(t, nil, "/ip4/127.0.0.1/tcp/0")
	key, _, err := crypto.GenerateEd25519Key(nil)
	must(t, err)
	id, err := peer.IDFromPrivateKey(key)
	must(t, err)
	r := ma.StringCast(relay.addr)
	inv, err := newInvite(id, []ma.Multiaddr{ma.StringCast("/ip4/192.0.2.1/tcp/4001")}, []ma.Multiaddr{r},
		"space1", time.Now().Add(time.Minute), PurposeUnset)
	must(t, err)
	got, err := ParseInvite(inv.String())
	must(t, err)
	if len(got.Relays) != 1 || !got.Relays[0].Equal(r) || got.Purpose != PurposeUnset || got.Peer != id {
		t.Fatalf("round trip: %+v", got)
	}
	inv.Relays = nil
	if b := inviteBytes(t, inv.String()); b[0] != 1 {
		t.Fatalf("an invite without relays or purpose is version %d, want 1", b[0])
	}
	inv.Purpose = PurposePartner
	if b := inviteBytes(t, inv.String()); b[0] != 2 {
		t.Fatalf("an invite with a purpose and no relays is version %d, want 2", b[0])
	}
}

func inviteBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, InvitePrefix))
	must(t, err)
	return b
}

// An invite made by a modified app with junk where the relays go is
// refused as invalid, whatever the junk: nothing is dialed.
func TestInvite_HostileRelays(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	must(t, err)
	id, err := peer.IDFromPrivateKey(key)
	must(t, err)
	inv, err := newInvite(id, nil, nil, "space1", time.Now().Add(time.Minute), PurposePartner)
	must(t, err)
	base := inviteBytes(t, inv.String())
	body := append([]byte{3}, base[1:len(base)-4]...) // version 3, up to the purpose
	circuit := ma.StringCast("/ip4/192.0.2.1/tcp/1/p2p/" + id.String() + "/p2p-circuit")
	for name, tail := range map[string][]byte{
		"junk bytes":       appendBytes([]byte{1}, []byte{0xff, 0xfe, 0x00, 0x13}),
		"no peer ID":       appendBytes([]byte{1}, ma.StringCast("/ip4/192.0.2.1/tcp/1").Bytes()),
		"a circuit":        appendBytes([]byte{1}, circuit.Bytes()),
		"too many":         binary.AppendUvarint(nil, 1000),
		"count past end":   {5},
		"oversized":        appendBytes([]byte{1}, make([]byte, 4096)),
		"trailing garbage": append(appendBytes([]byte{1}, ma.StringCast("/ip4/192.0.2.1/tcp/1/p2p/"+id.String()).Bytes()), 7),
	} {
		b := append(slices.Clone(body), tail...)
		sum := sha256.Sum256(b)
		s := InvitePrefix + base64.RawURLEncoding.EncodeToString(append(b, sum[:4]...))
		if _, err := ParseInvite(s); !errors.Is(err, ErrInviteInvalid) {
			t.Errorf("%s: ParseInvite = %v, want ErrInviteInvalid", name, err)
		}
	}
}

// Two devices on different networks pair over a phone call: the inviting
// one is behind a NAT and reachable only through the couple's relay, which
// its invite names; the joining one knows nothing else. After the pairing
// the joining device has the relay from the space and they sync through it.
func TestNode_PairThroughRelay(t *testing.T) {
	ctx := context.Background()
	relay := startRelay(t, nil, "/ip4/127.0.0.1/tcp/0")
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	must(t, a.space.UseRelay(ctx, relay.addr))
	noPunch := func(c *Config) { c.NoHolePunch = true }
	na, nb := a.startBehindNAT(t, noPunch), b.startBehindNAT(t, noPunch)
	waitFor(t, "the inviting device's reservation", func() bool { return na.Reserved(relay.h.ID()) })
	ir, _ := pairVia(t, na, nb, JoinOptions{})
	if ir.Remote.MemberName != "Sam" {
		t.Fatalf("paired with %+v", ir.Remote)
	}
	rs, err := b.space.Relays(ctx)
	must(t, err)
	if !slices.Equal(rs, []string{relay.addr}) {
		t.Fatalf("the joining device's space has relays %v", rs)
	}
	waitFor(t, "the joining device's reservation", func() bool { return nb.Reserved(relay.h.ID()) })
	waitSynced(t, na, nb)
	if p := nb.Path(na.ID()); p != PathRelayed {
		t.Fatalf("after pairing, the path is %s", p)
	}
	id, err := a.space.AddBoundary(ctx, "We call when we are late")
	must(t, err)
	waitBoundary(t, b, id)
}

// A relay's limit cuts a relayed session: the device goes offline in the
// ordinary way (no refusal, nothing for the person to do) and the node
// dials again through the relay; edits keep arriving.
func TestNode_RelayLimitCut(t *testing.T) {
	ctx := context.Background()
	relay := startRelay(t, nil, "/ip4/127.0.0.1/tcp/0", relayv2.WithLimit(&relayv2.RelayLimit{Duration: time.Second, Data: 1 << 20}))
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	extra := func(c *Config) { c.Relays = []peer.AddrInfo{relay.info(t)}; c.NoHolePunch = true }
	na := a.startBehindNAT(t, extra)
	events, stop := na.Subscribe()
	defer stop()
	nb := b.startBehindNAT(t, extra)
	waitSynced(t, na, nb)
	off := waitEvent(t, events, func(ev Event) bool { return ev.Type == PeerOffline && ev.Peer == nb.ID() })
	var re *RefusedError
	if !errors.Is(off.Err, ErrOffline) || errors.As(off.Err, &re) {
		t.Fatalf("the relay's limit cut the session with %v, want an error wrapping ErrOffline", off.Err)
	}
	waitEvent(t, events, func(ev Event) bool { return ev.Type == PeerOnline && ev.Peer == nb.ID() })
	id, err := b.space.AddBoundary(ctx, "We leave work at work")
	must(t, err)
	waitBoundary(t, a, id)
}

// When a device's addresses change (here: it starts listening on a new
// one, as after joining a network), it renews its reservation at once and
// tells the partner's device the new address in the live session, which
// then reaches it directly.
func TestNode_AddrsChanged(t *testing.T) {
	relay := startRelay(t, nil, "/ip4/127.0.0.1/tcp/0")
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	extra := func(c *Config) { c.Relays = []peer.AddrInfo{relay.info(t)}; c.NoHolePunch = true }
	na, nb := a.startBehindNAT(t, extra), b.startBehindNAT(t, extra)
	rid := relay.h.ID()
	waitSynced(t, na, nb)
	if p := nb.Path(na.ID()); p != PathRelayed {
		t.Fatalf("the path is %s before the change", p)
	}
	made := func() int {
		na.relay.mu.Lock()
		defer na.relay.mu.Unlock()
		return na.relay.runs[rid].made
	}
	waitFor(t, "a reservation", func() bool { return made() > 0 })
	before := made()
	must(t, na.Host().Network().Listen(ma.StringCast("/ip4/127.0.0.1/tcp/0")))
	waitFor(t, "the reservation renewed", func() bool { return made() > before })
	waitFor(t, "Sam's device to reach Alex's directly", func() bool {
		return nb.Path(na.ID()) == PathDirect && na.Path(nb.ID()) == PathDirect
	})
	k, err := b.space.KnownAddrs(context.Background(), a.space.Self().DeviceID)
	must(t, err)
	if len(k.Addrs) == 0 {
		t.Fatal("Sam's device did not keep Alex's new address")
	}
}

// Hole punching on loopback: two devices behind "NATs" that let nothing in
// have no public address to punch from, so DCUtR never starts and Path
// stays honest: relayed, never hole punched.
func TestNode_HolePunchLoopback(t *testing.T) {
	relay := startRelay(t, nil, "/ip4/127.0.0.1/tcp/0")
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	extra := func(c *Config) { c.Relays = []peer.AddrInfo{relay.info(t)} }
	na, nb := a.startBehindNAT(t, extra), b.startBehindNAT(t, extra)
	waitSynced(t, na, nb)
	time.Sleep(2 * time.Second)
	if p, q := na.Path(nb.ID()), nb.Path(na.ID()); p != PathRelayed || q != PathRelayed {
		t.Fatalf("paths %s and %s, want relayed", p, q)
	}
}

// A direct connection that DCUtR reports having made is told apart from
// one dialed: Path says hole punched, and a PathChanged event says so.
func TestNode_PathHolePunched(t *testing.T) {
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	na, nb := a.start(t), b.start(t)
	events, stop := na.Subscribe()
	defer stop()
	connect(t, na, nb)
	waitSynced(t, na, nb)
	if p := na.Path(nb.ID()); p != PathDirect {
		t.Fatalf("the path is %s, want direct", p)
	}
	punchTracer{na}.Trace(&holepunch.Event{Type: holepunch.EndHolePunchEvtT, Remote: nb.ID(),
		Evt: &holepunch.EndHolePunchEvt{Success: false}})
	if p := na.Path(nb.ID()); p != PathDirect {
		t.Fatalf("after a failed hole punch the path is %s", p)
	}
	punchTracer{na}.Trace(&holepunch.Event{Type: holepunch.EndHolePunchEvtT, Remote: nb.ID(),
		Evt: &holepunch.EndHolePunchEvt{Success: true}})
	if p := na.Path(nb.ID()); p != PathHolePunched {
		t.Fatalf("after a hole punch the path is %s", p)
	}
	waitEvent(t, events, func(ev Event) bool { return ev.Type == PathChanged && ev.Path == PathHolePunched })
}

// Direct addresses are dialed before any relay, LAN ones included: a
// device on the same LAN is reached directly whenever that works.
func TestDirectFirst(t *testing.T) {
	relayed := ma.StringCast("/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWLRPJAA5o6Hr9J3ToqyHptMTFe9APw2wLcBqRjVsZk3Bw/p2p-circuit")
	direct := []ma.Multiaddr{ma.StringCast("/ip4/192.168.1.20/tcp/4001"), ma.StringCast("/ip4/192.168.1.20/udp/4001/quic-v1")}
	ranked := directFirst(append(slices.Clone(direct), relayed))
	var lastDirect, relay time.Duration
	for _, r := range ranked {
		if isCircuit(r.Addr) {
			relay = r.Delay
		} else {
			lastDirect = max(lastDirect, r.Delay)
		}
	}
	if relay < lastDirect+relayDialDelay {
		t.Fatalf("the relay is dialed %v in, the last direct address %v in", relay, lastDirect)
	}
	if only := directFirst([]ma.Multiaddr{relayed}); len(only) != 1 || only[0].Delay != 0 {
		t.Fatalf("a relay address alone waits %v", only)
	}
}

// With AutoNAT v2 on, the gater lets an unknown peer's connection in only
// from the IP address of a device or relay the node is connected to (an
// AutoNAT server dialing back from a peer ID of its own); with NoAutoNAT,
// never. Such a peer still gets no sync stream.
func TestNode_AutoNATDialBackAdmission(t *testing.T) {
	a, b, c := newDevice(t, "Alex"), newDevice(t, "Sam"), newDevice(t, "Kim")
	pairAll(t, a, b)
	na, nb := a.start(t), b.start(t)
	connect(t, na, nb)
	g := &gater{trusted: na.isTrusted, relay: na.relay.isRelay, probe: na.admitProbe}
	from := func(addr string) network.ConnMultiaddrs { return connAddrs{remote: ma.StringCast(addr)} }
	if !g.InterceptSecured(network.DirInbound, c.id, from("/ip4/127.0.0.1/tcp/5")) {
		t.Fatal("a dial-back from a connected device's IP address was refused")
	}
	if g.InterceptSecured(network.DirInbound, c.id, from("/ip4/198.51.100.9/tcp/5")) {
		t.Fatal("an unknown peer from another IP address was let in")
	}
	if g.InterceptSecured(network.DirOutbound, c.id, from("/ip4/127.0.0.1/tcp/5")) {
		t.Fatal("an outbound connection to an unknown peer was let through")
	}
	na.cfg.NoAutoNAT = true // as a node started with it; nothing else reads it
	if g.InterceptSecured(network.DirInbound, c.id, from("/ip4/127.0.0.1/tcp/5")) {
		t.Fatal("with NoAutoNAT an unknown peer was let in")
	}
}

type connAddrs struct{ remote ma.Multiaddr }

func (c connAddrs) LocalMultiaddr() ma.Multiaddr  { return ma.StringCast("/ip4/127.0.0.1/tcp/1") }
func (c connAddrs) RemoteMultiaddr() ma.Multiaddr { return c.remote }
