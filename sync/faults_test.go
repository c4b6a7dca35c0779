package sync

// The sync part of the fault battery (issue 6). docs/RELIABILITY.md lists
// every test of the battery with the figures of a real run. The default
// mode is short; TRUSTSYNC_LONG=1 runs the long one.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"go.uber.org/goleak"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/faults"
)

// fltNoLeaks checks, when the test and all its cleanups are done, that no
// goroutine started by the test is left. Call it first in a test, so that
// its cleanup runs last.
func fltNoLeaks(t *testing.T) {
	opts := []goleak.Option{
		goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/tcpreuse.(*ConnMgr).dial"),
	}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// fltStart starts a node for d on 127.0.0.1 with short keepalives, so that
// a silent peer is dropped after 3 x keepAlive.
func fltStart(t *testing.T, d *device, keepAlive time.Duration) *Node {
	t.Helper()
	n, err := New(Config{Space: d.space, Store: d.st, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true,
		Logger: testLogger(), RedialMin: 20 * time.Millisecond, RedialMax: 500 * time.Millisecond,
		RefreshInterval: 50 * time.Millisecond,
		Session:         SessionConfig{KeepAlive: keepAlive, Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// fltRawHost is a bare libp2p host with a trusted device's key, for a peer
// that speaks the protocol by hand. It is closed when the test ends.
func fltRawHost(t *testing.T, d *device, target *Node) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(d.key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.Connect(ctx, target.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	return h
}

// fltHello is the hello frame of device d claiming the documents of its
// space with their heads.
func fltHello(t *testing.T, d *device, docs map[string][]string) []byte {
	t.Helper()
	self := d.space.Self()
	return helloFrame(t, hello{Version: ProtocolVersion, SpaceID: self.SpaceID, DeviceID: self.DeviceID,
		MemberID: self.MemberID, Docs: docs})
}

// fltEdit adds a boundary on d and returns its ID.
func fltEdit(t *testing.T, d *device, text string) string {
	t.Helper()
	id, err := d.space.AddBoundary(context.Background(), text)
	must(t, err)
	return id
}

func fltHas(t *testing.T, d *device, ids []string, where string) {
	t.Helper()
	for _, id := range ids {
		if _, err := d.space.Boundary(context.Background(), id); err != nil {
			t.Errorf("%s: acknowledged boundary %s is missing: %v", where, id, err)
		}
	}
}

// TestFaults_HostileFramesOverLibp2p has a paired device (its key is
// trusted) open real libp2p streams to a node and send hostile mutations of
// real documents and sync messages as SNAPSHOT and SYNC frames, one per
// stream, while the node keeps a live session with the legitimate partner.
// Each frame is followed by a frame of an unknown type: the ERROR frame the
// node answers names which of the two it refused, so every input is
// counted as accepted or rejected. The test process never dies, the partner
// keeps syncing (edits made during and after the attack converge) and
// nothing acknowledged is lost.
func TestFaults_HostileFramesOverLibp2p(t *testing.T) {
	fltNoLeaks(t)
	ctx := context.Background()
	a, b, evil := newDevice(t, "Sam"), newDevice(t, "Alex"), newDevice(t, "Alex")
	pairAll(t, a, b, evil)
	var acked []string
	for i := range 3 {
		acked = append(acked, fltEdit(t, a, fmt.Sprint("Sam before ", i)), fltEdit(t, b, fmt.Sprint("Alex before ", i)))
	}
	na, nb := fltStart(t, a, time.Second), fltStart(t, b, time.Second)
	connect(t, na, nb)
	waitSynced(t, na, nb)

	// Seeds: the documents of the space as they are now, the first sync
	// message of each, and the inputs that killed a bare process when the
	// sandbox battery found them. (The structured generator lives under
	// crdt/internal and feeds the crdt battery; here the point is the wire.)
	docs, err := a.space.Docs(ctx)
	must(t, err)
	heads := map[string][]string{}
	var seeds []fltInput
	fresh := b.space.Peer(strings.Repeat("0f", 16))
	for _, doc := range docs {
		data, err := a.space.Save(ctx, doc)
		must(t, err)
		seeds = append(seeds, fltInput{"doc", "save " + doc, data})
		msg, ok, err := fresh.GenerateMessage(ctx, doc)
		must(t, err)
		if ok {
			seeds = append(seeds, fltInput{"sync", "message " + doc, msg})
		}
		heads[doc], err = a.space.Heads(ctx, doc)
		must(t, err)
	}
	killers := fltAbortSeeds(t)
	h := fltRawHost(t, evil, na)
	rng := rand.New(rand.NewPCG(11, 12))

	n := faults.N(60, 1500)
	var accepted, rejected, oddEnds int
	kinds := map[string][2]int{}
	for i := range n {
		in := fltMutate(rng, seeds, killers, i)
		typ := frameSync
		if in.kind != "sync" {
			typ = frameSnapshot
		}
		doc := docs[i%len(docs)]
		body, err := encodeDocPayload(doc, in.data)
		must(t, err)
		verdict := fltAttack(t, h, na, fltHello(t, evil, heads), encodeFrame(typ, body))
		key := in.kind + "/" + in.op
		k := kinds[key]
		switch verdict {
		case "accepted":
			accepted++
			k[0]++
		case "rejected":
			rejected++
			k[1]++
		default:
			oddEnds++
			t.Logf("input %d (%s): %s", i, key, verdict)
		}
		kinds[key] = k
		if i%10 == 9 {
			// The partner edits during the attack.
			acked = append(acked, fltEdit(t, b, fmt.Sprint("Alex during ", i)))
		}
	}
	t.Logf("hostile frames over libp2p: %d (by kind, accepted/rejected: %v); accepted %d, rejected with an ERROR frame %d, other ends %d",
		n, kinds, accepted, rejected, oddEnds)
	if accepted+rejected != n {
		t.Errorf("%d of %d hostile frames ended neither accepted nor rejected", n-accepted-rejected, n)
	}
	if rejected == 0 {
		t.Errorf("no hostile frame was rejected")
	}

	// The partner kept syncing throughout, and still does.
	acked = append(acked, fltEdit(t, b, "Alex after the attack"), fltEdit(t, a, "Sam after the attack"))
	waitSynced(t, na, nb)
	sameState(t, a, b)
	fltHas(t, a, acked, "Sam's device")
	fltHas(t, b, acked, "Alex's device")
	if on := na.Online(); len(on) == 0 {
		t.Errorf("the node has no session left")
	}
	t.Logf("acknowledged edits: %d, present on both devices after the attack", len(acked))
}

// fltInput is one input of the hostile peer: a kind ("doc" for SNAPSHOT
// frames, "sync" for SYNC frames), how it was made, its bytes.
type fltInput struct {
	kind, op string
	data     []byte
}

// fltAbortSeeds reads the inputs that aborted a bare process when the
// sandbox battery found them.
func fltAbortSeeds(t *testing.T) []fltInput {
	t.Helper()
	paths, err := filepath.Glob("../crdt/internal/sandbox/testdata/abort-*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no abort seeds: %v", err)
	}
	var out []fltInput
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		must(t, err)
		var c struct {
			Kind string `json:"kind"`
			Data []byte `json:"data"`
		}
		must(t, json.Unmarshal(raw, &c))
		kind := "doc"
		if c.Kind == "sync" {
			kind = "sync"
		}
		out = append(out, fltInput{kind, "abort seed " + filepath.Base(p), c.Data})
	}
	return out
}

// fltMutate makes the i-th hostile input: a known killer, a seed as it is,
// truncated, with bytes flipped (with the Automerge chunk checksum
// recomputed, or not), random bytes, or two seeds spliced.
func fltMutate(rng *rand.Rand, seeds, killers []fltInput, i int) fltInput {
	if i < len(killers) {
		return killers[i]
	}
	s := seeds[rng.IntN(len(seeds))]
	d := append([]byte(nil), s.data...)
	in := fltInput{kind: s.kind}
	switch rng.IntN(7) {
	case 0:
		in.op = "unchanged"
	case 1:
		in.op, d = "truncated", d[:rng.IntN(len(d))]
	case 2:
		in.op = "flipped"
		for range 1 + rng.IntN(4) {
			d[rng.IntN(len(d))] ^= byte(1 + rng.IntN(255))
		}
	case 3, 4:
		in.op = "flipped+checksum"
		for range 1 + rng.IntN(3) {
			d[rng.IntN(len(d))] ^= byte(1 + rng.IntN(255))
		}
		fltFixChecksum(d)
	case 5:
		in.op, d = "random", make([]byte, 1+rng.IntN(2000))
		for j := range d {
			d[j] = byte(rng.UintN(256))
		}
		if rng.IntN(2) == 0 && len(d) > 8 {
			copy(d, []byte{0x85, 0x6f, 0x4a, 0x83}) // Automerge magic
		}
	case 6:
		o := seeds[rng.IntN(len(seeds))]
		in.op, d = "spliced", append(d[:rng.IntN(len(d))], o.data[rng.IntN(len(o.data)):]...)
	}
	if len(d) == 0 {
		d = []byte{0x42}
	}
	in.data = d
	return in
}

// fltFixChecksum recomputes the checksum of the Automerge chunk at the
// start of b, as an attacker would: magic, 4-byte checksum, type byte,
// uLEB128 body length, body; the checksum is the start of the SHA-256 of
// type, length and body. A sync message (0x42 ...) has no checksum of its
// own and is left alone.
func fltFixChecksum(b []byte) {
	if len(b) < 10 || b[0] != 0x85 {
		return
	}
	n, k := binary.Uvarint(b[9:])
	if k <= 0 || 9+k+int(n) > len(b) {
		return
	}
	sum := sha256.Sum256(b[8 : 9+k+int(n)])
	copy(b[4:8], sum[:4])
}

// fltAttack opens a stream from h to the node, exchanges hellos, sends
// frame followed by a frame of unknown type 99, and reads until the node's
// ERROR: "rejected" when it refused frame, "accepted" when it refused only
// the unknown one, or what else happened.
func fltAttack(t *testing.T, h host.Host, target *Node, helloFr, frame []byte) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "faults"), target.ID(), ProtocolID)
	if err != nil {
		return "no stream: " + err.Error()
	}
	defer st.Reset()
	st.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := st.Write(helloFr); err != nil {
		return "hello not sent: " + err.Error()
	}
	br := bufio.NewReader(st)
	f, err := readFrame(br, DefaultMaxFrame)
	if err != nil || f.typ != frameHello {
		return fmt.Sprintf("no hello back: frame %d, %v", f.typ, err)
	}
	// The node may answer the hello with frames of its own; the two
	// frames go out meanwhile.
	go func() {
		st.Write(frame)
		st.Write(encodeFrame(99, nil))
	}()
	for {
		f, err := readFrame(br, DefaultMaxFrame)
		if err != nil {
			return "stream ended without an ERROR frame: " + err.Error()
		}
		if f.typ != frameError {
			continue
		}
		d := &decoder{b: f.body}
		reason := d.string("reason")
		if strings.Contains(reason, "unknown frame type 99") {
			return "accepted"
		}
		return "rejected"
	}
}

// TestFaults_StallingPeer has a paired device stall mid-message (a frame
// header and then nothing, at the hello and inside a SYNC frame), and open
// streams it never writes to, far more than allowed. The node cuts each off
// (deadlines, libp2p's resource manager), keeps serving the legitimate
// partner, and leaves no goroutine behind.
func TestFaults_StallingPeer(t *testing.T) {
	fltNoLeaks(t)
	const keepAlive = 100 * time.Millisecond // silent peers dropped after 300 ms
	a, b, evil := newDevice(t, "Sam"), newDevice(t, "Alex"), newDevice(t, "Alex")
	pairAll(t, a, b, evil)
	na, nb := fltStart(t, a, keepAlive), fltStart(t, b, keepAlive)
	connect(t, na, nb)
	waitSynced(t, na, nb)
	h := fltRawHost(t, evil, na)
	var acked []string
	ctx := context.Background()

	// ended waits until the node ends a stream: a read returns an error
	// or an ERROR frame.
	ended := func(st network.Stream) string {
		st.SetReadDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(st)
		for {
			f, err := readFrame(br, DefaultMaxFrame)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("the node never cut off the stalled stream")
				}
				return "closed (" + err.Error() + ")"
			}
			if f.typ == frameError {
				d := &decoder{b: f.body}
				return "ERROR frame: " + d.string("reason")
			}
		}
	}
	open := func() (network.Stream, error) {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return h.NewStream(cctx, na.ID(), ProtocolID)
	}

	rounds := faults.N(3, 20)
	stalls := 0
	for r := range rounds {
		// 1. A hello frame header announcing 1000 bytes, then 10 of them.
		st, err := open()
		must(t, err)
		hdr := binary.AppendUvarint(nil, 1000)
		st.Write(append(append(hdr, frameHello), make([]byte, 9)...))
		t.Logf("round %d: stalled in the hello: %s", r, ended(st))
		st.Reset()
		stalls++

		// 2. A real hello, then a SYNC frame cut in the middle.
		docs, err := a.space.Docs(ctx)
		must(t, err)
		heads := map[string][]string{}
		for _, doc := range docs {
			heads[doc], err = a.space.Heads(ctx, doc)
			must(t, err)
		}
		st, err = open()
		must(t, err)
		_, err = st.Write(fltHello(t, evil, heads))
		must(t, err)
		body, err := encodeDocPayload(crdt.BoundariesDoc, make([]byte, 5000))
		must(t, err)
		fr := encodeFrame(frameSync, body)
		st.Write(fr[:len(fr)/2])
		t.Logf("round %d: stalled inside a SYNC frame: %s", r, ended(st))
		st.Reset()
		stalls++

		// The partner syncs between the attacks.
		acked = append(acked, fltEdit(t, b, fmt.Sprint("Alex in round ", r)))
	}

	// 3. Streams without end: many at once, none ever written to.
	want := faults.N(40, 200)
	var streams []network.Stream
	refused := 0
	for range want {
		st, err := open()
		if err != nil {
			refused++
			continue
		}
		// A stream is only refused by the node's resource manager once
		// its protocol is negotiated: the first write or read tells.
		if _, err := st.Write([]byte{}); err != nil {
			refused++
			st.Reset()
			continue
		}
		streams = append(streams, st)
	}
	cut := 0
	for _, st := range streams {
		ended(st)
		st.Reset()
		cut++
	}
	t.Logf("stalled mid-message: %d, all cut off; streams opened without end: %d, refused at once: %d, cut off later: %d", stalls, want, refused, cut)
	if refused+cut != want {
		t.Errorf("%d streams neither refused nor cut off", want-refused-cut)
	}

	// The legitimate partner was served throughout, and still is.
	acked = append(acked, fltEdit(t, b, "Alex after"), fltEdit(t, a, "Sam after"))
	waitSynced(t, na, nb)
	sameState(t, a, b)
	fltHas(t, a, acked, "Sam's device")
	if len(na.Online()) == 0 {
		t.Errorf("Sam's node has no session left")
	}
	t.Logf("partner edits during and after the stalls: %d, all synced", len(acked))
}

// fltCutConn is a net.Conn that fails every read and write once budget
// bytes went through it in total, as a network partition would.
type fltCutConn struct {
	net.Conn
	budget *int64
	mu     *chan struct{} // one token: guards budget across both ends
}

func (c fltCutConn) spend(n int) (int, bool) {
	<-*c.mu
	defer func() { *c.mu <- struct{}{} }()
	if *c.budget <= 0 {
		return 0, false
	}
	if int64(n) > *c.budget {
		n = int(*c.budget)
	}
	*c.budget -= int64(n)
	return n, true
}

func (c fltCutConn) Write(p []byte) (int, error) {
	n, ok := c.spend(len(p))
	if !ok {
		c.Conn.Close()
		return 0, io.ErrClosedPipe
	}
	w, err := c.Conn.Write(p[:n])
	if err == nil && n < len(p) {
		c.Conn.Close()
		err = io.ErrClosedPipe
	}
	return w, err
}

func (c fltCutConn) Read(p []byte) (int, error) {
	if _, ok := c.spend(0); !ok {
		c.Conn.Close()
		return 0, io.ErrClosedPipe
	}
	return c.Conn.Read(p)
}

// TestFaults_PartitionMidSync cuts the connection between two devices
// after a random number of bytes, many times, while both edit: every
// exchange is broken somewhere in the hellos, the snapshots, the sync
// messages or the statuses. After healing, both devices hold the same
// items and nothing acknowledged is lost.
func TestFaults_PartitionMidSync(t *testing.T) {
	fltNoLeaks(t)
	ctx := context.Background()
	a, b := newDevice(t, "Sam"), newDevice(t, "Alex")
	pairAll(t, a, b)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	rounds := faults.N(40, 400)
	var acked []string
	cutErrs, completed := 0, 0
	for r := range rounds {
		for i := range 1 + rng.IntN(4) {
			d, who := a, "Sam"
			if rng.IntN(2) == 0 {
				d, who = b, "Alex"
			}
			acked = append(acked, fltEdit(t, d, fmt.Sprintf("%s round %d edit %d", who, r, i)))
			if rng.IntN(4) == 0 {
				_, err := d.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: trustsync.Mood(1 + rng.IntN(5)), Note: strings.Repeat("x", rng.IntN(2000))})
				must(t, err)
			}
		}
		budget := int64(rng.IntN(2500))
		tok := make(chan struct{}, 1)
		tok <- struct{}{}
		ca, cb := net.Pipe()
		sa := NewSession(a.space, SessionConfig{Conn: fltCutConn{ca, &budget, &tok}, Initiator: true, KeepAlive: 200 * time.Millisecond})
		sb := NewSession(b.space, SessionConfig{Conn: fltCutConn{cb, &budget, &tok}, KeepAlive: 200 * time.Millisecond})
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		errs := make(chan error, 2)
		go func() { errs <- sa.Run(rctx) }()
		go func() { errs <- sb.Run(rctx) }()
		// A budget larger than the exchange lets it finish: the round
		// then ends once both sides are synced.
		synced := make(chan bool, 1)
		go func() {
			ok := sa.WaitSynced(rctx) == nil && sb.WaitSynced(rctx) == nil
			synced <- ok
			cancel()
		}()
		e1, e2 := <-errs, <-errs
		if <-synced {
			completed++
		} else {
			cutErrs++
		}
		if errors.Is(e1, context.DeadlineExceeded) || errors.Is(e2, context.DeadlineExceeded) {
			t.Fatalf("round %d: a cut session did not end: %v, %v", r, e1, e2)
		}
	}
	// Heal.
	sa, sb := runSessions(t, spaceReplica{a.space}, spaceReplica{b.space}, SessionConfig{}, SessionConfig{})
	waitBoth(t, sa, sb)
	if state(t, a) != state(t, b) {
		// Say what each side left out of the exchange, and why.
		ra, _ := a.space.Refusals(ctx, []string{b.space.Self().DeviceID})
		rb, _ := b.space.Refusals(ctx, []string{a.space.Self().DeviceID})
		t.Errorf("after healing: refused by Sam's side %v / %+v, by Alex's side %v / %+v; damaged %v / %v; stored refusals %+v / %+v",
			sa.Refusals(), sa.Stats(), sb.Refusals(), sb.Stats(), sa.Damaged(), sb.Damaged(), ra, rb)
	}
	sameState(t, a, b)
	fltHas(t, a, acked, "Sam's device")
	fltHas(t, b, acked, "Alex's device")
	t.Logf("%d exchanges with a random byte budget: %d cut before both sides were synced, %d finished first; %d acknowledged boundaries present on both devices after healing (lost: 0)", rounds, cutErrs, completed, len(acked))
	if cutErrs < rounds/3 {
		t.Errorf("only %d of %d exchanges were cut", cutErrs, rounds)
	}
}
