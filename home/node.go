package home

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trustsync/trustsync"
	tsync "github.com/trustsync/trustsync/sync"
)

// NodeOptions adjust, for one node, what [Home.StartNode] takes from the
// stored configuration.
type NodeOptions struct {
	// Listen replaces the stored listen addresses for this node, and is not
	// saved. Default (nil): the stored ones. An empty, non-nil list is
	// refused (an error wrapping [trustsync.ErrInvalid]).
	Listen []string
	// NoMDNS turns off discovery on the local network for this node,
	// whatever the configuration says.
	NoMDNS bool
	// Logger receives the node's warnings and debug messages. Default: the
	// home's Options.Logger.
	Logger *slog.Logger
	// Configure, when set, adjusts the sync configuration just before the
	// node is made (to trust extra peers through Config.Peers, say, or to
	// change the redial bounds). Pairing needs none of it: Node.Invite and
	// Node.Join work on the node as it is. Space, Store, Key, ListenAddrs,
	// NoMDNS, Logger, RefreshInterval and Watch are set.
	Configure func(*tsync.Config)
	// BeforeStart, when set, is called with the node made but not started:
	// subscribe to its events there to miss none.
	BeforeStart func(*tsync.Node)
	// NoRelay, NoHolePunch and NoAutoNAT turn relays, DCUtR hole punching
	// and AutoNAT v2 off for this node (see [tsync.Config]).
	NoRelay, NoHolePunch, NoAutoNAT bool
	// Relays are relay addresses to use beyond the space's, for this node
	// only (see [tsync.ParseRelayAddr]); one that cannot be a relay's is
	// refused with an error wrapping [trustsync.ErrInvalid].
	Relays []string
}

// RefreshInterval is how often a node started by [Home.StartNode] looks for
// edits made by other processes on the same home (see
// [tsync.Config.RefreshInterval]); on Linux the store is also watched
// ([store.Disk.Watch]), so an edit is noticed at once and the poll is the
// fallback.
const RefreshInterval = 50 * time.Millisecond

// StartNode starts this device's sync node: the home's space and store,
// the libp2p key kept in the store (made on first use), the stored listen
// addresses and mDNS setting, then opts. When the stored addresses have a
// port 0, the node listens on a port the system picks and the ports it got
// are saved (opts.Listen is never saved): the device listens on them from
// then on, so its partner's devices find it again.
//
// A listen port taken by another program fails with a [*PortInUseError];
// a node of this Home that still runs, with [ErrOnline].
// The node's life is its own (ctx bounds only the start); close it before
// the home, or let [Home.Close] close it. Take [LockNetwork] first so that
// no other process of this home goes online at the same time.
func (h *Home) StartNode(ctx context.Context, opts NodeOptions) (*tsync.Node, error) {
	cfg, err := h.Config(ctx)
	if err != nil {
		return nil, err
	}
	listen, stored := cfg.Listen, true
	if opts.Listen != nil {
		listen, stored = opts.Listen, false
		if len(listen) == 0 {
			// The sync package would listen on every interface then.
			return nil, fmt.Errorf("go online: NodeOptions.Listen is empty: give at least one address, or nil for the stored ones: %w", trustsync.ErrInvalid)
		}
	}
	for _, a := range listen {
		if err := CheckListenAddr(a); err != nil {
			return nil, fmt.Errorf("go online: %w", err)
		}
	}
	if h.nodeRunning() {
		return nil, fmt.Errorf("go online: %w", ErrOnline)
	}
	if err := checkPortsFree(listen); err != nil {
		return nil, err
	}
	key, err := tsync.LoadOrCreateKey(ctx, h.st)
	if err != nil {
		return nil, fmt.Errorf("go online: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = h.opts.Logger
	}

	scfg := tsync.Config{
		Space:           h.space,
		Store:           h.st,
		Key:             key,
		ListenAddrs:     listen,
		NoMDNS:          !cfg.MDNS || opts.NoMDNS,
		Logger:          logger,
		RefreshInterval: RefreshInterval,
		Watch:           h.disk.Watch,
		NoRelay:         opts.NoRelay,
		NoHolePunch:     opts.NoHolePunch,
		NoAutoNAT:       opts.NoAutoNAT,
	}
	for _, s := range opts.Relays {
		ai, err := tsync.ParseRelayAddr(s)
		if err != nil {
			return nil, fmt.Errorf("go online: %w", err)
		}
		scfg.Relays = append(scfg.Relays, ai)
	}
	if opts.Configure != nil {
		opts.Configure(&scfg)
	}
	n, err := tsync.New(scfg)
	if err != nil {
		return nil, fmt.Errorf("go online: %w", err)
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, fmt.Errorf("go online: %w", trustsync.ErrClosed)
	}
	h.nodes = append(h.nodes, n)
	h.mu.Unlock()
	if opts.BeforeStart != nil {
		opts.BeforeStart(n)
	}
	if err := n.Start(ctx); err != nil {
		n.Close()
		if port, ok := portInUse(err, listen); ok {
			return nil, &PortInUseError{Port: port, Err: err}
		}
		return nil, fmt.Errorf("go online: %w", err)
	}
	if stored && hasPortZero(listen) {
		if err := h.keepPorts(ctx, listen, n.ListenAddrs()); err != nil {
			n.Close()
			return nil, fmt.Errorf("save the listen ports: %w", err)
		}
	}
	return n, nil
}

// nodeRunning reports whether a node this Home started still runs.
func (h *Home) nodeRunning() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.nodes {
		if n.Running() {
			return true
		}
	}
	return false
}

// keepPorts saves the configuration with each port 0 of listen replaced by
// the port the node bound for that address.
func (h *Home) keepPorts(ctx context.Context, listen, bound []string) error {
	kept := make([]string, len(listen))
	used := make([]bool, len(bound))
	for i, a := range listen {
		kept[i] = a
		network, host, port := hostPort(a)
		if port != 0 {
			continue
		}
		for j, b := range bound {
			if used[j] || CheckListenAddr(b) != nil {
				continue
			}
			bn, bh, bp := hostPort(b)
			if bn == network && bh == host && bp != 0 && sameTail(a, b) {
				parts := strings.Split(a, "/")
				parts[4] = strconv.Itoa(bp)
				kept[i], used[j] = strings.Join(parts, "/"), true
				break
			}
		}
	}
	cfg, err := h.Config(ctx)
	if err != nil {
		return err
	}
	cfg.Listen = kept
	return h.SetConfig(ctx, cfg)
}

// sameTail reports whether two listen addresses end alike after the port
// (nothing for TCP, /quic-v1 for QUIC).
func sameTail(a, b string) bool {
	pa, pb := strings.Split(a, "/"), strings.Split(b, "/")
	return strings.Join(pa[5:], "/") == strings.Join(pb[5:], "/")
}

func hasPortZero(addrs []string) bool {
	for _, a := range addrs {
		if _, _, port := hostPort(a); port == 0 {
			return true
		}
	}
	return false
}

// checkPortsFree fails when a fixed listen port is taken, before libp2p
// tries it: a libp2p host that fails to listen logs to standard error and
// leaves goroutines behind. It only checks ports given; a port 0 is left
// to the system when the node listens.
func checkPortsFree(addrs []string) error {
	for _, a := range addrs {
		network, host, port := hostPort(a)
		if port == 0 {
			continue
		}
		if err := tryBind(network, host, port); errors.Is(err, syscall.EADDRINUSE) {
			return &PortInUseError{Port: port, Err: err}
		}
	}
	return nil
}

func tryBind(network, host string, port int) error {
	hp := net.JoinHostPort(host, strconv.Itoa(port))
	if network == "tcp" {
		l, err := net.Listen("tcp", hp)
		if err != nil {
			return err
		}
		return l.Close()
	}
	c, err := net.ListenPacket("udp", hp)
	if err != nil {
		return err
	}
	return c.Close()
}

// portInUse tells whether a start failed because a listen port was taken
// meanwhile, and which.
func portInUse(err error, addrs []string) (int, bool) {
	if !errors.Is(err, syscall.EADDRINUSE) && !strings.Contains(err.Error(), "address already in use") {
		return 0, false
	}
	for _, a := range addrs {
		if _, _, port := hostPort(a); port != 0 && strings.Contains(err.Error(), ":"+strconv.Itoa(port)) {
			return port, true
		}
	}
	return 0, false
}

// lastSyncKey is the store metadata key holding when this device last
// finished a sync with the device deviceID (RFC 3339, UTC).
func lastSyncKey(deviceID string) string { return "sync/last/" + deviceID }

// RecordSync stores that this device finished a sync with the device
// deviceID at the time at, and how it reached the device then (path;
// [tsync.PathUnreachable] when not known). Only this device reads it back.
func (h *Home) RecordSync(ctx context.Context, deviceID string, at time.Time, path tsync.Path) error {
	v := at.UTC().Format(time.RFC3339Nano)
	if path != tsync.PathUnreachable {
		v += " " + strconv.Itoa(int(path))
	}
	return h.st.Update(ctx, func(tx trustsync.Tx) error {
		return tx.Put(lastSyncKey(deviceID), []byte(v))
	})
}

// LastSync returns when this device last synced with the device deviceID,
// as [Home.RecordSync] stored it, and false when it never did (or the
// record is unreadable).
func (h *Home) LastSync(ctx context.Context, deviceID string) (time.Time, bool, error) {
	at, _, ok, err := h.LastSyncPath(ctx, deviceID)
	return at, ok, err
}

// LastSyncPath is [Home.LastSync] with how this device reached the device
// at that sync, as [Home.RecordSync] stored it: [tsync.PathUnreachable]
// when the record does not say (one written before paths were kept).
func (h *Home) LastSyncPath(ctx context.Context, deviceID string) (time.Time, tsync.Path, bool, error) {
	var at time.Time
	path := tsync.PathUnreachable
	var ok bool
	err := h.st.View(ctx, func(tx trustsync.ReadTx) error {
		b, err := tx.Get(lastSyncKey(deviceID))
		if errors.Is(err, trustsync.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ts, p, _ := strings.Cut(string(b), " ")
		at, err = time.Parse(time.RFC3339Nano, ts)
		ok = err == nil
		if n, err := strconv.Atoi(p); ok && err == nil && n >= int(tsync.PathUnreachable) && n <= int(tsync.PathRelayed) {
			path = tsync.Path(n)
		}
		return nil
	})
	return at, path, ok, err
}
