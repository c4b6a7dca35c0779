package sync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// DocDamage names a document that a session leaves out because it is
// damaged on one side, while it syncs every other document.
type DocDamage struct {
	Doc string
	// Remote is true when the document is damaged on the peer's device, as
	// the peer said; false when this device cannot read it.
	Remote bool
	// Reason says what is damaged, on one line.
	Reason string
}

// Damaged returns the documents the session leaves out because they are
// damaged, now: first those this device cannot read, then those the peer
// said it cannot read, each sorted by ID. A damaged document of this device
// is restored when the peer sends its copy (see [crdt.Space.Import]); it
// is then listed by [Session.Restored] instead.
func (s *Session) Damaged() []DocDamage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DocDamage
	for k := range s.damage {
		out = append(out, DocDamage{Doc: k.Doc, Remote: k.Remote, Reason: s.reasons[k]})
	}
	slices.SortFunc(out, func(a, b DocDamage) int { return bySide(a.Remote, b.Remote, a.Doc, b.Doc) })
	return out
}

// Refusals returns the documents left out of the session because a change
// for them was refused, on either side, sorted.
func (s *Session) Refusals() []DocRefusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Collect(maps.Keys(s.refusals))
	slices.SortFunc(out, func(a, b DocRefusal) int { return bySide(a.Remote, b.Remote, a.Doc, b.Doc) })
	return out
}

// bySide orders documents left out of a session: this device's first, then
// the peer's, each by document.
func bySide(aRemote, bRemote bool, aDoc, bDoc string) int {
	if aRemote != bRemote {
		if aRemote {
			return 1
		}
		return -1
	}
	return strings.Compare(aDoc, bDoc)
}

// Restored returns the documents of this device that were damaged and were
// restored from the peer's copy during the session, sorted.
func (s *Session) Restored() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.restored))
}

// markDamaged leaves doc out of the session: this device cannot read it.
// The peer is told at the next flush.
// notApplied sorts out err, from applying the peer's document or sync
// message for doc (what names it): nil when it was applied. A document this
// device cannot take -- damaged beyond what the peer's copy could mend, or
// its history forked from the peer's -- is left out of the session while the
// other documents sync on (leftOut). Checks that cannot run, and a session
// going away, are this device's state, not the peer's data; anything else
// is a refusal of the peer's data.
func (p *proto) notApplied(ctx context.Context, doc, what string, err error) (leftOut bool, _ error) {
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, trustsync.ErrCheckUnavailable):
		return false, fmt.Errorf("%s: %w", what, err)
	case errors.Is(err, trustsync.ErrDamaged) || forkedDoc(err):
		p.theirDocs[doc] = true
		p.markDamaged(doc, err)
		return true, nil
	case pendingDevice(err):
		// Signed by a further device whose certificate has not arrived
		// yet: not a refusal. The session ends and the next one, which
		// sends the space document first, takes it in.
		return false, fmt.Errorf("%s: %w", what, errPending)
	case resent(err):
		// A change set aside earlier lost its signature on this side:
		// not a refusal either. This device forgot it; the session ends
		// and the next one, starting over on both sides, sends it again
		// with its signature.
		return false, fmt.Errorf("%s: %w", what, errResend)
	case errors.Is(err, trustsync.ErrForged):
		p.theirDocs[doc] = true
		return true, p.refuseDoc(doc, err)
	case ctx.Err() != nil:
		return false, ctx.Err()
	}
	return false, fmt.Errorf("%w: %s: %w", errRejected, what, err)
}

// forkedDoc reports whether err refused a document whose history forked
// between the two devices (a [*crdt.ForkError]): like a damaged document, it
// can no longer be exchanged with this peer, and is left out of the session
// while the other documents sync on.
func forkedDoc(err error) bool {
	var fe *crdt.ForkError
	return errors.As(err, &fe)
}

// pendingDevice reports whether err refused a change only because its
// device is not known yet.
func pendingDevice(err error) bool {
	var re *crdt.RefusedChangeError
	return errors.As(err, &re) && re.Unknown
}

// resent reports whether err refused a change only because the signature
// that came with it, earlier, is no longer at hand on this device.
func resent(err error) bool {
	var re *crdt.RefusedChangeError
	return errors.As(err, &re) && re.Resend
}

// refuseDoc leaves doc out of the rest of the session: the peer sent a
// change for it that this device refuses (crdt recorded it). The peer is
// told why, and the other documents sync on. A change by a device whose
// certificate is still on its way is tried again in a later session.
func (p *proto) refuseDoc(doc string, err error) error {
	var re *crdt.RefusedChangeError
	reason := err.Error()
	if errors.As(err, &re) {
		reason = re.Reason
	}
	reason = printable(truncate(reason, maxString-8))
	delete(p.myHeads, doc)
	delete(p.inStep, doc)
	delete(p.pending, doc)
	if _, was := p.refused[doc]; was {
		return nil
	}
	p.refused[doc] = reason
	s := p.s
	s.setState(func() { s.refusals[DocRefusal{Doc: doc, Reason: reason}] = true })
	s.log.Info("refused a change from the device; syncing the other documents", "doc", doc, "device", p.remote.DeviceID, "why", reason)
	if s.cfg.hooks.refused != nil {
		s.cfg.hooks.refused(p.remote, DocRefusal{Doc: doc, Reason: reason})
	}
	return p.send(frameRefused, damagedNote{Doc: doc, Reason: reason}.encode())
}

// DocRefusal names a document left out of a session because a change for
// it was refused: by this device (Remote false) or by the peer.
type DocRefusal struct {
	Doc    string
	Remote bool
	Reason string
}

func (p *proto) markDamaged(doc string, err error) {
	reason := printable(truncate(err.Error(), maxString-8))
	delete(p.myHeads, doc)
	delete(p.inStep, doc)
	delete(p.pending, doc)
	if p.damaged[doc] == reason {
		return
	}
	p.damaged[doc] = reason
	s := p.s
	s.log.Info("a document is damaged on this device; syncing the others", "doc", doc, "err", reason)
	key := DocDamage{Doc: doc}
	s.setState(func() {
		s.damage[key] = true
		s.reasons[key] = reason
	})
	if !p.helloDone {
		return // told after the hello exchange
	}
	// Told at once, so that the peer hears of it even when its copy mends
	// it right away.
	p.announce()
	if s.cfg.hooks.damaged != nil {
		s.cfg.hooks.damaged(p.remote, DocDamage{Doc: doc, Reason: reason})
	}
}

// healed takes doc back into the session: it can be read again, restored
// from the peer's copy (restored) or otherwise.
func (p *proto) healed(doc string, restored bool) {
	_, was := p.damaged[doc]
	delete(p.damaged, doc)
	p.pending[doc] = true
	p.dirty[doc] = true
	s := p.s
	s.setState(func() {
		delete(s.damage, DocDamage{Doc: doc})
		delete(s.reasons, DocDamage{Doc: doc})
		if restored {
			s.restored[doc] = true
		}
	})
	if !was && !restored {
		return
	}
	if p.helloDone {
		p.announce()
	}
	s.log.Info("a damaged document of this device was restored from the peer's copy", "doc", doc, "device", p.remote.DeviceID)
	if restored && s.cfg.hooks.restored != nil {
		s.cfg.hooks.restored(p.remote, doc)
	}
}

// theirDamage takes in the peer's word on a document it cannot read (or can
// again, when the reason is empty).
func (p *proto) theirDamage(n damagedNote) {
	s := p.s
	key := DocDamage{Doc: n.Doc, Remote: true}
	if n.Reason == "" {
		if _, ok := p.theirDamaged[n.Doc]; !ok {
			return
		}
		delete(p.theirDamaged, n.Doc)
		p.theirDocs[n.Doc] = true
		s.setState(func() {
			delete(s.damage, key)
			delete(s.reasons, key)
		})
		s.log.Debug("the peer can read a document again", "doc", n.Doc, "device", p.remote.DeviceID)
		// The sync states may think messages are still in flight for it:
		// restart them, as the watchdog does.
		p.peer.Reset()
		clear(p.inStep)
		for d := range p.theirDocs {
			p.pending[d] = true
		}
		p.allDirty = true
		return
	}
	first := p.theirDamaged[n.Doc] == ""
	p.theirDamaged[n.Doc] = n.Reason
	delete(p.inStep, n.Doc)
	if !p.snapSent[n.Doc] && len(p.myHeads[n.Doc]) > 0 {
		// Send this device's whole copy: importing it restores theirs.
		delete(p.theirDocs, n.Doc)
		p.pending[n.Doc] = true
	}
	s.setState(func() {
		s.damage[key] = true
		s.reasons[key] = n.Reason
	})
	if first {
		s.log.Info("a document is damaged on the peer's device; syncing the others", "doc", n.Doc, "device", p.remote.DeviceID, "err", n.Reason)
		if s.cfg.hooks.damaged != nil {
			s.cfg.hooks.damaged(p.remote, DocDamage{Doc: n.Doc, Remote: true, Reason: n.Reason})
		}
	}
}
