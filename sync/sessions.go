package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	stdsync "sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// ErrNoPeers is returned by [Node.SyncOnce] when no paired device synced:
// none answered, or the device is not paired at all.
var ErrNoPeers = errors.New("no paired device answered")

type nodeSession struct {
	s      *Session
	conn   network.Conn // the connection the session runs on
	cancel context.CancelFunc
	online bool
	// reported is the session's stats when a SyncOnce last reported on
	// it; nil while none has (guarded by Node.mu).
	reported *Stats
}

func (n *Node) session(id peer.ID) *nodeSession {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sessions[id]
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
	if !n.enterStream(st) {
		return
	}
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
		n.replaced(old, st.Conn()) // moves.go
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
	ns := &nodeSession{cancel: cancel, conn: st.Conn()}
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
			n.notePath(id)
			n.tryDirect(id)
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
			n.directAgain(id)
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
		} else if errors.Is(err, context.Canceled) && n.ctx.Err() != nil {
			ev.Err = fmt.Errorf("this device went offline: %w: %w", trustsync.ErrClosed, err)
		}
		n.emit(ev)
	}
	if re != nil {
		n.emit(Event{Type: Refused, Peer: id, Remote: re.Remote, Err: re})
	}
	n.notePath(id)
	if report {
		n.emit(Event{Type: ChecksUnavailable, Peer: id, Remote: n.remoteOf(id, ns.s.Remote()), Err: err})
	}
}

// WaitSynced waits until a session with the peer runs and both sides hold
// the same heads of every document, as of this call or later. It keeps
// waiting across reconnects until ctx ends, except after a session that
// ended because this device cannot check what the peer sends: then it
// returns that error, wrapping [trustsync.ErrCheckUnavailable]. When ctx
// ends after the device went offline and before it came back, the error
// wraps [ErrOffline] as well as ctx's error.
func (n *Node) WaitSynced(ctx context.Context, id peer.ID) error {
	if err := n.running("wait for sync with " + id.String()); err != nil {
		return err
	}
	var gone error // the last session ended because the device went offline
	for {
		n.mu.Lock()
		ns, ch := n.sessions[id], n.changed
		n.mu.Unlock()
		if ns != nil {
			gone = nil
			err := ns.s.WaitSynced(ctx)
			if err == nil || ctx.Err() != nil {
				return err
			}
			if err := ns.s.Err(); errors.Is(err, ErrOffline) {
				gone = err
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
			if gone != nil {
				return fmt.Errorf("wait for sync with %s: %w before it finished: %w", id, gone, ctx.Err())
			}
			return fmt.Errorf("wait for sync with %s: %w", id, ctx.Err())
		case <-n.ctx.Done():
			return trustsync.ErrClosed
		}
	}
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
// received: everything a session moved, or, on a session an earlier
// SyncOnce reported on, what it moved since. Each device it has no session
// with is dialed now, even one that did not answer a moment ago.
//
// It fails with an error wrapping [ErrNoPeers], and each device's reason,
// when no device synced: none answered (a refused connection fails at
// once, silence at the end of ctx or of Config.DialTimeout) or each
// failed. When at least one device synced the error is nil and the
// others' reasons are in their [PeerReport].Err; the report names every
// device either way.
func (n *Node) SyncOnce(ctx context.Context) (Report, error) {
	if err := n.running("sync"); err != nil {
		return Report{}, err
	}
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
	// Count what no earlier SyncOnce reported: a session that one
	// already reported on counts only what moved since; any other counts
	// everything, also when it started before this call (the partner's
	// serve dialed this node first, as `trustsync sync` started it).
	var before Stats
	n.mu.Lock()
	pre := n.sessions[id]
	switch {
	case pre == nil:
		// Asked to sync now: dial now, even a device that did not answer
		// a moment ago, which libp2p would otherwise not dial for a while.
		n.resetDialLocked(id)
	case pre.reported != nil:
		before = *pre.reported
	}
	n.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
	err := n.connect(dctx, id)
	var unreachable *UnreachableError
	if errors.As(err, &unreachable) && dctx.Err() == nil {
		// libp2p joins a dial to a dial of the same device already under
		// way (the dial loop's, begun a moment before the device came
		// up) and may answer with that dial's failure: dial once more,
		// on a dial of its own.
		select {
		case <-time.After(200 * time.Millisecond):
		case <-dctx.Done():
		}
		n.mu.Lock()
		n.resetDialLocked(id)
		n.mu.Unlock()
		if dctx.Err() == nil {
			err = n.connect(dctx, id)
		}
	}
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
	err = n.WaitSynced(ctx, id)
	if cur := n.session(id); cur != nil {
		ns = cur
	}
	pr.Damaged, pr.Restored, pr.Refused = ns.s.Damaged(), ns.s.Restored(), ns.s.Refusals()
	if err != nil {
		pr.Err = err
		return pr
	}
	if ns != pre {
		before = Stats{}
	}
	after := ns.s.Stats()
	n.mu.Lock()
	ns.reported = &after
	n.mu.Unlock()
	pr.Remote = ns.s.Remote()
	pr.Received = diffTally(after.Received, before.Received)
	pr.Sent = diffTally(after.Sent, before.Sent)
	pr.BytesIn = after.BytesIn - before.BytesIn
	pr.BytesOut = after.BytesOut - before.BytesOut
	pr.Path = n.Path(id)
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
