package sync

import (
	"context"
	"time"

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
