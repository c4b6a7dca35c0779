package cli

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

// NodeOptions override, for one node, what StartNode reads from the stored
// configuration and the environment.
type NodeOptions struct {
	// Listen replaces the listen addresses (from a --listen flag); nil uses
	// the stored ones, or TRUSTSYNC_LISTEN. Each is checked with
	// [CheckMultiaddr].
	Listen []string
	// Logger receives the node's warnings and debug messages. Default:
	// discard.
	Logger *slog.Logger
	// Configure, when set, adjusts the sync configuration just before the
	// node is made, for what only some commands need (pair adds its
	// Config.Peers there). Space, Store, ListenAddrs and NoMDNS are already
	// set.
	Configure func(*tsync.Config)
	// BeforeStart, when set, is called with the node made but not started:
	// subscribe to its events there to miss none.
	BeforeStart func(*tsync.Node)
}

// RefreshInterval is how often a node started by StartNode looks for edits
// made by other trustsync processes on the same home (see
// [tsync.Config.RefreshInterval]). Each look is one read of the store's
// latest sequence number. On Linux a disk store is also watched (inotify on
// its directory, for writes to the database and its write-ahead log), so an
// edit is noticed at once; the poll is the fallback.
var RefreshInterval = 50 * time.Millisecond

// StartNode starts this device's sync node: the space and store of the home,
// the libp2p key kept in the store (made on first use), the stored listen
// addresses and mDNS setting with TRUSTSYNC_LISTEN and TRUSTSYNC_MDNS=off
// applied, then opts. A stored port 0 (a home made before init picked ports)
// is resolved to a free port and saved, so that it is kept from then on.
//
// A listen port already taken fails with a message naming the port and
// --listen. The caller closes the node before the Factory; the node's
// context is its own, ctx bounds only the start.
func (f *Factory) StartNode(ctx context.Context, opts NodeOptions) (*tsync.Node, error) {
	sp, err := f.Space(ctx)
	if err != nil {
		return nil, err
	}
	st, err := f.Store(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := f.Config(ctx)
	if err != nil {
		return nil, err
	}
	listen := cfg.Listen
	if opts.Listen != nil {
		for _, a := range opts.Listen {
			if err := CheckMultiaddr(a); err != nil {
				return nil, &UsageError{Err: err}
			}
		}
		listen = opts.Listen
	} else if f.Getenv("TRUSTSYNC_LISTEN") == "" && hasPortZero(listen) {
		if listen, err = ResolvePorts(listen); err != nil {
			return nil, err
		}
		stored, err := loadConfig(ctx, st)
		if err != nil {
			return nil, err
		}
		stored.Listen = listen
		if err := saveConfig(ctx, st, stored); err != nil {
			return nil, fmt.Errorf("save the listen ports: %w", err)
		}
	}
	if err := checkPortsFree(listen); err != nil {
		return nil, err
	}
	key, err := tsync.LoadOrCreateKey(ctx, st)
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	scfg := tsync.Config{
		Space:           sp,
		Store:           st,
		Key:             key,
		ListenAddrs:     listen,
		NoMDNS:          !cfg.MDNS,
		Logger:          logger,
		RefreshInterval: RefreshInterval,
	}
	if d, ok := st.(interface{ Path() string }); ok && d.Path() != "" {
		scfg.Watch = watchStore(d.Path())
	}
	if opts.Configure != nil {
		opts.Configure(&scfg)
	}
	n, err := tsync.New(scfg)
	if err != nil {
		return nil, err
	}
	if opts.BeforeStart != nil {
		opts.BeforeStart(n)
	}
	if err := n.Start(ctx); err != nil {
		n.Close()
		if port, ok := portInUse(err, listen); ok {
			return nil, portInUseError(port, err)
		}
		return nil, fmt.Errorf("go online: %w", err)
	}
	return n, nil
}

// hostPort splits a listen multiaddr checked by CheckMultiaddr into its
// network ("tcp" or "udp"), host and port.
func hostPort(a string) (network, host string, port int) {
	p := strings.Split(a[1:], "/")
	port, _ = strconv.Atoi(p[3])
	return p[2], p[1], port
}

func hasPortZero(addrs []string) bool {
	for _, a := range addrs {
		if CheckMultiaddr(a) == nil {
			if _, _, port := hostPort(a); port == 0 {
				return true
			}
		}
	}
	return false
}

// ResolvePorts returns addrs with every port 0 replaced by a port free now,
// found by binding and closing a socket (no libp2p, no traffic). TCP and UDP
// addresses get the same number when it is free for both. Other ports are
// kept as given.
func ResolvePorts(addrs []string) ([]string, error) {
	out := make([]string, len(addrs))
	picked := 0
	for i, a := range addrs {
		out[i] = a
		if err := CheckMultiaddr(a); err != nil {
			return nil, &UsageError{Err: err}
		}
		network, host, port := hostPort(a)
		if port != 0 {
			continue
		}
		if picked != 0 && bindFree(network, host, picked) == nil {
			port = picked
		} else {
			p, err := freePort(network, host)
			if err != nil {
				return nil, failf("cannot find a free port for %s (%v): give a port with --listen", a, err)
			}
			port = p
		}
		if picked == 0 {
			picked = port
		}
		parts := strings.Split(a, "/")
		parts[4] = strconv.Itoa(port)
		out[i] = strings.Join(parts, "/")
	}
	return out, nil
}

func freePort(network, host string) (int, error) {
	switch network {
	case "tcp":
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, err
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	default:
		c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
}

func bindFree(network, host string, port int) error {
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

// checkPortsFree fails when a fixed listen port is taken, before libp2p
// tries it (libp2p's own error names no port in words).
func checkPortsFree(addrs []string) error {
	for _, a := range addrs {
		network, host, port := hostPort(a)
		if port == 0 {
			continue
		}
		if err := bindFree(network, host, port); errors.Is(err, syscall.EADDRINUSE) {
			return portInUseError(port, err)
		}
	}
	return nil
}

func portInUseError(port int, err error) error {
	return &userError{
		msg: fmt.Sprintf("port %d is in use by another program (perhaps 'trustsync serve' already runs for this home): choose another with --listen", port),
		err: err,
	}
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

// recordLastSync stores when this device last synced with deviceID.
func recordLastSync(ctx context.Context, st trustsync.Store, deviceID string, at time.Time) error {
	return st.Update(ctx, func(tx trustsync.Tx) error {
		return tx.Put(lastSyncKey(deviceID), []byte(at.UTC().Format(time.RFC3339Nano)))
	})
}

// loadLastSync returns when this device last synced with deviceID, and
// false when it never did (or the record is unreadable).
func loadLastSync(ctx context.Context, st trustsync.Store, deviceID string) (time.Time, bool, error) {
	var at time.Time
	var ok bool
	err := st.View(ctx, func(tx trustsync.ReadTx) error {
		b, err := tx.Get(lastSyncKey(deviceID))
		if errors.Is(err, trustsync.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		at, err = time.Parse(time.RFC3339Nano, string(b))
		ok = err == nil
		return nil
	})
	return at, ok, err
}

// syncRecorder keeps the time of the last sync with each device in the
// store, writing each device's record at most once per recordEvery (a live
// session reports a sync after every edit) and the latest at flush.
type syncRecorder struct {
	st      trustsync.Store
	now     func() time.Time
	written map[string]time.Time // when each device's record was last written
	pending map[string]time.Time // syncs not written yet
}

const recordEvery = 2 * time.Second

func newSyncRecorder(st trustsync.Store, now func() time.Time) *syncRecorder {
	return &syncRecorder{st: st, now: now, written: map[string]time.Time{}, pending: map[string]time.Time{}}
}

// synced notes a sync with deviceID now, writing it unless a record was
// written less than recordEvery ago.
func (r *syncRecorder) synced(ctx context.Context, deviceID string) error {
	if deviceID == "" {
		return nil
	}
	now := r.now()
	if w, ok := r.written[deviceID]; ok && now.Sub(w) < recordEvery {
		r.pending[deviceID] = now
		return nil
	}
	delete(r.pending, deviceID)
	r.written[deviceID] = now
	return recordLastSync(ctx, r.st, deviceID, now)
}

// flush writes every sync not written yet.
func (r *syncRecorder) flush(ctx context.Context) error {
	var errs []error
	for id, at := range r.pending {
		if err := recordLastSync(ctx, r.st, id, at); err != nil {
			errs = append(errs, err)
			continue
		}
		r.written[id] = at
		delete(r.pending, id)
	}
	return errors.Join(errs...)
}
