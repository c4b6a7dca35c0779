package sync

import (
	"context"
	"errors"
	"fmt"
	"github.com/trustsync/trustsync/internal/stagetrace"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
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

// ErrNoPeers is returned by [Node.SyncOnce] when no paired device answered.
var ErrNoPeers = errors.New("no paired device answered")

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
}

// EventType says what an [Event] reports.
type EventType int

// Event types.
const (
	// PeerOnline: a hello exchange with a paired device succeeded.
	PeerOnline EventType = iota + 1
	// PeerOffline: the session with a device ended; Err says why (a
	// [*RefusedError] when one side refused the other).
	PeerOffline
	// ChangesReceived: changes from a device were applied; Received says
	// which items they touched.
	ChangesReceived
	// Synced: both sides hold the same heads of every document.
	Synced
	// DocDamaged: a session leaves a document out because it is damaged
	// on one side; Damage says which, where and why. The other documents
	// sync on.
	DocDamaged
	// DocRestored: a damaged document of this device was restored from the
	// device's copy; Damage.Doc names it.
	DocRestored
	// Refused: a session ended because one side refused the other; Err is
	// a [*RefusedError]. A device that keeps sending what is refused is
	// reported again at each attempt.
	Refused
	// ChecksUnavailable: a session ended, or did not start, because this
	// device cannot check what peers send before applying it (the space's
	// sandbox child cannot start: too few file descriptors, say); Err
	// says why and wraps [trustsync.ErrCheckUnavailable]. Nothing was
	// applied. It is reported once; the node keeps redialing with backoff
	// and reports ChecksRestored when a session passes its hello again.
	ChecksUnavailable
	// ChecksRestored: after ChecksUnavailable, a session passed its hello:
	// checks work again and syncing resumed.
	ChecksRestored
	// ChangeRefused: a change for a document failed its signature or a
	// write rule, on this device (Refusal.Remote false: the device sent a
	// change this one refuses; the space records it, see
	// [crdt.Space.Refusals]) or on the peer (it refused one of this
	// device's). The document is left out for the rest of the session;
	// the others sync on.
	ChangeRefused
	// Progress: how far a session is with the documents its hello
	// exchange found to differ; Progress says how many of them were
	// received and sent so far, of how many, and the bytes both ways. It
	// is reported after the hello exchange, then at most every 100 ms as
	// documents move, and last (Progress.Done) when both sides first
	// hold the same heads, just before Synced. A session whose devices
	// were in step already reports none. A session that ends before it
	// is done reports PeerOffline without a last Progress.
	Progress
)

func (t EventType) String() string {
	switch t {
	case PeerOnline:
		return "online"
	case PeerOffline:
		return "offline"
	case ChangesReceived:
		return "changes received"
	case Synced:
		return "synced"
	case DocDamaged:
		return "document damaged"
	case DocRestored:
		return "document restored"
	case Refused:
		return "refused"
	case ChecksUnavailable:
		return "checks unavailable"
	case ChecksRestored:
		return "checks restored"
	case ChangeRefused:
		return "change refused"
	case Progress:
		return "progress"
	case Paired:
		return "paired"
	case PairRefused:
		return "pairing refused"
	case Unpaired:
		return "unpaired"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is something that happened to a sync session.
type Event struct {
	Type     EventType
	Peer     peer.ID
	Remote   Remote
	Received crdt.Received // ChangesReceived only
	Err      error         // PeerOffline, Refused and ChecksUnavailable only
	Damage   DocDamage     // DocDamaged and DocRestored only
	Refusal  DocRefusal    // ChangeRefused only
	Progress Transfer      // Progress only
}

// RefusedError is why a session with a device ended when one side refused
// the other: this device refused what the device sent (a malformed or
// oversized frame, data crdt rejected, a hello that does not belong), or,
// with ByPeer, the device refused this one (its ERROR frame). Waiting does
// not change what a device sends, so [Node.WaitSynced] and [Node.SyncOnce]
// return a refusal of its data at once; a refused hello is retried, as it
// may be a pairing still settling.
type RefusedError struct {
	Remote Remote // the device, as far as its hello or the space names it
	ByPeer bool
	Err    error // the session's error
}

func (e *RefusedError) Error() string {
	if e.ByPeer {
		return e.Err.Error()
	}
	return "refused data from the device: " + e.Reason()
}

// Unwrap returns the session's error.
func (e *RefusedError) Unwrap() error { return e.Err }

// Reason says what was refused, on one line: the peer's own words when it
// refused this device.
func (e *RefusedError) Reason() string {
	var re *RemoteError
	if errors.As(e.Err, &re) {
		return printable(re.Reason)
	}
	msg := strings.TrimPrefix(e.Err.Error(), errRejected.Error()+": ")
	msg = strings.TrimSuffix(msg, ": "+trustsync.ErrInvalid.Error())
	return printable(strings.ReplaceAll(msg, "\n", " "))
}

// refusal makes the RefusedError of a session with id that ended with err,
// or nil when err is no refusal.
func (n *Node) refusal(id peer.ID, r Remote, err error) *RefusedError {
	if !refused(err) {
		return nil
	}
	var re *RefusedError
	if errors.As(err, &re) {
		return re
	}
	r = n.remoteOf(id, r)
	var rem *RemoteError
	return &RefusedError{Remote: r, ByPeer: errors.As(err, &rem), Err: err}
}

// Node keeps one device online: a libp2p host that admits only the space's
// devices, one sync [Session] per paired device, redialing with backoff.
// Make it with [New], then [Node.Start].
type Node struct {
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
	subs       map[chan Event]struct{}
	wake       chan struct{}
	addrsWake  chan struct{}
	book       addrBook // addresses learned in sessions, to be kept in the store
	closeOnce  stdsync.Once
	closeErr   error
	pair       pairState // invitations, joins, farewells, revoked peers: pair*.go
}

type nodeSession struct {
	s      *Session
	cancel context.CancelFunc
	online bool
}

type dialState struct {
	next    time.Time
	backoff time.Duration
	busy    bool
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
		subs:      map[chan Event]struct{}{},
		wake:      make(chan struct{}, 1),
		addrsWake: make(chan struct{}, 1),
	}
	for _, ai := range cfg.Peers {
		n.extra[ai.ID] = true
		n.trusted[ai.ID] = true
	}
	n.pair.init()
	return n, nil
}

// Start builds the host (unless Config.Host was given), starts listening,
// records this device's peer ID in the space and begins dialing paired
// devices at the addresses this device keeps for them.
// ctx bounds only the start itself.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.started || n.closing {
		n.mu.Unlock()
		return errors.New("sync: node already started or closed")
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
		ConnectedF:    func(_ network.Network, c network.Conn) { n.poke(c.RemotePeer(), 0) },
		DisconnectedF: func(_ network.Network, c network.Conn) { n.poke(c.RemotePeer(), n.cfg.RedialMin) },
	})
	if err := n.space.SetDevicePeer(ctx, n.host.ID().String()); err != nil {
		n.log.Warn("cannot record this device's peer ID", "err", err)
	}
	n.spawn(n.dialLoop)
	n.spawn(n.refreshLoop)
	n.spawn(n.spaceLoop)
	n.spawn(n.addrsLoop)
	n.spawn(n.noteLoop)
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
	opts := []libp2p.Option{
		libp2p.ListenAddrStrings(n.cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.ConnectionGater(&gater{trusted: n.isTrusted, admit: n.pair.admit}),
		libp2p.ResourceManager(rm),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.Ping(false),
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

// Close stops every session and goroutine, then closes the host the node
// built. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closing = true
		started := n.started
		n.mu.Unlock()
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
		n.wg.Wait()
		if n.ownHost {
			n.closeErr = n.host.Close()
		}
		n.mu.Lock()
		for c := range n.subs {
			close(c)
		}
		clear(n.subs)
		n.mu.Unlock()
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
	ai := peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
	out, _ := peer.AddrInfoToP2pAddrs(&ai)
	return out
}

// AddrInfo returns the peer ID and listen addresses, for a partner's
// [Config.Peers] or [Node.Connect].
func (n *Node) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
}

// Host returns the libp2p host.
func (n *Node) Host() host.Host { return n.host }

// Subscribe returns a channel of session events and a function that ends the
// subscription. A subscriber that falls behind by more than 64 events misses
// the excess; the channel closes at Close.
func (n *Node) Subscribe() (<-chan Event, func()) {
	c := make(chan Event, 64)
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		close(c)
		return c, func() {}
	}
	n.subs[c] = struct{}{}
	n.mu.Unlock()
	var once stdsync.Once
	return c, func() {
		once.Do(func() {
			n.mu.Lock()
			defer n.mu.Unlock()
			if _, ok := n.subs[c]; ok {
				delete(n.subs, c)
				close(c)
			}
		})
	}
}

func (n *Node) emit(ev Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for c := range n.subs {
		select {
		case c <- ev:
		default:
		}
	}
}

// broadcast wakes everyone waiting on n.changed. n.mu must be held.
func (n *Node) broadcastLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

func (n *Node) isTrusted(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.trusted[p]
}

// reloadTrust reads the space's devices: every device with a peer ID that
// is not removed is trusted and the addresses this device keeps for it are
// dialable (see dialAddrs).
// Sessions with devices no longer trusted end at once.
func (n *Node) reloadTrust(ctx context.Context) error {
	members, err := n.space.Members(ctx)
	if err != nil {
		return err
	}
	self := n.space.Self().DeviceID
	trusted := maps.Clone(n.extraSet())
	fresh := map[peer.ID]bool{}
	book := map[string]bookEntry{}
	for _, m := range members {
		for _, d := range m.Devices {
			if d.ID == self || d.PeerID == "" || d.Removed {
				continue
			}
			id, err := peer.Decode(d.PeerID)
			if err != nil {
				n.log.Warn("device has an unreadable peer ID", "device", d.ID, "err", err)
				continue
			}
			if id == n.host.ID() || n.pair.isRevoked(id) {
				continue
			}
			trusted[id] = true
			addrs := n.dialAddrs(ctx, d, id, book)
			known := n.host.Peerstore().Addrs(id)
			for _, a := range addrs {
				if !slices.ContainsFunc(known, a.Equal) {
					fresh[id] = true
				}
			}
			n.host.Peerstore().AddAddrs(id, addrs, peerstore.PermanentAddrTTL)
		}
	}
	n.book.setDevices(book)
	n.mu.Lock()
	var drop []*nodeSession
	var dropIDs []peer.ID
	for id, ns := range n.sessions {
		if !trusted[id] {
			drop = append(drop, ns)
			dropIDs = append(dropIDs, id)
		}
	}
	n.trusted = trusted
	for id := range fresh {
		n.resetDialLocked(id)
	}
	n.mu.Unlock()
	for _, ns := range drop {
		ns.cancel()
	}
	for _, id := range dropIDs {
		n.host.Network().ClosePeer(id)
	}
	n.signal(n.wake)
	return nil
}

func (n *Node) extraSet() map[peer.ID]bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.extra)
}

// resetDialLocked makes a device due for dialing now, forgetting the
// backoff: called when fresh addresses arrive.
func (n *Node) resetDialLocked(id peer.ID) {
	if sw, ok := n.host.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(id)
	}
	ds := n.dialStateLocked(id)
	ds.backoff = 0
	ds.next = time.Time{}
}

func (n *Node) dialStateLocked(id peer.ID) *dialState {
	ds := n.dial[id]
	if ds == nil {
		ds = &dialState{}
		n.dial[id] = ds
	}
	return ds
}

// poke makes a device due for a dial attempt after delay at the latest.
func (n *Node) poke(id peer.ID, delay time.Duration) {
	n.mu.Lock()
	if n.trusted[id] {
		ds := n.dialStateLocked(id)
		at := time.Now().Add(delay)
		if ds.next.IsZero() || ds.next.After(at) {
			ds.next = at
		}
	}
	n.mu.Unlock()
	n.signal(n.wake)
}

func (n *Node) signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// dialLoop keeps a session with every trusted device it can reach, dialing
// each with jittered exponential backoff.
func (n *Node) dialLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-n.wake:
		}
		now := time.Now()
		next := now.Add(time.Minute)
		n.mu.Lock()
		for id := range n.trusted {
			ds := n.dialStateLocked(id)
			if n.sessions[id] != nil || ds.busy {
				continue
			}
			if ds.next.After(now) {
				next = minTime(next, ds.next)
				continue
			}
			ds.busy = true
			id := id
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				n.dialOnce(ctx, id)
			}()
		}
		n.mu.Unlock()
		timer.Reset(time.Until(next))
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (n *Node) dialOnce(ctx context.Context, id peer.ID) {
	ctx2, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
	err := n.connect(ctx2, id)
	cancel()
	n.mu.Lock()
	defer n.mu.Unlock()
	ds := n.dialStateLocked(id)
	ds.busy = false
	if err == nil {
		ds.backoff = 0
		ds.next = time.Time{} // due again when the session ends
		return
	}
	if ctx.Err() != nil {
		return
	}
	if ds.backoff == 0 {
		ds.backoff = n.cfg.RedialMin
	} else {
		ds.backoff = min(2*ds.backoff, n.cfg.RedialMax)
	}
	// Full jitter in [backoff/2, backoff).
	wait := ds.backoff/2 + time.Duration(rand.Int64N(int64(ds.backoff/2)+1))
	ds.next = time.Now().Add(wait)
	n.log.Debug("dial failed", "peer", id, "retry in", wait, "err", err)
	n.signalLocked()
}

func (n *Node) signalLocked() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Connect dials a trusted peer (its addresses are added to the peerstore)
// and returns once a session with it passed the hello exchange. The peer
// must be a device of the space or one of [Config.Peers].
func (n *Node) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if !n.isTrusted(ai.ID) {
		return fmt.Errorf("connect %s: %w: not a paired device", ai.ID, ErrUnknownDevice)
	}
	if len(ai.Addrs) > 0 {
		n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
		n.mu.Lock()
		n.resetDialLocked(ai.ID)
		n.mu.Unlock()
	}
	return n.connect(ctx, ai.ID)
}

// connect makes sure a session with id runs and passed its hello. The peer
// with the lower ID opens the stream; the other waits for it.
func (n *Node) connect(ctx context.Context, id peer.ID) error {
	if n.ctx.Err() != nil {
		return trustsync.ErrClosed
	}
	if !n.isOnline(id) {
		if err := n.host.Connect(ctx, peer.AddrInfo{ID: id}); err != nil {
			return fmt.Errorf("dial %s: %w", id, &UnreachableError{Err: err})
		}
		if n.host.ID() < id && n.session(id) == nil {
			st, err := n.host.NewStream(network.WithNoDial(ctx, "connected"), id, ProtocolID)
			if err != nil {
				return fmt.Errorf("open sync stream to %s (is this device still paired there?): %w", id, err)
			}
			if !n.spawn(func(ctx context.Context) { n.runSession(ctx, st, true) }) {
				st.Reset()
				return trustsync.ErrClosed
			}
		}
	}
	return n.waitOnline(ctx, id)
}

// isOnline reports whether a session with id runs and passed its hello.
func (n *Node) isOnline(id peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	ns := n.sessions[id]
	return ns != nil && ns.online
}

func (n *Node) session(id peer.ID) *nodeSession {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sessions[id]
}

// waitOnline waits until a session with id passed its hello, or the session
// it saw ended with an error.
func (n *Node) waitOnline(ctx context.Context, id peer.ID) error {
	var seen *nodeSession
	for {
		n.mu.Lock()
		ns, ch := n.sessions[id], n.changed
		lastErr := n.lastErr[id]
		online := ns != nil && ns.online
		n.mu.Unlock()
		if online {
			return nil
		}
		if ns != nil {
			seen = ns
		} else if seen != nil && (refused(lastErr) || errors.Is(lastErr, trustsync.ErrCheckUnavailable)) {
			// A refusal will not change by waiting; a broken stream (or
			// one replaced by a newer stream) may be followed by another.
			if re := n.refusal(id, seen.s.Remote(), lastErr); re != nil {
				return fmt.Errorf("session with %s: %w", id, re)
			}
			return fmt.Errorf("session with %s: %w", id, lastErr)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
			}
			return fmt.Errorf("waiting for a session with %s: %w", id, ctx.Err())
		case <-n.ctx.Done():
			return trustsync.ErrClosed
		}
	}
}

func (n *Node) handleStream(st network.Stream) {
	id := st.Conn().RemotePeer()
	if !n.isTrusted(id) && n.pair.isJoining(id) {
		// The inviting device's first sync, opened while this device is
		// still storing the pairing: hold it until the join is over, so
		// that its hello meets this device's new space, not the old one.
		ctx, cancel := context.WithTimeout(n.ctx, time.Minute)
		n.pair.waitJoined(ctx, id)
		cancel()
	}
	if !n.isTrusted(id) {
		// Only possible with a caller's host, which has no gater of ours,
		// with a peer admitted only to pair, or after a join that failed.
		n.log.Debug("refused a stream from an unknown peer", "peer", id)
		st.Reset()
		return
	}
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		st.Reset()
		return
	}
	n.wg.Add(1)
	n.mu.Unlock()
	defer n.wg.Done()
	n.runSession(n.ctx, st, false)
}

func (n *Node) peerLock(id peer.ID) *stdsync.Mutex {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := n.peerLocks[id]
	if l == nil {
		l = &stdsync.Mutex{}
		n.peerLocks[id] = l
	}
	return l
}

// runSession runs one sync session on st. A newer stream from the same peer
// replaces the older session (the peer restarted); the old one is fully
// stopped first so that the two never share the peer's sync state.
func (n *Node) runSession(ctx context.Context, st network.Stream, initiator bool) {
	id := st.Conn().RemotePeer()
	l := n.peerLock(id)
	l.Lock()
	if old := n.session(id); old != nil {
		old.cancel()
		<-old.s.Done()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := n.cfg.Session
	cfg.Conn = st
	cfg.Initiator = initiator
	cfg.RemotePeer = id.String()
	if cfg.Logger == nil {
		cfg.Logger = n.log
	}
	extra := n.extraSet()[id]
	cfg.TrustDevice = func(string, string) bool { return extra }
	ns := &nodeSession{cancel: cancel}
	observed := st.Conn().RemoteMultiaddr()
	cfg.hooks = sessionHooks{
		hello: func(r Remote) {
			n.learn(r.DeviceID, id, nil, observed)
			n.mu.Lock()
			ns.online = true
			delete(n.lastErr, id)
			restored := n.checksDown
			n.checksDown = false
			n.broadcastLocked()
			n.mu.Unlock()
			if restored {
				n.emit(Event{Type: ChecksRestored, Peer: id, Remote: r})
			}
			n.emit(Event{Type: PeerOnline, Peer: id, Remote: r})
		},
		received: func(r Remote, rec crdt.Received) {
			n.emit(Event{Type: ChangesReceived, Peer: id, Remote: r, Received: rec})
		},
		synced: func(r Remote) {
			// Merging the space document may hide the peer ID recorded
			// at Start (a partner's record of this device can win the
			// conflict): record it again.
			n.book.recheckPeer()
			n.signal(n.addrsWake)
			n.emit(Event{Type: Synced, Peer: id, Remote: r})
		},
		damaged: func(r Remote, d DocDamage) {
			n.emit(Event{Type: DocDamaged, Peer: id, Remote: r, Damage: d})
		},
		restored: func(r Remote, doc string) {
			n.emit(Event{Type: DocRestored, Peer: id, Remote: r, Damage: DocDamage{Doc: doc}})
		},
		refused: func(r Remote, d DocRefusal) {
			n.emit(Event{Type: ChangeRefused, Peer: id, Remote: r, Refusal: d})
		},
		progress: func(r Remote, t Transfer) {
			n.emit(Event{Type: Progress, Peer: id, Remote: r, Progress: t})
		},
		listen: n.listenAddrs,
		addrs: func(r Remote, addrs []string) {
			n.learn(r.DeviceID, id, addrs, nil)
		},
		others:  n.book.others,
		relayed: n.learnRelayed,
	}
	ns.s = newSession(spaceReplica{n.space}, cfg)
	n.mu.Lock()
	n.sessions[id] = ns
	n.broadcastLocked()
	n.mu.Unlock()
	l.Unlock()

	err := ns.s.Run(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		st.Reset()
	}
	n.log.Debug("session ended", "peer", id, "err", err)

	unchecked := errors.Is(err, trustsync.ErrCheckUnavailable)
	n.mu.Lock()
	if n.sessions[id] == ns {
		delete(n.sessions, id)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		n.lastErr[id] = err
	}
	report := unchecked && !n.checksDown
	if unchecked {
		n.checksDown = true
	}
	if n.trusted[id] {
		ds := n.dialStateLocked(id)
		ds.next = time.Now().Add(n.cfg.RedialMin)
	}
	n.broadcastLocked()
	n.mu.Unlock()
	n.signal(n.wake)
	re := n.refusal(id, ns.s.Remote(), err)
	if ns.online {
		ev := Event{Type: PeerOffline, Peer: id, Remote: ns.s.Remote(), Err: err}
		if re != nil {
			ev.Err = re
		}
		n.emit(ev)
	}
	if re != nil {
		n.emit(Event{Type: Refused, Peer: id, Remote: re.Remote, Err: re})
	}
	if report {
		n.emit(Event{Type: ChecksUnavailable, Peer: id, Remote: n.remoteOf(id, ns.s.Remote()), Err: err})
	}
}

// remoteOf returns r, or when r is empty (the session ended before the
// hello exchange), the device of the space with the peer ID id, as far as
// the space knows it.
func (n *Node) remoteOf(id peer.ID, r Remote) Remote {
	if r.DeviceID != "" {
		return r
	}
	if r.PeerID == "" {
		r.PeerID = id.String()
	}
	members, err := n.space.Members(n.ctx)
	if err != nil {
		return r
	}
	for _, m := range members {
		for _, d := range m.Devices {
			if d.PeerID == id.String() && !d.Removed {
				name := m.Name
				if name == "" {
					name = d.Owner.Name
				}
				return Remote{DeviceID: d.ID, DeviceName: d.Name, MemberID: m.ID, MemberName: name, PeerID: d.PeerID}
			}
		}
	}
	return r
}

// WaitSynced waits until a session with the peer runs and both sides hold
// the same heads of every document, as of this call or later. It keeps
// waiting across reconnects until ctx ends, except after a session that
// ended because this device cannot check what the peer sends: then it
// returns that error, wrapping [trustsync.ErrCheckUnavailable].
func (n *Node) WaitSynced(ctx context.Context, id peer.ID) error {
	for {
		n.mu.Lock()
		ns, ch := n.sessions[id], n.changed
		n.mu.Unlock()
		if ns != nil {
			err := ns.s.WaitSynced(ctx)
			if err == nil || ctx.Err() != nil {
				return err
			}
			if errors.Is(err, trustsync.ErrCheckUnavailable) {
				// This device cannot take anything now: say so rather
				// than wait for a session that cannot sync either.
				return fmt.Errorf("wait for sync with %s: %w", id, err)
			}
			if err := ns.s.Err(); refusedData(err) {
				// Waiting does not change what the device sends. (A hello
				// refused either way may be a pairing still settling.)
				return fmt.Errorf("sync with %s: %w", id, n.refusal(id, ns.s.Remote(), err))
			}
			continue // the session ended; wait for the next one
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for sync with %s: %w", id, ctx.Err())
		case <-n.ctx.Done():
			return trustsync.ErrClosed
		}
	}
}

// Peers returns the trusted peers: the space's devices with a peer ID and
// [Config.Peers].
func (n *Node) Peers() []peer.ID {
	n.mu.Lock()
	defer n.mu.Unlock()
	ids := slices.Collect(maps.Keys(n.trusted))
	slices.Sort(ids)
	return ids
}

// Online returns the peers whose session passed the hello exchange.
func (n *Node) Online() []peer.ID {
	n.mu.Lock()
	defer n.mu.Unlock()
	var ids []peer.ID
	for id, ns := range n.sessions {
		if ns.online {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// SyncOnce connects to every paired device it can reach, syncs with each
// until both sides hold the same heads and reports what was sent and
// received. It fails with [ErrNoPeers] when no device answered before ctx
// ended; devices that answered are reported even then.
func (n *Node) SyncOnce(ctx context.Context) (Report, error) {
	ids := n.Peers()
	if len(ids) == 0 {
		return Report{}, fmt.Errorf("%w: this device is not paired with any other", ErrNoPeers)
	}
	reports := make([]PeerReport, len(ids))
	var wg stdsync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i] = n.syncPeer(ctx, id)
		}()
	}
	wg.Wait()
	var r Report
	var errs []error
	for _, pr := range reports {
		r.Peers = append(r.Peers, pr)
		if pr.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", pr.name(), pr.Err))
		}
	}
	if r.Synced() == 0 {
		return r, fmt.Errorf("%w: %w", ErrNoPeers, errors.Join(errs...))
	}
	return r, nil
}

func (n *Node) syncPeer(ctx context.Context, id peer.ID) PeerReport {
	pr := PeerReport{Peer: id}
	// Count from now: a session that already ran (under `serve`) counts
	// only what moves from here on; a new one counts everything.
	pre := n.session(id)
	var before Stats
	if pre != nil {
		before = pre.s.Stats()
	}
	dctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
	err := n.connect(dctx, id)
	cancel()
	if err != nil {
		pr.Err = err
		return pr
	}
	ns := n.session(id)
	if ns == nil {
		pr.Err = errors.New("the session ended at once")
		return pr
	}
	pr.Remote = ns.s.Remote() // who answered, even if the sync does not finish
	if err := n.WaitSynced(ctx, id); err != nil {
		pr.Err = err
		if cur := n.session(id); cur != nil {
			ns = cur
		}
		pr.Damaged, pr.Restored, pr.Refused = ns.s.Damaged(), ns.s.Restored(), ns.s.Refusals()
		return pr
	}
	if cur := n.session(id); cur != nil {
		ns = cur
	}
	pr.Damaged, pr.Restored, pr.Refused = ns.s.Damaged(), ns.s.Restored(), ns.s.Refusals()
	if ns != pre {
		before = Stats{}
	}
	after := ns.s.Stats()
	pr.Remote = ns.s.Remote()
	pr.Received = diffTally(after.Received, before.Received)
	pr.Sent = diffTally(after.Sent, before.Sent)
	pr.BytesIn = after.BytesIn - before.BytesIn
	pr.BytesOut = after.BytesOut - before.BytesOut
	pr.OK = true
	return pr
}

func diffTally(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// refreshLoop notices edits made by other processes on the same store;
// crdt publishes them as events, which the sessions then send.
func (n *Node) refreshLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.RefreshInterval)
	defer t.Stop()
	var wake <-chan struct{}
	if n.cfg.Watch != nil {
		wake = n.cfg.Watch(ctx)
	}
	// A watch may fire before the commit is visible (SQLite writes the log,
	// then publishes the commit in its shared-memory index, which no file
	// event reports): a wake that finds nothing is followed by a few quick
	// looks, 1, 2 and 4 ms later.
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	retries := 0
	for {
		woken := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-retry.C:
			woken = true
		case _, ok := <-wake:
			if !ok {
				wake = nil
				continue
			}
			woken, retries = true, 0
			stagetrace.Mark("wake")
		}
		changed, err := n.space.Refresh(ctx)
		if len(changed) > 0 {
			stagetrace.Mark("refreshed")
		}
		if err != nil && ctx.Err() == nil {
			n.log.Warn("refresh failed", "err", err)
		}
		if woken && err == nil && len(changed) == 0 && retries < 3 {
			retry.Reset(time.Millisecond << retries)
			retries++
		}
	}
}

// spaceLoop re-reads the trusted devices whenever the space document changes.
func (n *Node) spaceLoop(ctx context.Context) {
	events, unsub := n.space.Subscribe()
	defer unsub()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Lost || ev.Doc == crdt.SpaceDoc {
				if err := n.reloadTrust(ctx); err != nil && ctx.Err() == nil {
					n.log.Warn("cannot read paired devices", "err", err)
				}
			}
		}
	}
}

type mdnsNotifee struct{ n *Node }

// HandlePeerFound takes a LAN announcement as an address hint for a device
// that is already trusted; strangers are ignored.
func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	n := m.n
	if ai.ID == n.host.ID() || !n.isTrusted(ai.ID) {
		return
	}
	n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.RecentlyConnectedAddrTTL)
	n.mu.Lock()
	if n.sessions[ai.ID] == nil {
		n.resetDialLocked(ai.ID)
	}
	n.mu.Unlock()
	n.signal(n.wake)
}

// refusedData reports whether a session ended because this device refused
// what the peer sent after the hello exchange: a malformed or oversized
// frame, or data crdt rejected.
func refusedData(err error) bool {
	var re *RemoteError
	if err == nil || errors.As(err, &re) {
		return false
	}
	for _, e := range []error{ErrFrameTooLarge, ErrMalformed, ErrBadDoc, errRejected} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// refused reports whether a session ended because one side refused the
// other, rather than because the connection broke.
func refused(err error) bool {
	var re *RemoteError
	return err != nil && (errors.As(err, &re) || isProtocolError(err))
}
