package sync

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/stagetrace"
)

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

// addrsLoop writes what sessions and pairings taught about the paired
// devices' addresses into the store, records this device's peer ID again
// after a sync when asked (recheckPeer), and notes a freshly paired device's
// addresses from the pairing connection (its invite, or what libp2p's
// identify exchange told).
func (n *Node) addrsLoop(ctx context.Context) {
	events, stop := n.Subscribe()
	defer stop()
	// write stores what is pending. It runs to the end even when the node
	// closes meanwhile: what a pairing or a last session taught must not
	// be lost to a close right after ('trustsync pair', a one-shot sync).
	write := func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		n.book.mu.Lock()
		pending, recheck := n.book.pending, n.book.peer
		n.book.pending, n.book.peer = nil, false
		n.book.mu.Unlock()
		if recheck {
			if err := n.space.SetDevicePeer(ctx, n.host.ID().String()); err != nil && !errors.Is(err, trustsync.ErrClosed) {
				n.log.Warn("cannot record this device's peer ID", "err", err)
			}
		}
		for _, dev := range slices.Sorted(maps.Keys(pending)) {
			if _, err := n.space.NoteAddrs(ctx, dev, pending[dev]); err != nil && !errors.Is(err, trustsync.ErrClosed) {
				n.log.Warn("cannot keep a device's addresses", "device", dev, "err", err)
			}
		}
	}
	paired := func(ev Event) {
		if ev.Type != Paired || ev.Remote.DeviceID == "" {
			return
		}
		var said []string
		for _, a := range n.host.Peerstore().Addrs(ev.Peer) {
			said = append(said, a.String())
		}
		var observed ma.Multiaddr
		if cs := n.host.Network().ConnsToPeer(ev.Peer); len(cs) > 0 {
			observed = cs[0].RemoteMultiaddr()
		}
		n.learn(ev.Remote.DeviceID, ev.Peer, said, observed)
	}
	for {
		select {
		case <-ctx.Done():
			for more := true; more; {
				select {
				case ev, ok := <-events:
					more = ok
					if ok {
						paired(ev)
					}
				default:
					more = false
				}
			}
			write(ctx)
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			paired(ev)
		case <-n.addrsWake:
			write(ctx)
		}
	}
}

// noteLoop writes when devices were seen and synced into the store.
func (n *Node) noteLoop(ctx context.Context) {
	st := n.cfg.Store
	if st == nil {
		return
	}
	events, stop := n.Subscribe()
	defer stop()
	written := map[string]time.Time{}
	write := func(key string, at time.Time, force bool) {
		if !force && at.Sub(written[key]) < noteEvery {
			return
		}
		written[key] = at
		err := st.Update(ctx, func(tx trustsync.Tx) error {
			return tx.Put(key, []byte(at.UTC().Format(time.RFC3339Nano)))
		})
		if err != nil && ctx.Err() == nil && !errors.Is(err, trustsync.ErrClosed) {
			n.log.Debug("cannot note a device's last sync", "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			dev := ev.Remote.DeviceID
			if dev == "" {
				continue
			}
			now := time.Now()
			switch ev.Type {
			case PeerOnline, PeerOffline:
				write(seenKey(dev), now, true)
			case Synced:
				write(seenKey(dev), now, false)
				write(syncedKey(dev), now, false)
			}
		}
	}
}
