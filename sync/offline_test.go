package sync

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/trustsync/trustsync/crdt"
)

// TestNode_PartnerGoesOffline stops the partner's node (what interrupting
// 'trustsync serve' does) while both sides write, over TCP and QUIC: the
// session ends with ErrOffline, in words, never with the transport's
// ("connection reset by peer", "stream reset", "Application error").
func TestNode_PartnerGoesOffline(t *testing.T) {
	for _, listen := range []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"} {
		for i := range 4 {
			t.Run(fmt.Sprintf("%s/%d", listen, i), func(t *testing.T) {
				a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
				pairAll(t, a, b)
				na, nb := a.start(t, listen), b.start(t, listen)
				events, stop := na.Subscribe()
				defer stop()
				connect(t, nb, na)
				waitSynced(t, na, nb)

				// Writes in flight on both sides make a reset more likely
				// than a clean close.
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() {
					defer close(done)
					for j := 0; ctx.Err() == nil; j++ {
						a.space.AddBoundary(ctx, fmt.Sprint("from Alex ", j))
						b.space.AddBoundary(ctx, fmt.Sprint("from Sam ", j))
					}
				}()
				defer func() { cancel(); <-done }()
				time.Sleep(time.Duration(i*25) * time.Millisecond)
				if err := nb.Close(); err != nil {
					t.Fatalf("close Sam's node: %v", err)
				}

				deadline := time.After(20 * time.Second)
				for {
					select {
					case ev := <-events:
						if ev.Type != PeerOffline {
							continue
						}
						if !errors.Is(ev.Err, ErrOffline) {
							t.Fatalf("Sam going offline reported as %q, want %q", ev.Err, ErrOffline)
						}
						if ev.Err.Error() != "the device went offline" {
							t.Fatalf("Sam going offline reads %q", ev.Err)
						}
						if ev.Remote.MemberName != "Sam" {
							t.Fatalf("offline event names %q, want Sam", ev.Remote.MemberName)
						}
						return
					case <-deadline:
						t.Fatal("Alex's node never saw Sam go offline")
					}
				}
			})
		}
	}
}

// TestNode_WaitSyncedSaysPartnerWentOffline has the partner's device leave
// in the middle of a sync (it said it holds a change this device lacks,
// then closed the stream): WaitSynced, which keeps waiting for it to come
// back, ends at its deadline with an error that says the device went
// offline before the sync finished, not only that time ran out.
func TestNode_WaitSyncedSaysPartnerWentOffline(t *testing.T) {
	a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	na := a.start(t)
	events, stop := na.Subscribe()
	defer stop()

	h := fltRawHost(t, b, na)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := h.NewStream(ctx, na.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	unknown := strings.Repeat("ab", 32) // a change Alex's device does not have
	if _, err := st.Write(fltHello(t, b, map[string][]string{crdt.SpaceDoc: {unknown}})); err != nil {
		t.Fatal(err)
	}
	for online := false; !online; {
		select {
		case ev := <-events:
			online = ev.Type == PeerOnline
		case <-ctx.Done():
			t.Fatal("Sam's device never came online")
		}
	}

	waited := make(chan error, 1)
	go func() {
		wctx, wcancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer wcancel()
		waited <- na.WaitSynced(wctx, h.ID())
	}()
	time.Sleep(500 * time.Millisecond) // WaitSynced waits on the session
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	err = <-waited
	if !errors.Is(err, ErrOffline) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitSynced = %v, want it to say the device went offline, then the deadline", err)
	}
	if strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset") {
		t.Fatalf("WaitSynced = %q: transport words", err)
	}
}

// TestOffline tells the other device leaving from real errors, which keep
// their own words.
func TestOffline(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	for _, tc := range []struct {
		name    string
		err     error
		offline bool
	}{
		{"closed", io.EOF, true},
		{"closed mid-frame", io.ErrUnexpectedEOF, true},
		{"tcp reset", reset, true},
		{"broken pipe", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, true},
		{"yamux reset", fmt.Errorf("stream reset: %w", network.ErrReset), true},
		{"quic stream reset by the peer", &network.StreamError{Remote: true, TransportError: errors.New("canceled by remote")}, true},
		{"quic connection closed by the peer", &network.ConnError{Remote: true, TransportError: errors.New("Application error 0x0 (remote)")}, true},
		{"stream reset here", &network.StreamError{Remote: false, TransportError: errors.New("canceled")}, false},
		{"quic connection closed here on purpose", &network.ConnError{Remote: false, TransportError: errors.New("Application error 0x0 (local)")}, true},
		{"connection closed here with an error", &network.ConnError{Remote: false, ErrorCode: network.ConnGarbageCollected, TransportError: errors.New("closed")}, false},
		{"malformed", fmt.Errorf("%w: empty frame", ErrMalformed), false},
		{"refused", &RemoteError{Reason: "unknown device"}, false},
		{"silent", fmt.Errorf("peer silent for 30s: %w", os.ErrDeadlineExceeded), false},
		{"cancelled", context.Canceled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := offline(tc.err)
			if errors.Is(got, ErrOffline) != tc.offline {
				t.Fatalf("offline(%q) = %q; wraps ErrOffline: %v, want %v", tc.err, got, !tc.offline, tc.offline)
			}
			if !tc.offline {
				if got != tc.err {
					t.Fatalf("offline(%q) = %q, want it unchanged", tc.err, got)
				}
				return
			}
			if got.Error() != "the device went offline" {
				t.Fatalf("offline(%q) reads %q", tc.err, got)
			}
			if !errors.Is(got, tc.err) {
				t.Fatalf("offline(%q) lost the transport's error", tc.err)
			}
		})
	}
	if offline(nil) != nil {
		t.Fatal("offline(nil) is not nil")
	}
}

// TestSession_OfflineOnlyAfterHello ends sessions from the other end (over
// loopback TCP after the hello, as a real transport behaves; over net.Pipe
// before it). After the hello exchange, the device going away is
// ErrOffline. Before it, a closed connection is as likely a refusal (a
// device that does not know this one closes the stream), so the session
// says what happened and not that the device went offline.
func TestSession_OfflineOnlyAfterHello(t *testing.T) {
	t.Run("after hello", func(t *testing.T) {
		a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
		pairAll(t, a, b)
		ca, cb := tcpConnPair(t)
		sa := newSession(spaceReplica{a.space}, SessionConfig{Conn: ca, Initiator: true})
		sb := newSession(spaceReplica{b.space}, SessionConfig{Conn: cb})
		errA, errB := make(chan error, 1), make(chan error, 1)
		ctxB, stopB := context.WithCancel(context.Background())
		defer stopB()
		go func() { errA <- sa.Run(context.Background()) }()
		go func() { errB <- sb.Run(ctxB) }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := sa.WaitSynced(ctx); err != nil {
			t.Fatalf("WaitSynced: %v", err)
		}
		stopB() // Sam's side stops: its session closes the connection
		<-errB
		err := waitErr(t, errA)
		if !errors.Is(err, ErrOffline) || err.Error() != "the device went offline" {
			t.Fatalf("Alex's session ended with %q, want %q", err, ErrOffline)
		}
	})
	t.Run("before hello", func(t *testing.T) {
		a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
		pairAll(t, a, b)
		ca, cb := net.Pipe()
		sa := newSession(spaceReplica{a.space}, SessionConfig{Conn: ca, Initiator: true})
		errA := make(chan error, 1)
		go func() { errA <- sa.Run(context.Background()) }()
		// The other end reads the hello and closes without answering.
		if _, err := readFrame(bufio.NewReader(cb), DefaultMaxFrame); err != nil {
			t.Fatal(err)
		}
		cb.Close()
		err := waitErr(t, errA)
		if errors.Is(err, ErrOffline) {
			t.Fatalf("a close before the hello reads %q: a refusal looks the same", err)
		}
		if !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "closed the connection") {
			t.Fatalf("a close before the hello reads %q, want it to say the peer closed the connection", err)
		}
	})
}
