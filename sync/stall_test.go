package sync

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

// newMonthsDevice makes a device holding one check-in (with a 500-character
// note) in each of months consecutive month documents.
func newMonthsDevice(t *testing.T, member string, months int) *device {
	t.Helper()
	ctx := context.Background()
	st := store.NewMemory()
	day := time.Date(2021, 1, 15, 20, 0, 0, 0, time.UTC)
	now := func() time.Time { return day }
	sp, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: member, DeviceName: member + "-laptop", Options: crdt.Options{Now: now}})
	must(t, err)
	t.Cleanup(func() { sp.Close(); st.Close() })
	key, err := LoadOrCreateKey(ctx, st)
	must(t, err)
	id, err := peer.IDFromPrivateKey(key)
	must(t, err)
	note := strings.Repeat("Today I noticed how much calmer we both were. ", 11)[:500]
	for i := range months {
		_, err := sp.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: trustsync.Mood(1 + i%5), Note: note})
		must(t, err)
		day = day.AddDate(0, 1, 0)
	}
	return &device{space: sp, st: st, key: key, id: id}
}

// slowReplica is a real space that takes delay over every document and
// sync message it receives, as a device does whose checks are slow.
type slowReplica struct {
	spaceReplica
	delay time.Duration
}

type slowPeer struct {
	syncPeer
	delay time.Duration
}

func (r slowReplica) Import(ctx context.Context, doc string, data []byte, from string) (crdt.Received, error) {
	time.Sleep(r.delay)
	return r.spaceReplica.Import(ctx, doc, data, from)
}

func (r slowReplica) syncPeer(deviceID string) syncPeer {
	return slowPeer{syncPeer: r.spaceReplica.syncPeer(deviceID), delay: r.delay}
}

func (p slowPeer) ReceiveMessage(ctx context.Context, doc string, msg []byte) (crdt.Received, error) {
	time.Sleep(p.delay)
	return p.syncPeer.ReceiveMessage(ctx, doc, msg)
}

// runTCPSessions runs a session on each end of a loopback TCP connection
// (whose buffers take in frames faster than a slow side handles them, as a
// libp2p stream's do) and stops both when the test ends.
func runTCPSessions(t *testing.T, a, b replica, cfgA, cfgB SessionConfig) (*Session, *Session) {
	t.Helper()
	cfgA.Conn, cfgB.Conn = tcpConnPair(t)
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

// tcpConnPair returns the two ends of a loopback TCP connection. Unlike
// net.Pipe, a write to an end whose other end closed fails as on a real
// transport (EPIPE, ECONNRESET), not with io.ErrClosedPipe, which a pipe
// also gives for an end closed by its own side.
func tcpConnPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	ca, err := net.Dial("tcp", l.Addr().String())
	must(t, err)
	cb := <-accepted
	if cb == nil {
		t.Fatal("accept failed")
	}
	return ca, cb
}

// TestSession_BusyReceiverIsNoStall: a new device that takes 250 ms over
// each document it receives works for seconds without sending a byte of
// sync data, longer than the sender's stall watchdog waits (KeepAlive/5 =
// 400 ms). It shows that it is busy, so neither side restarts the sync
// (which would send everything again) and the first sync completes.
func TestSession_BusyReceiverIsNoStall(t *testing.T) {
	const months = 10
	a, b := newMonthsDevice(t, "Alex", months), newDevice(t, "Sam")
	pairAll(t, a, b)
	cfg := SessionConfig{KeepAlive: 2 * time.Second}
	sa, sb := runTCPSessions(t, spaceReplica{a.space}, slowReplica{spaceReplica{b.space}, 250 * time.Millisecond}, cfg, cfg)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range []*Session{sa, sb} {
		if err := s.WaitSynced(ctx); err != nil {
			t.Fatalf("WaitSynced: %v (sync restarted as stalled %d times on the sender, %d on the receiver)", err, sa.Stats().Restarts, sb.Stats().Restarts)
		}
	}
	took := time.Since(start)
	sameState(t, a, b)
	cs, err := b.space.CheckIns(context.Background())
	must(t, err)
	if len(cs) != months {
		t.Fatalf("the new device has %d check-ins, want %d", len(cs), months)
	}
	if took < 2*time.Second {
		t.Fatalf("the sync took %v: the receiver was not slow enough to test a stall", took)
	}
	if ra, rb := sa.Stats().Restarts, sb.Stats().Restarts; ra != 0 || rb != 0 {
		t.Fatalf("sync restarted as stalled %d times on the sender, %d on the receiver; want none", ra, rb)
	}
}
