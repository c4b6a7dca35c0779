package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/home"
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

// StartNode starts this device's sync node through [home.Home.StartNode]:
// the stored listen addresses and mDNS setting with TRUSTSYNC_LISTEN and
// TRUSTSYNC_MDNS=off applied, then opts. A stored port 0 is bound by the
// system and the port saved, so that it is kept from then on (not when
// the addresses come from --listen or TRUSTSYNC_LISTEN).
//
// A listen port already taken fails with a message naming the port and
// --listen. The caller closes the node before the Factory; the node's
// context is its own, ctx bounds only the start.
func (f *Factory) StartNode(ctx context.Context, opts NodeOptions) (*tsync.Node, error) {
	h, err := f.open(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := f.Config(ctx) // checks TRUSTSYNC_LISTEN and TRUSTSYNC_MDNS
	if err != nil {
		return nil, err
	}
	hopts := home.NodeOptions{
		NoMDNS:      !cfg.MDNS,
		Logger:      opts.Logger,
		Configure:   opts.Configure,
		BeforeStart: opts.BeforeStart,
	}
	if opts.Logger == nil {
		hopts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Listen != nil {
		for _, a := range opts.Listen {
			if err := CheckMultiaddr(a); err != nil {
				return nil, &UsageError{Err: err}
			}
		}
		hopts.Listen = opts.Listen
	} else if strings.TrimSpace(f.Getenv("TRUSTSYNC_LISTEN")) != "" {
		hopts.Listen = cfg.Listen
	}
	n, err := h.StartNode(ctx, hopts)
	var inUse *home.PortInUseError
	if errors.As(err, &inUse) {
		return nil, &userError{
			msg: fmt.Sprintf("port %d is in use by another program (perhaps 'trustsync serve' already runs for this home): choose another with --listen", inUse.Port),
			err: err,
		}
	}
	return n, err
}

// lockHome makes sure that only one command of this home talks to other
// devices at a time (see [home.LockNetwork]), with a refusal that names
// the command holding it.
func lockHome(f *Factory, command string) (release func(), err error) {
	dir, err := f.Home()
	if err != nil {
		return nil, err
	}
	release, err = home.LockNetwork(dir, command)
	var busy *home.NetworkBusyError
	switch {
	case errors.Is(err, trustsync.ErrNotInitialized):
		return func() {}, nil // the command's own error says so
	case errors.As(err, &busy):
		return nil, homeBusy(busy)
	case err != nil:
		return nil, failf("cannot lock %s: %v", filepath.Join(dir, home.NetworkLockFile), oneLine(err.Error()))
	}
	return release, nil
}

// homeBusy explains which command holds the home.
func homeBusy(b *home.NetworkBusyError) error {
	pid := busyPID(b)
	switch b.Purpose {
	case "serve":
		return failf("'trustsync serve' already runs for this home (pid %s): stop it first, or use it: edits you make are sent by it", pid)
	case "ui":
		return failf("'trustsync ui' already runs for this home (pid %s): use its page, or stop it first", pid)
	case "sync", "pair":
		return failf("'trustsync %s' already runs for this home (pid %s): wait until it ends, or stop it first", b.Purpose, pid)
	}
	return failf("another trustsync command already talks to other devices for this home (pid %s): wait until it ends, or stop it first", pid)
}

// busyPID names the process holding the home's network lock: its ID, or
// "unknown".
func busyPID(b *home.NetworkBusyError) string {
	if b.PID > 0 {
		return strconv.Itoa(b.PID)
	}
	return "unknown"
}

// recordLastSync stores when this device last synced with deviceID.
func (f *Factory) recordLastSync(ctx context.Context, deviceID string, at time.Time) error {
	h, err := f.open(ctx)
	if err != nil {
		return err
	}
	return h.RecordSync(ctx, deviceID, at)
}

// loadLastSync returns when this device last synced with deviceID, and
// false when it never did (or the record is unreadable).
func (f *Factory) loadLastSync(ctx context.Context, deviceID string) (time.Time, bool, error) {
	h, err := f.open(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	return h.LastSync(ctx, deviceID)
}

// syncRecorder keeps the time of the last sync with each device in the
// store, writing each device's record at most once per recordEvery (a live
// session reports a sync after every edit) and the latest at flush.
type syncRecorder struct {
	st      trustsync.Store // where refusals are recorded
	record  func(ctx context.Context, deviceID string, at time.Time) error
	now     func() time.Time
	written map[string]time.Time // when each device's record was last written
	pending map[string]time.Time // syncs not written yet
}

const recordEvery = 2 * time.Second

func newSyncRecorder(st trustsync.Store, record func(ctx context.Context, deviceID string, at time.Time) error, now func() time.Time) *syncRecorder {
	return &syncRecorder{st: st, record: record, now: now, written: map[string]time.Time{}, pending: map[string]time.Time{}}
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
	return r.record(ctx, deviceID, now)
}

// flush writes every sync not written yet.
func (r *syncRecorder) flush(ctx context.Context) error {
	var errs []error
	for id, at := range r.pending {
		if err := r.record(ctx, id, at); err != nil {
			errs = append(errs, err)
			continue
		}
		r.written[id] = at
		delete(r.pending, id)
	}
	return errors.Join(errs...)
}
