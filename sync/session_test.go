package sync

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// runSessions runs a session on each end of a net.Pipe and stops both when
// the test ends.
func runSessions(t *testing.T, a, b replica, cfgA, cfgB SessionConfig) (*Session, *Session) {
	t.Helper()
	ca, cb := net.Pipe()
	cfgA.Conn, cfgB.Conn = ca, cb
	cfgA.Initiator = true
	sa, sb := newSession(a, cfgA), newSession(b, cfgB)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { errs <- sa.Run(ctx) }()
	go func() { errs <- sb.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-errs
		<-errs
	})
	return sa, sb
}

func waitBoth(t *testing.T, sa, sb *Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sa.WaitSynced(ctx); err != nil {
		t.Fatalf("A: WaitSynced: %v", err)
	}
	if err := sb.WaitSynced(ctx); err != nil {
		t.Fatalf("B: WaitSynced: %v", err)
	}
}

// boundaryTexts lists the texts of d's boundaries, sorted.
func boundaryTexts(t *testing.T, d *device) []string {
	t.Helper()
	bs, err := d.space.Boundaries(context.Background(), crdt.ListOptions{All: true})
	must(t, err)
	var out []string
	for _, b := range bs {
		out = append(out, b.Text)
	}
	slices.Sort(out)
	return out
}

// countingReplica is a real space whose sync peers count the sync messages
// they receive, by device and document.
type countingReplica struct {
	spaceReplica
	mu  stdsync.Mutex
	got map[[2]string]int
}

type countingPeer struct {
	syncPeer
	r      *countingReplica
	device string
}

func (r *countingReplica) syncPeer(deviceID string) syncPeer {
	return countingPeer{syncPeer: r.spaceReplica.syncPeer(deviceID), r: r, device: deviceID}
}

func (p countingPeer) ReceiveMessage(ctx context.Context, doc string, msg []byte) (crdt.Received, error) {
	p.r.mu.Lock()
	if p.r.got == nil {
		p.r.got = map[[2]string]int{}
	}
	p.r.got[[2]string{p.device, doc}]++
	p.r.mu.Unlock()
	return p.syncPeer.ReceiveMessage(ctx, doc, msg)
}

// received returns how many sync messages for doc came from device.
func (r *countingReplica) received(device, doc string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[[2]string{device, doc}]
}

func TestSession_SyncsBothWaysAndLive(t *testing.T) {
	ctx := context.Background()
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	_, err := a.space.AddBoundary(ctx, "a1")
	must(t, err)
	_, err = a.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Note: "a2"}) // B lacks this document: snapshot
	must(t, err)
	_, err = b.space.AddBoundary(ctx, "b1")
	must(t, err)
	_, err = b.space.AddGoal(ctx, "b2", "")
	must(t, err)
	sa, sb := runSessions(t, spaceReplica{a.space}, spaceReplica{b.space}, SessionConfig{}, SessionConfig{})
	waitBoth(t, sa, sb)
	sameState(t, a, b)
	if got := boundaryTexts(t, a); !slices.Equal(got, []string{"a1", "b1"}) {
		t.Fatalf("boundaries on A = %v", got)
	}
	if cs, err := b.space.CheckIns(ctx); err != nil || len(cs) != 1 || cs[0].Note != "a2" {
		t.Fatalf("check-ins on B = %v, %v; want A's check-in", cs, err)
	}
	if st := sb.Stats(); st.Received["boundary"] != 1 || st.Received["checkin"] != 1 {
		t.Fatalf("B received %v, want 1 boundary and 1 check-in", st.Received)
	}
	if r, self := sb.Remote(), a.space.Self(); r.DeviceID != self.DeviceID || r.MemberName != "Alex" {
		t.Fatalf("B sees remote %+v", r)
	}

	// Live: an edit after the first sync arrives without a new session.
	_, err = b.space.AddBoundary(ctx, "b3")
	must(t, err)
	waitBoth(t, sa, sb)
	if got := boundaryTexts(t, a); !slices.Contains(got, "b3") {
		t.Fatalf("live edit did not arrive: %v", got)
	}
	// A's tally of what B received from it reaches A through B's STATUS.
	if st := sa.Stats(); st.Sent["boundary"] != 1 || st.Sent["checkin"] != 1 {
		t.Fatalf("A sent %v, want 1 boundary and 1 check-in", st.Sent)
	}
}

// rawPeer is a hand-driven end of a pipe, for feeding a session bytes.
type rawPeer struct {
	conn   net.Conn
	frames chan frame
	done   chan error
}

func startRaw(t *testing.T, s replica, initiator bool) (*rawPeer, *Session, chan error) {
	t.Helper()
	ca, cb := net.Pipe()
	sess := newSession(s, SessionConfig{Conn: cb, Initiator: initiator, MaxFrame: 1 << 16})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- sess.Run(ctx) }()
	rp := &rawPeer{conn: ca, frames: make(chan frame, 100), done: make(chan error, 1)}
	go func() {
		br := bufio.NewReader(ca)
		for {
			f, err := readFrame(br, DefaultMaxFrame)
			if err != nil {
				close(rp.frames)
				rp.done <- err
				return
			}
			rp.frames <- f
		}
	}()
	t.Cleanup(func() {
		cancel()
		ca.Close()
		<-rp.done
		select {
		case <-errc:
		case <-time.After(time.Minute):
			t.Error("session did not stop")
		}
	})
	return rp, sess, errc
}

func (rp *rawPeer) write(t *testing.T, b []byte) {
	t.Helper()
	rp.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	// The session may close the pipe before reading everything; a write
	// error here is part of what is tested.
	rp.conn.Write(b)
}

func helloFrame(t *testing.T, h hello) []byte {
	t.Helper()
	body, err := h.encode()
	if err != nil {
		t.Fatal(err)
	}
	return encodeFrame(frameHello, body)
}

func waitErr(t *testing.T, errc chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		errc <- err // for the cleanup
		return err
	case <-time.After(time.Minute):
		t.Fatal("session did not end")
		return nil
	}
}

// drain returns the frames the session sent until it closed the pipe.
func (rp *rawPeer) drain() []frame {
	var out []frame
	for f := range rp.frames {
		out = append(out, f)
	}
	return out
}

func TestSession_RefusesBeforeAnyDocumentByte(t *testing.T) {
	// Each case gets A (the session under test) and B (paired with A), and
	// returns the hello a peer sends A.
	tests := []struct {
		name  string
		hello func(t *testing.T, a, b crdt.Identity) hello
		setup func(t *testing.T, a, b *device)
		want  error
	}{
		{"other space", func(t *testing.T, a, b crdt.Identity) hello {
			return hello{Version: ProtocolVersion, SpaceID: "other", DeviceID: b.DeviceID, MemberID: b.MemberID}
		}, nil, ErrSpaceMismatch},
		{"unknown device", func(t *testing.T, a, b crdt.Identity) hello {
			return hello{Version: ProtocolVersion, SpaceID: a.SpaceID, DeviceID: "dev-x", MemberID: b.MemberID}
		}, nil, ErrUnknownDevice},
		{"device of another member", func(t *testing.T, a, b crdt.Identity) hello {
			return hello{Version: ProtocolVersion, SpaceID: a.SpaceID, DeviceID: b.DeviceID, MemberID: a.MemberID}
		}, nil, ErrUnknownDevice},
		{"this device", func(t *testing.T, a, b crdt.Identity) hello {
			return hello{Version: ProtocolVersion, SpaceID: a.SpaceID, DeviceID: a.DeviceID, MemberID: a.MemberID}
		}, nil, ErrUnknownDevice},
		{"removed device", func(t *testing.T, a, b crdt.Identity) hello {
			return hello{Version: ProtocolVersion, SpaceID: a.SpaceID, DeviceID: b.DeviceID, MemberID: b.MemberID}
		}, func(t *testing.T, a, b *device) {
			must(t, a.space.RemoveDevices(context.Background(), []string{b.space.Self().DeviceID}, "lost"))
		}, ErrUnknownDevice},
		{"newer protocol", func(t *testing.T, a, b crdt.Identity) hello {
			return hello{Version: ProtocolVersion + 1, SpaceID: a.SpaceID, DeviceID: b.DeviceID, MemberID: b.MemberID}
		}, nil, ErrVersion},
		{"bad doc ID", func(t *testing.T, a, b crdt.Identity) hello {
			return hello{Version: ProtocolVersion, SpaceID: a.SpaceID, DeviceID: b.DeviceID, MemberID: b.MemberID,
				Docs: map[string][]string{"../etc/passwd": nil}}
		}, nil, ErrBadDoc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
			pairAll(t, a, b)
			if tt.setup != nil {
				tt.setup(t, a, b)
			}
			_, err := a.space.AddBoundary(context.Background(), "secret")
			must(t, err)
			rp, _, errc := startRaw(t, spaceReplica{a.space}, false)
			rp.write(t, helloFrame(t, tt.hello(t, a.space.Self(), b.space.Self())))
			err = waitErr(t, errc)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Run = %v, want %v", err, tt.want)
			}
			frames := rp.drain()
			if len(frames) != 1 || frames[0].typ != frameError {
				t.Fatalf("session sent %d frames %v, want one ERROR and nothing else", len(frames), frames)
			}
		})
	}
}

func TestSession_RejectsMalformedFrames(t *testing.T) {
	// raw gets the hello of B, paired with A, for the cases that embed it.
	fixed := func(b []byte) func(*testing.T, hello) []byte {
		return func(*testing.T, hello) []byte { return b }
	}
	syncBody := func(doc string, codec byte, data []byte) []byte {
		b := appendString(nil, doc)
		return append(append(b, codec), data...)
	}
	tests := []struct {
		name      string
		withHello bool
		raw       func(t *testing.T, good hello) []byte
		want      error
	}{
		{"oversized length", true, fixed([]byte{0x80, 0x80, 0x80, 0x08, frameSync}), ErrFrameTooLarge},
		{"length overflows", true, fixed([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), ErrMalformed},
		{"empty frame", true, fixed([]byte{0}), ErrMalformed},
		{"unknown type", true, fixed(encodeFrame(99, []byte("x"))), ErrMalformed},
		{"sync before hello", false, fixed(encodeFrame(frameSync, syncBody("boundaries", 0, []byte("x")))), ErrMalformed},
		{"truncated hello", false, fixed(encodeFrame(frameHello, []byte{ProtocolVersion, 5, 's'})), ErrMalformed},
		{"hello trailing bytes", false, func(t *testing.T, good hello) []byte {
			return encodeFrame(frameHello, append(mustEncode(t, good), 7))
		}, ErrMalformed},
		{"second hello", true, func(t *testing.T, good hello) []byte { return helloFrame(t, good) }, ErrMalformed},
		{"bad doc in sync", true, fixed(encodeFrame(frameSync, syncBody("boundaries/../x", 0, []byte("x")))), ErrBadDoc},
		{"unknown codec", true, fixed(encodeFrame(frameSync, syncBody("goals", 9, []byte("x")))), ErrMalformed},
		{"bad deflate", true, fixed(encodeFrame(frameSync, syncBody("goals", 1, []byte("\xff\xfe garbage")))), ErrMalformed},
		{"empty payload", true, fixed(encodeFrame(frameSync, syncBody("goals", 0, nil))), ErrMalformed},
		{"sync message crdt refuses", true, fixed(encodeFrame(frameSync, syncBody("goals", 0, []byte("{not json")))), errRejected},
		{"snapshot crdt refuses", true, fixed(encodeFrame(frameSnapshot, syncBody("goals", 0, []byte("{not json")))), errRejected},
		{"short status", true, fixed(encodeFrame(frameStatus, []byte{1, 2, 3})), ErrMalformed},
		{"damaged before hello", false, fixed(encodeFrame(frameDamaged, damagedNote{Doc: "goals", Reason: "x"}.encode())), ErrMalformed},
		{"damaged bad doc", true, fixed(encodeFrame(frameDamaged, damagedNote{Doc: "../goals", Reason: "x"}.encode())), ErrBadDoc},
		{"damaged trailing bytes", true, fixed(encodeFrame(frameDamaged, append(damagedNote{Doc: "goals"}.encode(), 1))), ErrMalformed},
		{"damaged reason too long", true, fixed(encodeFrame(frameDamaged, appendString(appendString(nil, "goals"), strings.Repeat("x", maxString+1)))), ErrMalformed},
		{"inflates too far", true, fixed(encodeFrame(frameSync, mustDeflate(t, "goals", maxInflated+1))), ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
			pairAll(t, a, b)
			self := b.space.Self()
			good := hello{Version: ProtocolVersion, SpaceID: self.SpaceID, DeviceID: self.DeviceID, MemberID: self.MemberID}
			rp, _, errc := startRaw(t, spaceReplica{a.space}, false)
			if tt.withHello {
				rp.write(t, helloFrame(t, good))
				if f, ok := <-rp.frames; !ok || f.typ != frameHello {
					t.Fatalf("no hello back: %v", f)
				}
			}
			rp.write(t, tt.raw(t, good))
			err := waitErr(t, errc)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Run = %v, want %v", err, tt.want)
			}
			frames := rp.drain()
			if len(frames) == 0 || frames[len(frames)-1].typ != frameError {
				t.Fatalf("last frame sent is not ERROR: %v", frames)
			}
		})
	}
}

func mustEncode(t *testing.T, h hello) []byte {
	b, err := h.encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustDeflate(t *testing.T, doc string, n int) []byte {
	b, err := encodeDocPayload(doc, make([]byte, n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSession_PeerSeesRemoteError(t *testing.T) {
	// Two devices of two spaces, never paired.
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	sa, sb := runSessions(t, spaceReplica{a.space}, spaceReplica{b.space}, SessionConfig{}, SessionConfig{})
	<-sa.Done()
	<-sb.Done()
	var re *RemoteError
	if !errors.As(sa.Err(), &re) {
		t.Fatalf("initiator ended with %v, want a RemoteError", sa.Err())
	}
	if !errors.Is(sb.Err(), ErrSpaceMismatch) {
		t.Fatalf("responder ended with %v, want ErrSpaceMismatch", sb.Err())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := sa.WaitSynced(ctx); err == nil {
		t.Fatal("WaitSynced on an ended session returned nil")
	}
}

func TestSession_SilentPeerDropped(t *testing.T) {
	a := newDevice(t, "Alex")
	ca, cb := net.Pipe()
	defer ca.Close()
	// Swallow what the session writes, never answer.
	go io.Copy(io.Discard, ca)
	s := newSession(spaceReplica{a.space}, SessionConfig{Conn: cb, Initiator: true, KeepAlive: 20 * time.Millisecond, Timeout: time.Hour})
	err := s.Run(context.Background())
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Run = %v, want a timeout", err)
	}
}

var _ = trustsync.ErrClosed

// TestSession_SnapshotNeedsNoSyncRound: documents that reach an empty device
// as snapshots at the heads the hello advertised are in step: no sync
// message is exchanged for them (a round from fresh sync states would resend
// their history), and a later edit still reaches the other side.
func TestSession_SnapshotNeedsNoSyncRound(t *testing.T) {
	ctx := context.Background()
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	// Three documents only A has.
	_, err := a.space.AddBoundary(ctx, "a0")
	must(t, err)
	goal, err := a.space.AddGoal(ctx, "a1", "")
	must(t, err)
	_, err = a.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: "a2"})
	must(t, err)
	all, err := a.space.Docs(ctx)
	must(t, err)
	docs := slices.DeleteFunc(all, func(d string) bool { return d == crdt.SpaceDoc })
	if len(docs) != 3 || !slices.Contains(docs, "goals") {
		t.Fatalf("A holds documents %v besides the space, want 3 with goals", docs)
	}
	ra, rb := &countingReplica{spaceReplica: spaceReplica{a.space}}, &countingReplica{spaceReplica: spaceReplica{b.space}}
	devA, devB := a.space.Self().DeviceID, b.space.Self().DeviceID
	sa, sb := runSessions(t, ra, rb, SessionConfig{}, SessionConfig{})
	waitBoth(t, sa, sb)
	sameState(t, a, b)
	for _, d := range docs {
		if n, m := ra.received(devB, d), rb.received(devA, d); n != 0 || m != 0 {
			t.Fatalf("%s: %d sync messages reached A and %d reached B after its snapshot", d, n, m)
		}
	}
	_, err = a.space.AddStep(ctx, goal, "later")
	must(t, err)
	waitBoth(t, sa, sb)
	sameState(t, a, b)
	if rb.received(devA, "goals") == 0 {
		t.Fatal("the later edit of goals reached B without a sync message")
	}
}
