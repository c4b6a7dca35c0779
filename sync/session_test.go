package sync

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
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
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sa.WaitSynced(ctx); err != nil {
		t.Fatalf("A: WaitSynced: %v", err)
	}
	if err := sb.WaitSynced(ctx); err != nil {
		t.Fatalf("B: WaitSynced: %v", err)
	}
}

func equalFakes(t *testing.T, spaces ...*fakeSpace) {
	t.Helper()
	want := spaces[0].snapshot()
	for i, s := range spaces[1:] {
		got := s.snapshot()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("space %d differs:\n got %v\nwant %v", i+1, got, want)
		}
	}
}

func TestSession_SyncsBothWaysAndLive(t *testing.T) {
	a := newFakeSpace("sp1", "alex", "dev-a")
	b := newFakeSpace("sp1", "sam", "dev-b")
	pairFakes(a, b)
	a.edit("boundaries", "a1")
	a.edit("checkins/2026-01", "a2") // B lacks this document: snapshot
	b.edit("boundaries", "b1")
	b.edit("goals", "b2")
	sa, sb := runSessions(t, a, b, SessionConfig{}, SessionConfig{})
	waitBoth(t, sa, sb)
	equalFakes(t, a, b)
	if got := a.snapshot()["boundaries"]; !slices.Equal(got, []string{"a1", "b1"}) {
		t.Fatalf("boundaries on A = %v", got)
	}
	if st := sb.Stats(); st.Received["boundary"] != 1 || st.Received["checkin"] != 1 {
		t.Fatalf("B received %v, want 1 boundary and 1 check-in", st.Received)
	}
	if r := sb.Remote(); r.DeviceID != "dev-a" || r.MemberName != "alex" {
		t.Fatalf("B sees remote %+v", r)
	}

	// Live: an edit after the first sync arrives without a new session.
	b.edit("boundaries", "b3")
	waitBoth(t, sa, sb)
	if got := a.snapshot()["boundaries"]; !slices.Contains(got, "b3") {
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
		case <-time.After(10 * time.Second):
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
	case <-time.After(15 * time.Second):
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
	tests := []struct {
		name  string
		hello hello
		setup func(*fakeSpace)
		want  error
	}{
		{"other space", hello{Version: 1, SpaceID: "other", DeviceID: "dev-b", MemberID: "sam"}, nil, ErrSpaceMismatch},
		{"unknown device", hello{Version: 1, SpaceID: "sp1", DeviceID: "dev-x", MemberID: "sam"}, nil, ErrUnknownDevice},
		{"device of another member", hello{Version: 1, SpaceID: "sp1", DeviceID: "dev-b", MemberID: "alex"}, nil, ErrUnknownDevice},
		{"this device", hello{Version: 1, SpaceID: "sp1", DeviceID: "dev-a", MemberID: "alex"}, nil, ErrUnknownDevice},
		{"removed device", hello{Version: 1, SpaceID: "sp1", DeviceID: "dev-b", MemberID: "sam"}, func(f *fakeSpace) {
			f.members[1].Devices[0].Removed = true
		}, ErrUnknownDevice},
		{"newer protocol", hello{Version: 2, SpaceID: "sp1", DeviceID: "dev-b", MemberID: "sam"}, nil, ErrVersion},
		{"bad doc ID", hello{Version: 1, SpaceID: "sp1", DeviceID: "dev-b", MemberID: "sam", Docs: map[string][]string{"../etc/passwd": nil}}, nil, ErrBadDoc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeSpace("sp1", "alex", "dev-a")
			b := newFakeSpace("sp1", "sam", "dev-b")
			pairFakes(a, b)
			if tt.setup != nil {
				tt.setup(a)
			}
			a.edit("boundaries", "secret")
			rp, _, errc := startRaw(t, a, false)
			rp.write(t, helloFrame(t, tt.hello))
			err := waitErr(t, errc)
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
	good := hello{Version: 1, SpaceID: "sp1", DeviceID: "dev-b", MemberID: "sam"}
	syncBody := func(doc string, codec byte, data []byte) []byte {
		b := appendString(nil, doc)
		return append(append(b, codec), data...)
	}
	tests := []struct {
		name      string
		withHello bool
		raw       []byte
		want      error
	}{
		{"oversized length", true, []byte{0x80, 0x80, 0x80, 0x08, frameSync}, ErrFrameTooLarge},
		{"length overflows", true, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrMalformed},
		{"empty frame", true, []byte{0}, ErrMalformed},
		{"unknown type", true, encodeFrame(99, []byte("x")), ErrMalformed},
		{"sync before hello", false, encodeFrame(frameSync, syncBody("boundaries", 0, []byte("x"))), ErrMalformed},
		{"truncated hello", false, encodeFrame(frameHello, []byte{1, 5, 's'}), ErrMalformed},
		{"hello trailing bytes", false, append(helloFrame(t, good)[:0:0], encodeFrame(frameHello, append(mustEncode(t, good), 7))...), ErrMalformed},
		{"second hello", true, helloFrame(t, good), ErrMalformed},
		{"bad doc in sync", true, encodeFrame(frameSync, syncBody("boundaries/../x", 0, []byte("x"))), ErrBadDoc},
		{"unknown codec", true, encodeFrame(frameSync, syncBody("goals", 9, []byte("x"))), ErrMalformed},
		{"bad deflate", true, encodeFrame(frameSync, syncBody("goals", 1, []byte("\xff\xfe garbage"))), ErrMalformed},
		{"empty payload", true, encodeFrame(frameSync, syncBody("goals", 0, nil)), ErrMalformed},
		{"sync message crdt refuses", true, encodeFrame(frameSync, syncBody("goals", 0, []byte("{not json"))), errRejected},
		{"snapshot crdt refuses", true, encodeFrame(frameSnapshot, syncBody("goals", 0, []byte("{not json"))), errRejected},
		{"short status", true, encodeFrame(frameStatus, []byte{1, 2, 3}), ErrMalformed},
		{"inflates too far", true, encodeFrame(frameSync, mustDeflate(t, "goals", maxInflated+1)), ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeSpace("sp1", "alex", "dev-a")
			b := newFakeSpace("sp1", "sam", "dev-b")
			pairFakes(a, b)
			rp, _, errc := startRaw(t, a, false)
			if tt.withHello {
				rp.write(t, helloFrame(t, good))
				if f, ok := <-rp.frames; !ok || f.typ != frameHello {
					t.Fatalf("no hello back: %v", f)
				}
			}
			rp.write(t, tt.raw)
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
	a := newFakeSpace("sp1", "alex", "dev-a")
	b := newFakeSpace("sp2", "sam", "dev-b")
	pairFakes(a, b)
	sa, sb := runSessions(t, a, b, SessionConfig{}, SessionConfig{})
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
	a := newFakeSpace("sp1", "alex", "dev-a")
	ca, cb := net.Pipe()
	defer ca.Close()
	// Swallow what the session writes, never answer.
	go io.Copy(io.Discard, ca)
	s := newSession(a, SessionConfig{Conn: cb, Initiator: true, KeepAlive: 20 * time.Millisecond, Timeout: time.Hour})
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
	a := newFakeSpace("sp1", "alex", "dev-a")
	b := newFakeSpace("sp1", "sam", "dev-b")
	pairFakes(a, b)
	docs := []string{"checkins/2026-01", "checkins/2026-02", "checkins/2026-03"}
	for i, d := range docs {
		a.edit(d, fmt.Sprintf("a%d", i))
	}
	sa, sb := runSessions(t, a, b, SessionConfig{}, SessionConfig{})
	waitBoth(t, sa, sb)
	equalFakes(t, a, b)
	for _, d := range docs {
		if n, m := a.received("dev-b", d), b.received("dev-a", d); n != 0 || m != 0 {
			t.Fatalf("%s: %d sync messages reached A and %d reached B after its snapshot", d, n, m)
		}
	}
	a.edit(docs[1], "later")
	waitBoth(t, sa, sb)
	equalFakes(t, a, b)
	if b.received("dev-a", docs[1]) == 0 {
		t.Fatalf("the later edit of %s reached B without a sync message", docs[1])
	}
}
