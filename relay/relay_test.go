package relay_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/trustsync/trustsync/relay"
	tsync "github.com/trustsync/trustsync/sync"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Process-wide workers of libp2p's dependencies, started once.
		goleak.IgnoreAnyFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/tcpreuse.(*ConnMgr).dial"),
	)
}

var loopback = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// logBuffer is a slog handler's output, safe to read while the relay logs.
type logBuffer struct {
	mu stdsync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitLog waits until the log has a line with every one of words.
func (l *logBuffer) waitLog(t *testing.T, words ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(l.String(), "\n") {
			all := true
			for _, w := range words {
				all = all && strings.Contains(line, w)
			}
			if all {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q; the log:\n%s", words, l.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startRelay starts a relay on 127.0.0.1 in dir, logging into the
// returned buffer.
func startRelay(t *testing.T, opts relay.Options) (*relay.Relay, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	if opts.Listen == nil {
		opts.Listen = loopback
	}
	r, err := relay.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, logs
}

// device is a plain libp2p host on 127.0.0.1, able to take relayed
// connections (the relay client is on by default).
func device(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func relayInfo(t *testing.T, r *relay.Relay) peer.AddrInfo {
	t.Helper()
	addrs := r.Addrs()
	if len(addrs) == 0 {
		t.Fatal("the started relay has no addresses")
	}
	ai, err := peer.AddrInfoFromP2pAddr(addrs[0])
	if err != nil {
		t.Fatalf("relay address %s: %v", addrs[0], err)
	}
	return *ai
}

const echoProto = "/trustsync-test/echo/1"

// TestRelay_Circuit: a device reserves a slot, a second device reaches it
// through the relay and they exchange bytes; the log names both by short
// peer IDs and says the circuit opened and closed.
func TestRelay_Circuit(t *testing.T) {
	r, logs := startRelay(t, relay.Options{Dir: t.TempDir()})
	ri := relayInfo(t, r)
	for _, a := range r.Addrs() {
		if _, err := a.ValueForProtocol(ma.P_P2P); err != nil {
			t.Errorf("relay address %s does not end in /p2p/<peer ID>", a)
		}
	}

	alex, sam := device(t), device(t)
	alex.SetStreamHandler(echoProto, func(s network.Stream) {
		defer s.Close()
		io.Copy(s, s)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := alex.Connect(ctx, ri); err != nil {
		t.Fatal(err)
	}
	rsvp, err := client.Reserve(ctx, alex, ri)
	if err != nil {
		t.Fatalf("reserve: %v", err)
	}
	if rsvp.LimitData != relay.DefaultCircuitData || rsvp.LimitDuration != relay.DefaultCircuitDuration {
		t.Errorf("reservation limits: %d bytes, %v; want %d, %v", rsvp.LimitData, rsvp.LimitDuration, relay.DefaultCircuitData, relay.DefaultCircuitDuration)
	}
	logs.waitLog(t, "reservation made", "peer="+alex.ID().String()[:16])

	circuit, err := ma.NewMultiaddr(ri.Addrs[0].String() + "/p2p/" + ri.ID.String() + "/p2p-circuit")
	if err != nil {
		t.Fatal(err)
	}
	if err := sam.Connect(ctx, peer.AddrInfo{ID: alex.ID(), Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatalf("reach alex through the relay: %v", err)
	}
	s, err := sam.NewStream(network.WithAllowLimitedConn(ctx, "test"), alex.ID(), echoProto)
	if err != nil {
		t.Fatalf("open a stream through the relay: %v", err)
	}
	if !s.Conn().Stat().Limited {
		t.Errorf("the connection to alex is not the relayed one: %s", s.Conn().RemoteMultiaddr())
	}
	msg := []byte("ciphertext only")
	if _, err := s.Write(msg); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through the relay: %q, %v", got, err)
	}
	logs.waitLog(t, "circuit opened", "from="+sam.ID().String()[:16], "to="+alex.ID().String()[:16])

	for _, c := range sam.Network().ConnsToPeer(alex.ID()) {
		c.Close()
	}
	logs.waitLog(t, "circuit closed", "from="+sam.ID().String()[:16], "to="+alex.ID().String()[:16])
	if strings.Contains(logs.String(), string(msg)) {
		t.Error("the relay's log holds what went through it")
	}
}

// TestRelay_NoSync: the relay offers the circuit relay, identify and
// AutoNAT, and no protocol of trustsync: it cannot sync with anyone.
func TestRelay_NoSync(t *testing.T) {
	r, _ := startRelay(t, relay.Options{Dir: t.TempDir()})
	ri := relayInfo(t, r)
	h := device(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Connect(ctx, ri); err != nil {
		t.Fatal(err)
	}
	var protos []protocol.ID
	deadline := time.Now().Add(10 * time.Second)
	for len(protos) == 0 && time.Now().Before(deadline) {
		protos, _ = h.Peerstore().GetProtocols(ri.ID) // learned by identify
		time.Sleep(20 * time.Millisecond)
	}
	has := map[protocol.ID]bool{}
	for _, p := range protos {
		has[p] = true
		if strings.HasPrefix(string(p), "/trustsync/") {
			t.Errorf("the relay offers %s", p)
		}
	}
	for _, want := range []protocol.ID{"/libp2p/circuit/relay/0.2.0/hop", "/ipfs/id/1.0.0", "/libp2p/autonat/2/dial-request"} {
		if !has[want] {
			t.Errorf("the relay does not offer %s; it offers %v", want, protos)
		}
	}
	if s, err := h.NewStream(ctx, ri.ID, tsync.ProtocolID); err == nil {
		s.Reset()
		t.Errorf("the relay accepted a stream of %s", tsync.ProtocolID)
	}
}

// TestRelay_ReservationLimit: with one reservation allowed per IP address,
// a second device from the same address is refused, and the log says so.
func TestRelay_ReservationLimit(t *testing.T) {
	r, logs := startRelay(t, relay.Options{Dir: t.TempDir(), MaxReservationsPerIP: 1})
	ri := relayInfo(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, second := device(t), device(t)
	for _, h := range []host.Host{first, second} {
		if err := h.Connect(ctx, ri); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Reserve(ctx, first, ri); err != nil {
		t.Fatalf("first reservation: %v", err)
	}
	_, err := client.Reserve(ctx, second, ri)
	var rerr client.ReservationError
	if !errors.As(err, &rerr) || rerr.Status != pbv2.Status_RESERVATION_REFUSED {
		t.Fatalf("second reservation from the same IP: %v; want it refused", err)
	}
	line := logs.waitLog(t, "reservation refused", "peer="+second.ID().String()[:16])
	if !strings.Contains(line, "limits") {
		t.Errorf("the refusal does not say why: %s", line)
	}
}

// TestRelay_DataLimit: a circuit that carries more than CircuitData is
// closed by the relay, and the log says it reached the limit.
func TestRelay_DataLimit(t *testing.T) {
	r, logs := startRelay(t, relay.Options{Dir: t.TempDir(), CircuitData: 16 << 10})
	ri := relayInfo(t, r)
	alex, sam := device(t), device(t)
	alex.SetStreamHandler(echoProto, func(s network.Stream) {
		defer s.Close()
		io.Copy(io.Discard, s)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := alex.Connect(ctx, ri); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, alex, ri); err != nil {
		t.Fatal(err)
	}
	circuit := ma.StringCast(ri.Addrs[0].String() + "/p2p/" + ri.ID.String() + "/p2p-circuit")
	if err := sam.Connect(ctx, peer.AddrInfo{ID: alex.ID(), Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatal(err)
	}
	s, err := sam.NewStream(network.WithAllowLimitedConn(ctx, "test"), alex.ID(), echoProto)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(make([]byte, 256<<10)) // over the limit: the relay cuts it
	s.Close()
	logs.waitLog(t, "circuit closed", "data limit reached")
}

// TestRelay_KeyKept: a relay started again on the same directory has the
// same peer ID, so the addresses a couple recorded keep working; the key
// file is readable by its owner only.
func TestRelay_KeyKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "relay")
	r1, _ := startRelay(t, relay.Options{Dir: dir})
	id := r1.ID()
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	if r1.Addrs() != nil {
		t.Error("a closed relay still gives addresses")
	}
	fi, err := os.Stat(filepath.Join(dir, relay.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the relay keeps %d files, want only its key", len(entries))
	}
	r2, _ := startRelay(t, relay.Options{Dir: dir})
	if r2.ID() != id {
		t.Errorf("peer ID after a restart: %s, want %s", r2.ID(), id)
	}
}

// TestRelay_PortInUse: a second relay on the port of a running one is
// refused, naming the address, instead of sharing the port with it.
func TestRelay_PortInUse(t *testing.T) {
	r, _ := startRelay(t, relay.Options{Dir: t.TempDir(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	taken := strings.TrimSuffix(r.Addrs()[0].String(), "/p2p/"+r.ID().String())
	second, err := relay.New(relay.Options{Dir: t.TempDir(), Listen: []string{taken}})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	err = second.Start(context.Background())
	var inUse *relay.PortInUseError
	if !errors.As(err, &inUse) || inUse.Addr != taken {
		t.Fatalf("second relay on %s: %v; want a PortInUseError naming it", taken, err)
	}
}

// TestNew_Refuses: options a relay cannot run with are refused in one line.
func TestNew_Refuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts relay.Options
		want string
	}{
		{"no dir", relay.Options{}, "Dir is empty"},
		{"not a multiaddr", relay.Options{Dir: "x", Listen: []string{"127.0.0.1:4001"}}, "not a multiaddr"},
		{"websocket", relay.Options{Dir: "x", Listen: []string{"/ip4/127.0.0.1/tcp/1/ws"}}, "neither TCP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := relay.New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("New: %v; want one line with %q", err, tc.want)
			}
		})
	}
}

// TestRelay_BadKey: a key file that is not a key stops the start, rather
// than being replaced (the relay's addresses would change).
func TestRelay_BadKey(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, relay.KeyFile), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := relay.New(relay.Options{Dir: dir, Listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "not a key") {
		t.Fatalf("Start with a damaged key: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, relay.KeyFile)); string(b) != "not a key" {
		t.Error("the damaged key file was replaced")
	}
}
