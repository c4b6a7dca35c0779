package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	stdsync "sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// ProtocolID is the libp2p protocol of a sync stream.
const ProtocolID protocol.ID = "/trustsync/sync/1.0.0"

// MDNSService is the service name announced on the LAN.
const MDNSService = "_trustsync._udp"

// Config configures a [Node]. Its zero value works except for Space.
type Config struct {
	// Space is the couple's space to sync. Required.
	Space *crdt.Space
	// Host is a libp2p host to use instead of building one. The node then
	// installs its stream handler on it but cannot install its connection
	// gater: untrusted peers are refused per stream instead. The caller
	// closes it.
	Host host.Host
	// Key is this device's libp2p identity. Default: [LoadOrCreateKey] on
	// Store, or a fresh key for this run when Store is nil too.
	Key crypto.PrivKey
	// Store is the store the space lives in, where the key is kept.
	Store trustsync.Store
	// ListenAddrs are the multiaddrs to listen on. Default: TCP and QUIC on
	// 0.0.0.0, port 0.
	ListenAddrs []string
	// NoMDNS turns off LAN discovery. mDNS only ever hints at addresses of
	// devices already paired. Tests always set it.
	NoMDNS bool
	// NATPortMap asks the router for a port mapping (UPnP, NAT-PMP).
	// Default: off.
	NATPortMap bool
	// Peers are extra trusted peers, beyond the space's devices that
	// recorded a peer ID. A device they announce in their hello is accepted
	// even before the space lists it (for pairing).
	Peers []peer.AddrInfo
	// Logger receives debug and warning messages. Default: discard.
	Logger *slog.Logger
	// RefreshInterval is how often the node looks for edits made by other
	// processes on the same store (for example the CLI while `serve` runs).
	// Default: 250ms.
	RefreshInterval time.Duration
	// Watch, when set, is called once with the node's context and returns
	// a channel that receives when the store may have changed (a file
	// watch on its write-ahead log, say): the node then looks for edits at
	// once instead of at the next RefreshInterval tick, which stays as a
	// fallback. The watch ends with the context.
	Watch func(ctx context.Context) <-chan struct{}
	// RedialMin and RedialMax bound the jittered exponential backoff
	// between dial attempts to a device. Defaults: 500ms and 1 minute.
	RedialMin, RedialMax time.Duration
	// DialTimeout bounds one connection attempt, including the wait for the
	// hello exchange. Default: 10s.
	DialTimeout time.Duration
	// Session sets the timeouts and limits of each session; its Conn,
	// Initiator, RemotePeer and TrustDevice are set by the node.
	Session SessionConfig
	// Relays are circuit relays to use beyond the space's
	// ([crdt.Space.Relays]), for this run only (from the environment,
	// say). See [ParseRelayAddr].
	Relays []peer.AddrInfo
	// NoRelay turns relays off: the node never reserves a slot on a relay
	// nor dials through one, whatever the space lists, and libp2p's relay
	// transport is left out. Hole punching, which starts from a relayed
	// connection, is then off too.
	NoRelay bool
	// NoHolePunch turns DCUtR hole punching off: two devices behind NATs
	// that meet through a relay stay on the relayed connection.
	NoHolePunch bool
	// NoAutoNAT turns AutoNAT v2 off: the node asks no peer to check
	// whether its addresses are reachable from outside.
	NoAutoNAT bool

	noListen bool // tests: listen nowhere, as a device behind a NAT that lets nothing in
}

// Node keeps one device online: a libp2p host that admits only the space's
// devices, one sync [Session] per paired device, redialing with backoff.
// Make it with [New], then [Node.Start].
type Node struct {
	// The methods live by seam: the lifecycle in this file, events in
	// events.go, dialing in dial.go and addrs.go, who may talk in
	// trust.go and gater.go, background loops in loops.go, sessions in
	// sessions.go, pairing in pair*.go; docs/CODEMAP.md lists every file.

	cfg     Config
	space   *crdt.Space
	log     *slog.Logger
	host    host.Host
	ownHost bool
	mdns    mdns.Service

	ctx    context.Context
	cancel context.CancelFunc
	wg     stdsync.WaitGroup

	mu        stdsync.Mutex
	started   bool
	closing   bool
	sessions  map[peer.ID]*nodeSession
	peerLocks map[peer.ID]*stdsync.Mutex
	trusted   map[peer.ID]bool // space devices with a peer ID, and cfg.Peers
	extra     map[peer.ID]bool // cfg.Peers
	dial      map[peer.ID]*dialState
	lastErr   map[peer.ID]error
	// checksDown is set once a session ended because nothing could be
	// checked (ChecksUnavailable), until a session passes its hello.
	checksDown bool
	changed    chan struct{}
	wake       chan struct{}
	addrsWake  chan struct{}
	book       addrBook // addresses learned in sessions, to be kept in the store
	closeOnce  stdsync.Once
	closeErr   error
	pair       pairState  // invitations, joins, farewells, revoked peers: gater.go, pair*.go
	relay      relayState // reservations, hole punches, paths: relay.go
	punch      punchState // the hole punching service: punch.go
	events     eventHub   // subscribers, under their own lock: events.go
}

// New checks cfg and fills in its defaults. Nothing runs until Start.
func New(cfg Config) (*Node, error) {
	if cfg.Space == nil {
		return nil, errors.New("sync: Config.Space is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 250 * time.Millisecond
	}
	if cfg.RedialMin <= 0 {
		cfg.RedialMin = 500 * time.Millisecond
	}
	if cfg.RedialMax <= 0 {
		cfg.RedialMax = time.Minute
	}
	if cfg.RedialMax < cfg.RedialMin {
		cfg.RedialMax = cfg.RedialMin
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if len(cfg.ListenAddrs) == 0 {
		cfg.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}
	}
	n := &Node{
		cfg:       cfg,
		space:     cfg.Space,
		log:       cfg.Logger,
		sessions:  map[peer.ID]*nodeSession{},
		peerLocks: map[peer.ID]*stdsync.Mutex{},
		trusted:   map[peer.ID]bool{},
		extra:     map[peer.ID]bool{},
		dial:      map[peer.ID]*dialState{},
		lastErr:   map[peer.ID]error{},
		changed:   make(chan struct{}),
		wake:      make(chan struct{}, 1),
		addrsWake: make(chan struct{}, 1),
	}
	for _, ai := range cfg.Peers {
		n.extra[ai.ID] = true
		n.trusted[ai.ID] = true
	}
	n.pair.init()
	n.relay.init()
	return n, nil
}

// Start builds the host (unless Config.Host was given), starts listening,
// records this device's peer ID in the space and begins dialing paired
// devices at the addresses this device keeps for them.
// ctx bounds only the start itself. A node starts once: Start after Close
// fails with an error wrapping [trustsync.ErrClosed]; make a new Node with
// [New] to go online again.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		return fmt.Errorf("sync: start: %w", trustsync.ErrClosed)
	}
	if n.started {
		n.mu.Unlock()
		return errors.New("sync: start: the node is already started")
	}
	n.started = true
	n.mu.Unlock()
	n.ctx, n.cancel = context.WithCancel(context.Background())

	if err := n.startHost(ctx); err != nil {
		n.cancel()
		return err
	}
	for _, ai := range n.cfg.Peers {
		n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	}
	if err := n.reloadTrust(ctx); err != nil {
		n.Close()
		return fmt.Errorf("read paired devices: %w", err)
	}
	n.host.SetStreamHandler(ProtocolID, n.handleStream)
	n.host.SetStreamHandler(UnpairProtocolID, n.handleBye)
	n.host.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			n.poke(c.RemotePeer(), 0)
			n.connected(c)
		},
		DisconnectedF: func(_ network.Network, c network.Conn) {
			n.poke(c.RemotePeer(), n.cfg.RedialMin)
			n.disconnected(c)
		},
	})
	if err := n.space.SetDevicePeer(ctx, n.host.ID().String()); err != nil {
		n.log.Warn("cannot record this device's peer ID", "err", err)
	}
	n.spawn(n.dialLoop)
	n.spawn(n.refreshLoop)
	n.spawn(n.spaceLoop)
	n.spawn(n.addrsLoop)
	n.spawn(n.noteLoop)
	n.spawn(n.addrsChangedLoop)
	n.startPunch()
	n.spawn(n.interfaceLoop)
	if !n.cfg.NoMDNS {
		n.mdns = mdns.NewMdnsService(n.host, MDNSService, mdnsNotifee{n})
		if err := n.mdns.Start(); err != nil {
			n.log.Warn("mDNS discovery unavailable", "err", err)
			n.mdns = nil
		}
	}
	return nil
}

func (n *Node) startHost(ctx context.Context) error {
	if n.cfg.Host != nil {
		n.host = n.cfg.Host
		return nil
	}
	key := n.cfg.Key
	if key == nil && n.cfg.Store != nil {
		var err error
		if key, err = LoadOrCreateKey(ctx, n.cfg.Store); err != nil {
			return err
		}
	}
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	limits.AddProtocolLimit(ProtocolID,
		rcmgr.BaseLimit{Streams: 64, StreamsInbound: 32, StreamsOutbound: 32, Memory: 128 << 20},
		rcmgr.BaseLimitIncrease{})
	limits.AddProtocolPeerLimit(ProtocolID,
		rcmgr.BaseLimit{Streams: 4, StreamsInbound: 2, StreamsOutbound: 2, Memory: 64 << 20},
		rcmgr.BaseLimitIncrease{})
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.Scale(512<<20, 256)))
	if err != nil {
		return fmt.Errorf("resource manager: %w", err)
	}
	listen := libp2p.ListenAddrStrings(n.cfg.ListenAddrs...)
	if n.cfg.noListen {
		listen = libp2p.NoListenAddrs
	}
	opts := []libp2p.Option{
		listen,
		// No port reuse for TCP: with it, libp2p dials from the port it
		// listens on, so two devices that dial each other at the same moment
		// (both back online, both told of the other by mDNS) meet in a TCP
		// simultaneous open: one connection on which both sides start the
		// handshake as its initiator, and both dials fail. From a port of its
		// own, each dial is a connection of its own and both succeed.
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(quic.NewTransport),
		libp2p.ConnectionGater(&gater{trusted: n.isTrusted, admit: n.pair.admit, relay: n.relay.isRelay, probe: n.admitProbe}),
		libp2p.ResourceManager(rm),
		libp2p.DisableMetrics(),
		libp2p.Ping(false),
		libp2p.SwarmOpts(swarm.WithDialRanker(directFirst)),
	}
	// The relay client (circuit v2 transport), hole punching and AutoNAT
	// v2, each with its off switch; with NoRelay nothing relay-related
	// runs.
	if n.cfg.NoRelay {
		opts = append(opts, libp2p.DisableRelay())
	} else {
		opts = append(opts, libp2p.EnableRelay())
		// Hole punching is the node's own service, started with the
		// host (punch.go).
	}
	if !n.cfg.NoAutoNAT {
		opts = append(opts, libp2p.EnableAutoNATv2())
	}
	if key != nil {
		opts = append(opts, libp2p.Identity(key))
	}
	if n.cfg.NATPortMap {
		opts = append(opts, libp2p.NATPortMap())
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		rm.Close()
		return fmt.Errorf("start libp2p host: %w", err)
	}
	n.host, n.ownHost = h, true
	return nil
}

// spawn runs fn in a goroutine the node owns; it does nothing once Close
// began.
func (n *Node) spawn(fn func(ctx context.Context)) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn(n.ctx)
	}()
	return true
}

// enterStream counts a stream handler as one of the node's goroutines, so
// that Close waits for it; once Close began it resets the stream instead
// and returns false. A true return is matched by n.wg.Done.
func (n *Node) enterStream(st network.Stream) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		st.Reset()
		return false
	}
	n.wg.Add(1)
	return true
}

// Close stops every session and goroutine, then closes the host the node
// built. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closing = true
		started := n.started
		n.mu.Unlock()
		n.events.stop()
		if !started {
			return
		}
		n.cancel()
		n.pair.mu.Lock()
		invites := slices.Collect(maps.Keys(n.pair.invites))
		n.pair.mu.Unlock()
		for _, i := range invites {
			i.Close()
		}
		if n.host != nil {
			n.host.RemoveStreamHandler(ProtocolID)
			n.host.RemoveStreamHandler(UnpairProtocolID)
		}
		if n.mdns != nil {
			n.mdns.Close()
		}
		n.closePunch()
		n.wg.Wait()
		if n.ownHost {
			n.closeErr = n.host.Close()
		}
		n.events.close()
	})
	return n.closeErr
}

// ID returns this device's libp2p peer ID; empty before Start.
func (n *Node) ID() peer.ID {
	if n.host == nil {
		return ""
	}
	return n.host.ID()
}

// Addrs returns the addresses the node listens on, each ending in /p2p/ID.
func (n *Node) Addrs() []ma.Multiaddr {
	if n.host == nil {
		return nil
	}
	ai := n.AddrInfo()
	out, _ := peer.AddrInfoToP2pAddrs(&ai)
	return out
}

// AddrInfo returns the peer ID and listen addresses, for a partner's
// [Config.Peers] or [Node.Connect].
// Addresses through a relay are left out.
func (n *Node) AddrInfo() peer.AddrInfo {
	ai := peer.AddrInfo{ID: n.host.ID()}
	for _, a := range n.host.Addrs() {
		if !isCircuit(a) {
			ai.Addrs = append(ai.Addrs, a)
		}
	}
	return ai
}

// Host returns the libp2p host.
func (n *Node) Host() host.Host { return n.host }

// broadcast wakes everyone waiting on n.changed. n.mu must be held.
func (n *Node) broadcastLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}
