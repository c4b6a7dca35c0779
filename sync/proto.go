package sync

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/stagetrace"
)

// proto is the state of the loop goroutine of Run.
type proto struct {
	s    *Session
	out  *outQueue
	peer syncPeer

	remote     Remote
	helloDone  bool
	theirDocs  map[string]bool
	theirHeads map[string][]string // the heads the peer's hello advertised, sorted
	inStep     map[string][]string // docs imported from the peer's snapshot at these heads, no message since
	myHeads    map[string][]string
	pending    map[string]bool // docs to generate messages for
	dirty      map[string]bool // docs whose heads may have changed
	allDirty   bool
	peerDigest *[sha256.Size]byte
	sentDigest *[sha256.Size]byte
	sentTally  map[string]int
	tally      map[string]int
	waiters    []chan struct{}

	// Damage stays per document: a document this device cannot read is
	// left out of the hello and the digest, the peer is told (DAMAGED),
	// and the peer's copy, sent whole, restores it. A document the peer
	// cannot read is sent to it whole once, then left out until it says
	// it is readable again.
	damaged      map[string]string // docs this device cannot read -> why
	announced    map[string]string // what the peer was last told of them
	theirDamaged map[string]string // docs the peer said it cannot read -> why
	snapSent     map[string]bool   // docs sent whole in this session
	// A document for which this device refused a change the peer sent
	// (a forged or unverifiable one), or the peer refused one of this
	// device's, is left out for the rest of the session.
	refused     map[string]string // doc -> why this device refused the peer's change
	theyRefused map[string]string // doc -> why the peer refused this device's

	addrsSent  []string            // the listen addresses last sent to the peer
	othersSent map[string][]string // the other devices' addresses last passed on

	// Read by showBusy: whether the loop is handling a frame, how many it
	// handled, whether the hello exchange is done.
	handling  atomic.Bool
	handled   atomic.Int64
	helloSeen atomic.Bool
}

// handleFrame handles f, marked as work in progress for showBusy.
func (p *proto) handleFrame(ctx context.Context, f frame) error {
	p.handling.Store(true)
	defer func() {
		p.handling.Store(false)
		p.handled.Add(1)
	}()
	return p.handle(ctx, f)
}

func (p *proto) send(typ byte, body []byte) error { return p.sendDoc(typ, body, "") }

// sendDoc queues a frame carrying doc's data (none when doc is empty).
func (p *proto) sendDoc(typ byte, body []byte, doc string) error {
	f := encodeFrame(typ, body)
	if len(f) > p.s.cfg.MaxFrame+binaryLenMax {
		return fmt.Errorf("%w: outgoing frame of %d bytes", ErrFrameTooLarge, len(f))
	}
	p.out.pushDoc(f, doc)
	return nil
}

func (p *proto) loop(ctx context.Context, in <-chan frame, readErr, writeErr <-chan error, events <-chan crdt.Event) error {
	s := p.s
	if s.cfg.Initiator {
		if err := s.r.CheckReady(ctx); err != nil {
			return err
		}
		if err := p.sendHello(ctx); err != nil {
			return err
		}
	}
	helloTimer := time.NewTimer(s.cfg.Timeout)
	defer helloTimer.Stop()
	// The watchdog restarts the Automerge sync protocol when a session that
	// is not synced made no progress for a while. crdt.Peer restarts the
	// stall we know of (a message left in flight by the bundled core,
	// automerge issue 702) at once; this is the backstop for any other.
	watchdog := time.NewTicker(s.cfg.KeepAlive / 5)
	defer watchdog.Stop()
	lastProgress := int64(-1)
	for {
		select {
		case <-watchdog.C:
			if err := p.sendAddrs(); err != nil {
				return err
			}
			// A genuine stall only: frames read and not handled yet, or
			// frames waiting to go out, are work under way, not a stall.
			progress := s.bytesIn.Load() + s.bytesOut.Load()
			stalled := progress == lastProgress && len(in) == 0 && p.out.empty()
			lastProgress = progress
			if !stalled || !p.helloDone || p.peerDigest == nil || p.sentDigest == nil || *p.peerDigest == *p.sentDigest {
				continue
			}
			s.log.Debug("sync stalled; restarting the sync states", "device", p.remote.DeviceID)
			s.mu.Lock()
			s.restarts++
			s.mu.Unlock()
			p.peer.Reset()
			clear(p.inStep)
			for d := range p.theirDocs {
				p.pending[d] = true
			}
			for d := range p.myHeads {
				p.pending[d] = true
			}
			p.allDirty = true
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			return p.drain(ctx, in, err)
		case err := <-writeErr:
			if err == nil {
				err = io.ErrClosedPipe
			}
			return p.drain(ctx, in, err)
		case <-helloTimer.C:
			if !p.helloDone {
				return fmt.Errorf("no hello from the peer within %v", s.cfg.Timeout)
			}
		case f := <-in:
			if err := p.handleFrame(ctx, f); err != nil {
				return err
			}
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			p.event(ev)
		case docs := <-s.notify:
			for _, d := range docs {
				if ValidDoc(d) {
					p.pending[d] = true
					p.dirty[d] = true
				}
			}
		case req := <-s.pokes:
			p.allDirty = true
			p.waiters = append(p.waiters, req)
		}
		if p.helloDone && len(in) == 0 {
			if err := p.flush(ctx); err != nil {
				return err
			}
		}
	}
}

// drain handles the frames already read when the connection failed with
// err, then returns err: a peer that refuses sends an ERROR frame, then
// closes, and its reason must not be lost to the closed connection.
func (p *proto) drain(ctx context.Context, in <-chan frame, err error) error {
	for {
		select {
		case f := <-in:
			if herr := p.handleFrame(ctx, f); herr != nil {
				return herr
			}
		default:
			return err
		}
	}
}

func (p *proto) event(ev crdt.Event) {
	if ev.Lost {
		p.allDirty = true
		for d := range p.theirDocs {
			p.pending[d] = true
		}
		for d := range p.myHeads {
			p.pending[d] = true
		}
		return
	}
	if !ValidDoc(ev.Doc) {
		return
	}
	p.pending[ev.Doc] = true
	p.dirty[ev.Doc] = true
}

func (p *proto) handle(ctx context.Context, f frame) error {
	s := p.s
	switch f.typ {
	case framePing:
		return p.onPing(f.body)
	case frameError:
		d := &decoder{b: f.body}
		reason := d.string("reason")
		if d.err != nil {
			reason = "(unreadable reason)"
		}
		return &RemoteError{Reason: reason}
	case frameHello:
		if p.helloDone {
			return fmt.Errorf("%w: second hello", ErrMalformed)
		}
		return p.onHello(ctx, f.body)
	}
	if !p.helloDone {
		return fmt.Errorf("%w: frame type %d before hello", ErrMalformed, f.typ)
	}
	switch f.typ {
	case frameSnapshot:
		doc, data, err := decodeDocPayload(f.body)
		if err != nil {
			return err
		}
		if _, no := p.refused[doc]; no {
			return nil // left out for this session; the peer was told
		}
		if p.pending[doc] && p.theirDocs[doc] {
			// Answer the peer's earlier message first, as a flush
			// between the two frames would: this device's document,
			// before it takes in the peer's, may be the smaller to
			// send whole (crdt.ErrWholeSmaller).
			if err := p.flush(ctx); err != nil {
				return err
			}
		}
		_, wasDamaged := p.damaged[doc]
		rec, err := s.r.Import(ctx, doc, data, p.remote.DeviceID)
		if leftOut, err := p.notApplied(ctx, doc, "document "+doc, err); leftOut || err != nil {
			return err
		}
		p.theirDocs[doc] = true
		if wasDamaged || rec.Restored > 0 {
			p.healed(doc, true)
		}
		inStep, err := p.assumeSnapshot(ctx, doc)
		if errors.Is(err, trustsync.ErrDamaged) {
			p.markDamaged(doc, err)
			return nil
		}
		if err != nil {
			return err
		}
		p.received(doc, rec)
		if inStep {
			// Nothing to exchange for doc until either side edits it: a
			// sync round from fresh states would resend the history.
			p.inStep[doc] = p.theirHeads[doc]
		}
	case frameSync:
		doc, msg, err := decodeDocPayload(f.body)
		if err != nil {
			return err
		}
		delete(p.inStep, doc)
		if _, no := p.refused[doc]; no {
			return nil // left out for this session; the peer was told
		}
		if _, bad := p.damaged[doc]; bad {
			// Cannot be applied here; the peer was told and sends its
			// whole copy instead.
			p.theirDocs[doc] = true
			return nil
		}
		rec, err := p.peer.ReceiveMessage(ctx, doc, msg)
		if leftOut, err := p.notApplied(ctx, doc, "sync message for "+doc, err); leftOut || err != nil {
			return err
		}
		p.theirDocs[doc] = true
		p.received(doc, rec)
	case frameStatus:
		st, err := decodeStatus(f.body)
		if err != nil {
			return err
		}
		p.peerDigest = &st.Digest
		s.setState(func() { s.sent = st.Received })
		p.updateSynced()
	case frameDamaged:
		n, err := decodeDamaged(f.body)
		if err != nil {
			return err
		}
		p.theirDamage(n)
	case frameRefused:
		n, err := decodeDamaged(f.body)
		if err != nil {
			return err
		}
		if _, was := p.theyRefused[n.Doc]; !was {
			p.theyRefused[n.Doc] = n.Reason
			s.setState(func() { s.refusals[DocRefusal{Doc: n.Doc, Remote: true, Reason: n.Reason}] = true })
			delete(p.inStep, n.Doc)
			delete(p.pending, n.Doc)
			s.log.Warn("the device refused a change this device sent", "doc", n.Doc, "device", p.remote.DeviceID, "why", n.Reason)
			if s.cfg.hooks.refused != nil {
				s.cfg.hooks.refused(p.remote, DocRefusal{Doc: n.Doc, Remote: true, Reason: n.Reason})
			}
		}
	default:
		return fmt.Errorf("%w: unknown frame type %d", ErrMalformed, f.typ)
	}
	return nil
}

// assumeSnapshot is called after importing the peer's snapshot of doc.
// When this device's heads of doc are now exactly those the peer's hello
// advertised (the snapshot was taken there, and this device had nothing
// else), both sides hold the same document: the sync state with the peer
// starts from these heads (crdt.Peer.Assume) and it reports true. Otherwise
// (an edit on either side meanwhile) the Automerge sync protocol runs as
// usual.
func (p *proto) assumeSnapshot(ctx context.Context, doc string) (bool, error) {
	want := p.theirHeads[doc]
	if len(want) == 0 {
		return false, nil
	}
	hs, err := p.s.r.Heads(ctx, doc)
	if err != nil {
		return false, fmt.Errorf("heads of %s: %w", doc, err)
	}
	hs = slices.Clone(hs)
	slices.Sort(hs)
	if !slices.Equal(hs, want) {
		return false, nil
	}
	if err := p.peer.Assume(ctx, doc, hs); err != nil {
		return false, fmt.Errorf("sync state of %s: %w", doc, err)
	}
	return true, nil
}

func (p *proto) received(doc string, rec crdt.Received) {
	p.s.progressGot(doc)
	p.pending[doc] = true
	p.dirty[doc] = true
	if rec.Changes == 0 && len(rec.Items) == 0 {
		return
	}
	s := p.s
	s.setState(func() {
		s.changes += rec.Changes
		for _, it := range rec.Items {
			if s.received[it.Kind] == nil {
				s.received[it.Kind] = map[string]bool{}
			}
			s.received[it.Kind][it.ID] = true
		}
	})
	if s.cfg.hooks.received != nil {
		s.cfg.hooks.received(p.remote, rec)
	}
}

// flush sends what is pending: snapshots of documents the peer lacks, sync
// messages for the others, then a STATUS when the digest or tally changed.
func (p *proto) flush(ctx context.Context) error {
	s := p.s
	if p.allDirty || len(p.dirty) > 0 {
		if err := p.refreshHeads(ctx, false); err != nil {
			return err
		}
	}
	for _, doc := range spaceFirst(sortedKeys(p.pending)) {
		delete(p.pending, doc)
		if _, bad := p.damaged[doc]; bad {
			continue
		}
		if _, no := p.refused[doc]; no {
			continue
		}
		if _, no := p.theyRefused[doc]; no {
			continue
		}
		if !p.theirDocs[doc] {
			if len(p.myHeads[doc]) == 0 {
				continue
			}
			if err := p.sendWhole(ctx, doc); err != nil {
				return err
			}
			continue
		}
		if _, bad := p.theirDamaged[doc]; bad {
			continue // until the peer says it can read it again
		}
		if hs, ok := p.inStep[doc]; ok {
			if slices.Equal(hs, p.myHeads[doc]) {
				continue // imported the peer's snapshot; no edit since
			}
			delete(p.inStep, doc)
		}
		stagetrace.Mark("generate")
		msg, ok, err := p.peer.GenerateMessage(ctx, doc)
		if ok {
			stagetrace.Mark("generated")
		}
		if errors.Is(err, crdt.ErrSendWhole) {
			// The message could not carry the signatures of its changes.
			if err := p.sendWhole(ctx, doc); err != nil {
				return err
			}
			continue
		}
		if errors.Is(err, trustsync.ErrDamaged) {
			p.markDamaged(doc, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("generate sync message for %s: %w", doc, err)
		}
		if !ok {
			continue
		}
		body, err := encodeDocPayload(doc, msg)
		if err != nil {
			return err
		}
		if err := p.sendDoc(frameSync, body, doc); err != nil {
			return err
		}
	}
	if err := p.announce(); err != nil {
		return err
	}
	d := digest(p.digestHeads())
	st := s.Stats()
	if p.sentDigest == nil || *p.sentDigest != d || !maps.Equal(p.sentTally, st.Received) {
		if err := p.send(frameStatus, status{Digest: d, Received: st.Received}.encode()); err != nil {
			return err
		}
		p.sentDigest = &d
		p.sentTally = st.Received
	}
	p.updateSynced()
	for _, w := range p.waiters {
		close(w)
	}
	p.waiters = nil
	return nil
}

// sendWhole sends doc as a SNAPSHOT: its signed Save(), for a document
// the peer lacks or whose sync message could not carry its signatures.
func (p *proto) sendWhole(ctx context.Context, doc string) error {
	data, err := p.s.r.SaveSigned(ctx, doc)
	if errors.Is(err, trustsync.ErrDamaged) {
		p.markDamaged(doc, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("save %s: %w", doc, err)
	}
	if len(data) == 0 {
		return nil
	}
	body, err := encodeDocPayload(doc, data)
	if err != nil {
		return err
	}
	if err := p.sendDoc(frameSnapshot, body, doc); err != nil {
		return err
	}
	p.theirDocs[doc] = true
	p.snapSent[doc] = true
	return nil
}

func (p *proto) updateSynced() {
	s := p.s
	synced := p.helloDone && p.peerDigest != nil && p.sentDigest != nil &&
		*p.peerDigest == *p.sentDigest && !p.allDirty && len(p.dirty) == 0
	s.mu.Lock()
	was := s.synced
	s.mu.Unlock()
	if synced == was {
		return
	}
	s.setState(func() { s.synced = synced })
	if synced {
		s.progressDone()
	}
	if synced && s.cfg.hooks.synced != nil {
		s.cfg.hooks.synced(p.remote)
	}
}
