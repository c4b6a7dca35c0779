package crdt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/trustsync/trustsync/internal/stagetrace"
	"slices"
	"sync"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
	"github.com/trustsync/trustsync/crdt/internal/sandbox"
)

// Peer holds the Automerge sync states of a space with one remote device, one
// per document, persisted in the store so a reconnect sends only what is
// missing. Its methods are safe for concurrent use.
type Peer struct {
	s      *Space
	device string

	mu     sync.Mutex // held for every use of a sync state; taken before a document's mutex
	states map[string]*peerDoc
}

// peerDoc is the sync state of one document, bound to one loaded instance of
// that document (gen). When the document is dropped or reloaded, the state is
// re-created from what was persisted.
type peerDoc struct {
	ls  *lockedSyncState
	gen uint64

	// theirHeads are the heads advertised by the last message received
	// from the peer, and answered tells whether a message was generated
	// since. Together they detect a stalled sync state (see unstall).
	theirHeads []automerge.ChangeHash
	answered   bool
}

// stalled tells whether automerge-rs 0.5.0 keeps this state silent by
// mistake, d being its document: the last message from the peer advertised
// a change d lacks, and nothing was sent since. A correct core answers such
// a message at least with a request for that change; this one stays silent
// while a message it sent earlier is marked in flight and the peer's reply
// did not name only changes it knows, which happens when a change committed
// between receiving a message and answering it hides as a false positive in
// the other side's Bloom filter (automerge issue 702). Both sides then wait
// for each other for good. docs/DESIGN.md tells the story.
func (pd *peerDoc) stalled(d *automerge.Doc) bool {
	if pd.answered {
		return false
	}
	for _, h := range pd.theirHeads {
		if c, err := d.Change(h); err != nil || c == nil {
			return true
		}
	}
	return false
}

// Peer returns the sync state of this space with one remote device, loading
// what was persisted for it. Calls with the same device ID return the same
// Peer.
func (s *Space) Peer(deviceID string) *Peer { return s.peers.get(s, deviceID) }

// peerSet is the exchange state of a space: the [Peer] of each remote
// device it syncs with. Its mutex is never held while taking another.
type peerSet struct {
	mu     sync.Mutex
	closed bool // the space is closed: Peers made now are not kept
	peers  map[string]*Peer
}

// get returns the Peer of s with deviceID, making it on first use.
func (ps *peerSet) get(s *Space, deviceID string) *Peer {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.peers[deviceID]
	if p == nil {
		p = &Peer{s: s, device: deviceID, states: map[string]*peerDoc{}}
		if !ps.closed {
			if ps.peers == nil {
				ps.peers = map[string]*Peer{}
			}
			ps.peers[deviceID] = p
		}
	}
	return p
}

// close forgets every Peer; those made afterwards are not kept.
func (ps *peerSet) close() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.closed = true
	ps.peers = nil
}

func syncKey(device, doc string) string { return "sync/" + device + "/" + doc }

// state returns the sync state of doc bound to the current instance of the
// document, re-creating it from the persisted bytes when needed. p.mu and
// ds.mu must be held and ds.doc loaded.
func (p *Peer) state(tx trustsync.ReadTx, ds *docState) (*lockedSyncState, error) {
	if pd := p.states[ds.id]; pd != nil && pd.gen == ds.gen && pd.ls.doc == ds.doc {
		return pd.ls, nil
	}
	raw, err := tx.Get(syncKey(p.device, ds.id))
	if err != nil && !errors.Is(err, trustsync.ErrNotFound) {
		return nil, err
	}
	ls, err := newLockedSyncState(ds.doc, raw)
	if err != nil {
		// A sync state that cannot be decoded only costs a longer sync.
		p.s.log.Warn("sync state unreadable; starting afresh", "peer", p.device, "doc", ds.id, "err", err)
		ls, _ = newLockedSyncState(ds.doc, nil)
	}
	p.states[ds.id] = &peerDoc{ls: ls, gen: ds.gen}
	return ls, nil
}

// GenerateMessage returns the next sync message for doc, or ok == false when
// there is nothing to send. It first catches up with what other processes
// stored. For a document this device does not have, the message asks the
// peer for all of it. When the bundled Automerge core would stay silent
// although the peer's last message named a change this device lacks (a
// change committed between receiving a message and replying to it can do
// that), the sync state is restarted from its shared heads and its first
// message returned, so that two devices that keep exchanging messages always
// converge.
//
// The message carries, per author, the signatures that cover its changes
// (one or a few). When it cannot (see [ErrSendWhole]), GenerateMessage
// returns an error wrapping ErrSendWhole: send the document whole
// ([Space.SaveSigned]) instead. It does the same, with [ErrWholeSmaller],
// when a large message would take more bytes on the wire than the whole
// document.
func (p *Peer) GenerateMessage(ctx context.Context, doc string) (msg []byte, ok bool, err error) {
	if err := p.s.check(); err != nil {
		return nil, false, err
	}
	if err := validDocID(doc); err != nil {
		return nil, false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ds := p.s.docState(doc)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	var ls *lockedSyncState
	err = p.s.st.View(ctx, func(tx trustsync.ReadTx) error {
		if _, err := p.s.catchUp(tx, ds, true); err != nil {
			return err
		}
		ls, err = p.state(tx, ds)
		return err
	})
	if err != nil {
		ds.drop()
		delete(p.states, doc)
		return nil, false, fmt.Errorf("sync %q: %w", doc, err)
	}
	p.s.noteSeen(doc, ds.seq)
	pd := p.states[doc]
	msg, chs, ok := ls.generateWith()
	if !ok && pd.stalled(ds.doc) {
		msg, chs, ok = p.unstall(ds, pd)
	}
	if !ok {
		return nil, false, nil
	}
	pd.answered = true
	if wholeSmaller(ds, msg) {
		// Not sent: the sync state, which counts its changes as sent,
		// starts over from what was persisted (whole.go).
		delete(p.states, doc)
		p.s.log.Debug("the whole document is smaller than the sync message; sending it whole", "peer", p.device, "doc", doc, "changes", len(chs))
		return nil, false, fmt.Errorf("sync %q: %w", doc, ErrWholeSmaller)
	}
	// The changes travel with the signatures that cover them (cover.go).
	var sigs map[automerge.ChangeHash][]byte
	if err := p.s.st.View(ctx, func(tx trustsync.ReadTx) error {
		var err error
		sigs, err = messageSigs(tx, ds.doc, chs, append(slices.Clone(pd.theirHeads), sharedHeadsOf(pd.ls.save())...))
		return err
	}); err != nil {
		if errors.Is(err, ErrSendWhole) {
			// The message is not sent: the sync state, which counts its
			// changes as sent, starts over from what was persisted.
			delete(p.states, doc)
			p.s.log.Debug("a sync message could not carry its signatures; sending the document whole", "peer", p.device, "doc", doc)
		}
		return nil, false, fmt.Errorf("sync %q: %w", doc, err)
	}
	return wrapSigned(msg, sigs), true, nil
}

// unstall replaces a stalled sync state (see peerDoc.stalled) with a fresh
// one holding only its shared heads, what is persisted of it, and generates
// that state's first message. The message carries a new Bloom filter of this
// device's changes since the shared heads, and no message is in flight any
// more, so the peer's answer (its changes the filter lacks, or its heads)
// restarts the exchange: the behaviour of the fixed core (automerge PR 703),
// which clears the in-flight mark on every message received, at the cost of
// about one more round trip. p.mu and ds.mu must be held.
func (p *Peer) unstall(ds *docState, pd *peerDoc) ([]byte, []*automerge.Change, bool) {
	ls, err := newLockedSyncState(ds.doc, pd.ls.save())
	if err != nil {
		ls, _ = newLockedSyncState(ds.doc, nil)
	}
	p.s.log.Debug("sync state stalled; restarting it from its shared heads", "peer", p.device, "doc", ds.id)
	pd.ls, pd.theirHeads = ls, nil
	return ls.generateWith()
}

// ReceiveMessage applies a sync message for doc from this peer and stores the
// result durably together with the updated sync state: the new changes as a
// chunk, their history entries and the view rows of the items they touched.
func (p *Peer) ReceiveMessage(ctx context.Context, doc string, msg []byte) (Received, error) {
	if err := p.s.check(); err != nil {
		return Received{}, err
	}
	if err := validDocID(doc); err != nil {
		return Received{}, err
	}
	msg, sigs, err := unwrapSigned(msg)
	if errors.Is(err, errUnsigned) {
		return Received{}, fmt.Errorf("sync %q: the sync message from %s carries no signatures (does it run an older trustsync?): %w", doc, short(p.device), trustsync.ErrInvalid)
	}
	if err != nil {
		return Received{}, fmt.Errorf("sync %q: %v: %w", doc, err, trustsync.ErrInvalid)
	}
	if len(msg) == 0 {
		return Received{}, fmt.Errorf("sync %q: empty sync message: %w", doc, trustsync.ErrInvalid)
	}
	// What the message could cost is known from its bytes: a change with
	// too many operations is refused here, in microseconds, before the
	// sandbox child spends memory and time applying it.
	carried, err := precheckMessage(doc, msg)
	if err != nil {
		p.s.noteRefusal(ctx, p.device, err)
		return Received{}, fmt.Errorf("sync %q: %w", doc, err)
	}
	if carried != nil && len(carried) == 0 {
		return p.receiveAck(ctx, doc, msg, sigs)
	}
	stagetrace.Mark("receive")
	p.mu.Lock()
	defer p.mu.Unlock()
	ds := p.s.docState(doc)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	var rec Received
	err = p.s.st.Update(ctx, func(tx trustsync.Tx) error {
		ls, old, err := p.checkAndApply(ctx, tx, ds, msg)
		if err != nil {
			return err
		}
		if rec, err = p.s.absorb(tx, p.s.Self(), ds, old, sigs, carried); err != nil {
			return err
		}
		stagetrace.Mark("absorbed")
		return tx.Put(syncKey(p.device, doc), ls.save())
	})
	stagetrace.Mark("committed")
	if err != nil {
		return Received{}, p.notReceived(ctx, ds, err)
	}
	p.s.noteSeen(doc, ds.seq)
	if rec.Changes > 0 {
		p.s.publish(Event{Doc: doc, Items: rec.Items, Remote: true, From: p.device})
	}
	return rec, nil
}

// Assume records that the peer holds doc at least at heads (hexadecimal
// change hashes), for example after it imported a snapshot of ours that
// carried exactly these heads, or after this device imported the peer's
// snapshot taken at heads it advertised. The document's sync state with the
// peer then starts from these shared heads, as after a completed Automerge
// sync, instead of from nothing: a fresh state would make both sides
// exchange Bloom filters of the whole history, and the sandbox check every
// message of that exchange. Every hash must be a change this device has;
// otherwise Assume does nothing and returns an error wrapping
// trustsync.ErrInvalid. A wrong assumption only costs a longer sync (the
// peer's messages state its real heads, and Automerge sends what they
// lack); nothing here comes from the peer's bytes.
func (p *Peer) Assume(ctx context.Context, doc string, heads []string) error {
	if err := p.s.check(); err != nil {
		return err
	}
	if err := validDocID(doc); err != nil {
		return err
	}
	if len(heads) == 0 {
		return nil
	}
	hs := make([]automerge.ChangeHash, 0, len(heads))
	for _, h := range heads {
		ch, err := automerge.NewChangeHash(h)
		if err != nil {
			return fmt.Errorf("assume %q: head %q: %w", doc, h, trustsync.ErrInvalid)
		}
		hs = append(hs, ch)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ds := p.s.docState(doc)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	err := p.s.st.Update(ctx, func(tx trustsync.Tx) error {
		if _, err := p.s.catchUp(tx, ds, true); err != nil {
			return err
		}
		for _, h := range hs {
			if c, err := ds.doc.Change(h); err != nil || c == nil {
				return fmt.Errorf("head %s is not a change of this document: %w", h, trustsync.ErrInvalid)
			}
		}
		raw := sharedHeadsState(hs)
		ls, err := newLockedSyncState(ds.doc, raw)
		if err != nil {
			return err
		}
		p.states[doc] = &peerDoc{ls: ls, gen: ds.gen}
		return tx.Put(syncKey(p.device, doc), ls.save())
	})
	if err != nil {
		ds.drop()
		delete(p.states, doc)
		return fmt.Errorf("assume %q: %w", doc, err)
	}
	p.s.noteSeen(doc, ds.seq)
	return nil
}

// sharedHeadsState encodes an Automerge sync state whose shared heads are
// hs: the format of SyncState.Save (a type byte 0x43, the number of hashes
// as an unsigned LEB128, then the 32-byte hashes).
func sharedHeadsState(hs []automerge.ChangeHash) []byte {
	b := []byte{0x43}
	b = binary.AppendUvarint(b, uint64(len(hs)))
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}

// sharedHeadsOf reads the shared heads from a saved sync state (see
// sharedHeadsState); nil for bytes of another form.
func sharedHeadsOf(b []byte) []automerge.ChangeHash {
	if checkSyncState(b) != nil {
		return nil
	}
	n, k := binary.Uvarint(b[1:])
	hs := make([]automerge.ChangeHash, n)
	for i := range hs {
		copy(hs[i][:], b[1+k+32*i:])
	}
	return hs
}

// Reset forgets the in-flight part of every sync state, keeping what was
// persisted. Call it on both sides whenever a message between them may have
// been lost (a broken connection, an exchange cut off): Automerge waits for
// an answer to a message in flight, and never sends again a change it
// believes it sent, so a lost message would otherwise keep the two devices
// apart. A stall without a lost message is restarted by GenerateMessage
// itself (docs/DESIGN.md, "Two devices always converge").
func (p *Peer) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.states = map[string]*peerDoc{}
}

// precheckMessage reads a sync message's changes without applying them and
// refuses one that breaks a limit on receipt (crdt/limits.go): too many
// changes, or a change with too many operations or too large a value.
// Bytes it cannot read are left to the sandbox child, which decides.
// It returns the changes the message carries (an empty, non-nil set for
// none), nil when it cannot read them.
func precheckMessage(doc string, msg []byte) (map[automerge.ChangeHash]bool, error) {
	sm, err := amwire.ParseSyncMessage(msg, amwire.Limits{MaxOps: MaxChangeOps, OpsPerChange: true,
		MaxChanges: MaxReceivedChanges, MaxValueBytes: MaxValueBytes, MaxDecompressed: 256 << 20})
	if err == nil {
		carried := make(map[automerge.ChangeHash]bool, len(sm.Changes))
		for _, c := range sm.Changes {
			carried[automerge.ChangeHash(c.Hash)] = true
		}
		return carried, nil
	}
	if !errors.Is(err, amwire.ErrLimit) {
		return nil, nil
	}
	return nil, &RefusedChangeError{Doc: doc, Reason: fmt.Sprintf("it is larger than a change may be (%v)", err)}
}

// receiveAck is ReceiveMessage for a message that carries no changes (the
// peer's heads, what it has and needs: an acknowledgement, most often). It
// is checked in the sandbox like any other, but only reads the store: the
// document cannot change, and the sync state it advances is persisted with
// the next message that brings changes. A sync state persisted before
// acknowledgements only costs, after a restart, a message naming changes
// the peer already has.
func (p *Peer) receiveAck(ctx context.Context, doc string, msg []byte, sigs map[automerge.ChangeHash][]byte) (Received, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ds := p.s.docState(doc)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	err := p.s.st.View(ctx, func(tx trustsync.ReadTx) error {
		_, old, err := p.checkAndApply(ctx, tx, ds, msg)
		if err != nil {
			return err
		}
		if !equalHeads(old, ds.doc.Heads()) {
			// Cannot happen with no changes; nothing of it is stored.
			return fmt.Errorf("bad sync message from %s: a message without changes changed the document: %w", short(p.device), trustsync.ErrInvalid)
		}
		ds.keepEarly(sigs, nil)
		return nil
	})
	if err != nil {
		return Received{}, p.notReceived(ctx, ds, err)
	}
	p.s.noteSeen(doc, ds.seq)
	return Received{Doc: doc}, nil
}

// checkAndApply brings ds up to date with the store, has the sandbox child
// survive msg on its mirror of ds, then applies msg to ds.doc with the
// peer's sync state, which it returns with the document's heads from
// before. p.mu and ds.mu must be held, inside a View or an Update; on
// error the caller drops ds (notReceived).
func (p *Peer) checkAndApply(ctx context.Context, tx trustsync.ReadTx, ds *docState, msg []byte) (*lockedSyncState, []automerge.ChangeHash, error) {
	if _, err := p.s.catchUp(tx, ds, true); err != nil {
		return nil, nil, err
	}
	ls, err := p.state(tx, ds)
	if err != nil {
		return nil, nil, err
	}
	stagetrace.Mark("state")
	// The message comes from a peer: it reaches ds.doc only after a
	// disposable child process survived applying it to its mirror.
	if err := p.s.vet(ctx, "a sync message from "+short(p.device), func(c *sandbox.Checker) error {
		return c.CheckMessage(ctx, ds.id, ds.doc, ls.save(), msg)
	}); err != nil {
		if !errors.Is(err, sandbox.ErrRejected) {
			return nil, nil, err
		}
		if fe := forked(ds.id, p.s.id.DeviceID, err); fe != nil {
			return nil, nil, fe
		}
		return nil, nil, fmt.Errorf("bad sync message from %s: %v: %w", short(p.device), err, trustsync.ErrInvalid)
	}
	stagetrace.Mark("checked")
	old := ds.doc.Heads()
	theirs, err := ls.receive(p.s.mem, msg)
	if err != nil {
		return nil, nil, fmt.Errorf("bad sync message from %s: %v: %w", short(p.device), err, trustsync.ErrInvalid)
	}
	pd := p.states[ds.id]
	pd.theirHeads, pd.answered = theirs, false
	stagetrace.Mark("applied")
	return ls, old, nil
}

// notReceived forgets what memory holds of ds after a failed receive (the
// store holds nothing of it), records the refusal and returns err for the
// caller. p.mu and ds.mu must be held.
func (p *Peer) notReceived(ctx context.Context, ds *docState, err error) error {
	ds.drop()
	delete(p.states, ds.id)
	p.s.noteRefusal(ctx, p.device, err)
	return fmt.Errorf("sync %q: %w", ds.id, err)
}
