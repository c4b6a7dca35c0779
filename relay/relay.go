package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	stdsync "sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// The default limits of a relay (see the package documentation, Limits).
const (
	DefaultReservationTTL        = time.Hour
	DefaultMaxReservations       = 128
	DefaultMaxReservationsPerIP  = 8
	DefaultMaxReservationsPerASN = 32
	DefaultMaxCircuits           = 16
	DefaultCircuitDuration       = 30 * time.Minute
	DefaultCircuitData           = 32 << 20
)

// DefaultPort is the TCP and UDP port a relay listens on by default.
const DefaultPort = 4001

// DefaultListen are the addresses a relay listens on when Options.Listen
// is empty: every interface, IPv4 and IPv6, TCP and QUIC, on DefaultPort.
var DefaultListen = []string{
	fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultPort),
	fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", DefaultPort),
	fmt.Sprintf("/ip6/::/tcp/%d", DefaultPort),
	fmt.Sprintf("/ip6/::/udp/%d/quic-v1", DefaultPort),
}

// Options configure a [Relay]. Only Dir is required; every other zero
// value means the default named.
type Options struct {
	// Dir is the directory that keeps the relay's identity key (KeyFile),
	// made with mode 0700 when missing. Required.
	Dir string
	// Listen are the multiaddrs to listen on. Default: DefaultListen.
	// Addresses given with a specific IP (not 0.0.0.0 or ::) are
	// announced to devices in their reservations whatever kind they are;
	// of the addresses found on every interface, only public ones are.
	Listen []string
	// Logger receives a line for each reservation and circuit (see the
	// package documentation, Log). Default: discard.
	Logger *slog.Logger

	// ReservationTTL is how long a reservation lasts before the device
	// must renew it. Default: DefaultReservationTTL.
	ReservationTTL time.Duration
	// MaxReservations bounds the reservations held at once. Default:
	// DefaultMaxReservations.
	MaxReservations int
	// MaxReservationsPerIP bounds the reservations from one IP address.
	// Default: DefaultMaxReservationsPerIP.
	MaxReservationsPerIP int
	// MaxReservationsPerASN bounds the reservations from one network
	// operator (autonomous system). Default: DefaultMaxReservationsPerASN.
	MaxReservationsPerASN int
	// MaxCircuits bounds the circuits open at once to or from one device.
	// Default: DefaultMaxCircuits.
	MaxCircuits int
	// CircuitDuration is how long a circuit lasts before the relay closes
	// it. Default: DefaultCircuitDuration.
	CircuitDuration time.Duration
	// CircuitData is how many bytes a circuit carries each way before the
	// relay closes it. Default: DefaultCircuitData.
	CircuitData int64
}

// Relay is a circuit relay service on a libp2p host of its own. Make one
// with [New]; it is safe for use by several goroutines.
type Relay struct {
	opts   Options
	logger *slog.Logger

	mu      stdsync.Mutex
	started bool
	closed  bool
	host    host.Host
	svc     *relayv2.Relay
	log     *eventLog
}

// New checks opts and returns a relay that is not started yet. A missing
// Dir or a listen address that is not a TCP or QUIC multiaddr is refused
// with an error naming it.
func New(opts Options) (*Relay, error) {
	if opts.Dir == "" {
		return nil, errors.New("new relay: Options.Dir is empty: give the directory that keeps the relay's key")
	}
	if len(opts.Listen) == 0 {
		opts.Listen = DefaultListen
	}
	for _, a := range opts.Listen {
		if err := CheckListenAddr(a); err != nil {
			return nil, fmt.Errorf("new relay: %w", err)
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Relay{opts: opts, logger: logger}, nil
}

// CheckListenAddr checks an address for Options.Listen: /ip4 or /ip6
// with /tcp/PORT or /udp/PORT/quic-v1, and nothing more. Its error is one
// line naming the address.
func CheckListenAddr(s string) error {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return fmt.Errorf("listen address %q is not a multiaddr (like /ip4/0.0.0.0/tcp/%d)", s, DefaultPort)
	}
	var names []string
	for _, c := range a {
		names = append(names, c.Protocol().Name)
	}
	ok := len(names) >= 2 && (names[0] == "ip4" || names[0] == "ip6") &&
		(len(names) == 2 && names[1] == "tcp" || len(names) == 3 && names[1] == "udp" && names[2] == "quic-v1")
	if !ok {
		return fmt.Errorf("listen address %q is neither TCP (/ip4/IP/tcp/PORT) nor QUIC (/ip4/IP/udp/PORT/quic-v1)", s)
	}
	return nil
}

// resources are the relay resources opts ask for, defaults filled in.
func (o Options) resources() relayv2.Resources {
	rc := relayv2.DefaultResources()
	rc.ReservationTTL = orDefault(o.ReservationTTL, DefaultReservationTTL)
	rc.MaxReservations = orDefault(o.MaxReservations, DefaultMaxReservations)
	rc.MaxReservationsPerIP = orDefault(o.MaxReservationsPerIP, DefaultMaxReservationsPerIP)
	rc.MaxReservationsPerASN = orDefault(o.MaxReservationsPerASN, DefaultMaxReservationsPerASN)
	rc.MaxCircuits = orDefault(o.MaxCircuits, DefaultMaxCircuits)
	rc.MaxReservationsPerPeer = 1
	rc.Limit = &relayv2.RelayLimit{
		Duration: orDefault(o.CircuitDuration, DefaultCircuitDuration),
		Data:     orDefault(o.CircuitData, DefaultCircuitData),
	}
	return rc
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Start brings the relay online: it reads (or, the first time, makes) the
// identity key in Dir, listens, and serves reservations and circuits until
// [Relay.Close]. A port already taken fails with an error naming it.
// ctx bounds only the start.
func (r *Relay) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return errors.New("start relay: it is closed")
	case r.started:
		return errors.New("start relay: it is already started")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start relay: %w", err)
	}
	if err := checkPortsFree(r.opts.Listen); err != nil {
		return fmt.Errorf("start relay: %w", err)
	}
	key, err := LoadOrCreateKey(r.opts.Dir)
	if err != nil {
		return fmt.Errorf("start relay: %w", err)
	}
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
	if err != nil {
		return fmt.Errorf("start relay: resource manager: %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(r.opts.Listen...),
		// No port reuse: with it a second relay started on the same port
		// would share it with the first, each getting some of the devices.
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(quic.NewTransport),
		libp2p.QUICReuse(quicreuse.NewConnManager, quicreuse.DisableReuseport()),
		libp2p.ResourceManager(rm),
		libp2p.DisableRelay(), // it serves circuits; it never uses one
		libp2p.EnableNATService(),
		libp2p.EnableAutoNATv2(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		rm.Close()
		return fmt.Errorf("start relay: listen on %v: %w", r.opts.Listen, err)
	}
	rc := r.opts.resources()
	el := &eventLog{logger: r.logger, limit: relayv2Limit{duration: rc.Limit.Duration, data: rc.Limit.Data}}
	svc, err := relayv2.New(&loggingHost{Host: h, log: el},
		relayv2.WithResources(rc),
		relayv2.WithReservationAddressFilter(announceFilter(r.opts.Listen)),
	)
	if err != nil {
		h.Close()
		return fmt.Errorf("start relay: circuit relay service: %w", err)
	}
	r.host, r.svc, r.log, r.started = h, svc, el, true
	r.logger.Info("relay started", "peer", shortID(h.ID()), "addrs", fmt.Sprint(r.addrsLocked()))
	return nil
}

// PortInUseError is a listen port of the relay that another program
// (perhaps another relay) holds.
type PortInUseError struct {
	Addr string // the listen address
	Err  error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("listen on %s: the port is in use by another program", e.Addr)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// checkPortsFree fails with a *PortInUseError when a fixed listen port is
// taken, before libp2p tries it: libp2p would log its failure to standard
// error on its own. Ports 0 are left to the system.
func checkPortsFree(listen []string) error {
	for _, s := range listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		network, hostport, err := manet.DialArgs(a)
		if err != nil {
			continue
		}
		if _, port, _ := net.SplitHostPort(hostport); port == "0" {
			continue
		}
		var c io.Closer
		if strings.HasPrefix(network, "tcp") {
			c, err = net.Listen(network, hostport)
		} else {
			c, err = net.ListenPacket(network, hostport)
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return &PortInUseError{Addr: s, Err: err}
		}
		if err == nil {
			c.Close()
		}
	}
	return nil
}

// announceFilter returns which of the relay's addresses go into a
// reservation: public ones, and any whose IP was given to listen on.
func announceFilter(listen []string) relayv2.ReservationAddressFilterFunc {
	chosen := map[string]bool{}
	for _, s := range listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		if ip, err := manet.ToIP(a); err == nil && !ip.IsUnspecified() {
			chosen[ip.String()] = true
		}
	}
	return func(a ma.Multiaddr) bool {
		if manet.IsPublicAddr(a) {
			return true
		}
		ip, err := manet.ToIP(a)
		return err == nil && chosen[ip.String()]
	}
}

// ID returns the relay's peer ID, known once it started ("" before).
func (r *Relay) ID() peer.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.host == nil {
		return ""
	}
	return r.host.ID()
}

// Addrs returns the addresses devices reach the relay at, each ending in
// /p2p/<its peer ID>: what 'trustsync relay use' takes. Listening on
// every interface gives one address for each of the machine's IPs,
// loopback last. Nil before Start and after Close.
func (r *Relay) Addrs() []ma.Multiaddr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addrsLocked()
}

func (r *Relay) addrsLocked() []ma.Multiaddr {
	if r.host == nil || r.closed {
		return nil
	}
	p2p, err := ma.NewComponent("p2p", r.host.ID().String())
	if err != nil {
		return nil
	}
	var public, private, loopback []ma.Multiaddr
	for _, a := range r.host.Addrs() {
		full := a.Encapsulate(p2p.Multiaddr())
		switch {
		case manet.IsIPLoopback(a):
			loopback = append(loopback, full)
		case manet.IsPublicAddr(a):
			public = append(public, full)
		default:
			private = append(private, full)
		}
	}
	return append(append(public, private...), loopback...)
}

// Close stops the relay: every reservation and circuit ends, the host
// stops listening. Safe to call more than once and before Start.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	svc, h, el := r.svc, r.host, r.log
	r.mu.Unlock()
	if svc == nil {
		return nil
	}
	var errs []error
	if err := svc.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close relay service: %w", err))
	}
	if err := h.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close relay host: %w", err))
	}
	el.logger.Info("relay stopped")
	return errors.Join(errs...)
}

// shortID is the start of a peer ID, enough to tell devices apart in a log.
func shortID(id peer.ID) string {
	s := id.String()
	if len(s) > 16 {
		// Every Ed25519 peer ID starts with "12D3KooW": keep what follows.
		return s[:16]
	}
	return s
}
