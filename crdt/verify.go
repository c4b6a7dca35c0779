package crdt

import (
	"crypto/ed25519"
	"fmt"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/internal/stagetrace"
)

// RefusedChangeError is returned when a change received from another device
// fails its signature or a write rule. Nothing of the sync message or
// document that carried it is applied.
type RefusedChangeError struct {
	Doc    string // the document
	Change string // the change's hash
	Author string // the device named as its author
	Reason string // why, in a few words ("agreement written in Alex's name")
	// Unknown is set when the author is not a device this device knows
	// yet: a further device whose certificate is in a space document
	// change still on its way. The same change is accepted once the space
	// document has synced; a session tries again then.
	Unknown bool
	// Resend is set when the change lacking a covering signature did not
	// come in the refused sync message: Automerge had set it aside earlier
	// until a change it depends on arrived, and the signature that came
	// with it is no longer at hand. Nothing of it is kept (the document is
	// read again from the store, which never holds set-aside changes), so
	// the sender sends it again, with its signature, at the next sync.
	Resend bool
}

func (e *RefusedChangeError) Error() string {
	return fmt.Sprintf("refused a change to %q made as device %s: %s", e.Doc, short(e.Author), e.Reason)
}

// Unwrap returns trustsync.ErrForged.
func (e *RefusedChangeError) Unwrap() error { return trustsync.ErrForged }

// verifyReceived checks every change that arrived in ds.doc since old
// (from a peer, with the signatures sigs) before any of it is stored: each
// must be covered by a valid signature of its author's known device on
// itself or on one of the new changes descending from it (cover.go), or be
// an unsigned change from before signing that a seal covers. The
// signatures are those of the bundle and those kept from earlier bundles
// for changes Automerge set aside until their dependencies arrived. It
// stores the signatures it checked, for passing them on. Then each signed
// change must keep the write rules (rules.go); what is recorded of the
// changes comes back as a receipt (receipt.go). carried lists the changes
// the peer's bytes held, nil for all (see RefusedChangeError.Resend).
func (s *Space) verifyReceived(tx trustsync.Tx, self Identity, ds *docState, chs []*automerge.Change, sigs map[automerge.ChangeHash][]byte, carried map[automerge.ChangeHash]bool) (*receipt, error) {
	var root *automerge.Map
	if ds.id == SpaceDoc {
		root = ds.doc.RootMap()
	}
	stagetrace.Mark("verify.start")
	t, err := s.trustOf(tx, self, root)
	if err != nil {
		return nil, err
	}
	stagetrace.Mark("verify.trust")
	applied := make(map[automerge.ChangeHash]bool, len(chs))
	for _, c := range chs {
		applied[c.Hash()] = true
	}
	legacy := map[automerge.ChangeHash]bool{}
	if checkSignatures {
		if legacy, err = s.checkCoverage(tx, ds, t, chs, sigs, carried); err != nil {
			return nil, err
		}
	}
	ds.keepEarly(sigs, applied)
	stagetrace.Mark("verify.sigs")
	return s.checkWrites(tx, ds, t, chs, legacy)
}

// checkCoverage checks the signatures of the new changes chs and that they
// cover every one (see verifyReceived), stores them, and returns the
// unsigned changes from before signing that a seal covers.
func (s *Space) checkCoverage(tx trustsync.Tx, ds *docState, t *trust, chs []*automerge.Change, sigs map[automerge.ChangeHash][]byte, carried map[automerge.ChangeHash]bool) (map[automerge.ChangeHash]bool, error) {
	cs := newChangeSet(chs)
	refuse := func(i int, why string) *RefusedChangeError {
		return &RefusedChangeError{Doc: ds.id, Change: cs.hash[i].String(), Author: cs.actor[i], Reason: why}
	}
	signed := make([]bool, len(chs))
	for i, h := range cs.hash {
		sig := sigs[h]
		if sig == nil {
			sig = ds.early[h]
		}
		if sig == nil {
			continue
		}
		dev, ok := t.devices[cs.actor[i]]
		if !ok {
			err := refuse(i, "it was signed by a device that is not a verified device of either partner")
			err.Unknown = true
			return nil, err
		}
		if !ed25519.Verify(dev.Key, changeSigInput(ds.id, h), sig) {
			return nil, refuse(i, "its signature does not match the device's key")
		}
		if err := tx.Put(sigMeta+h.String(), sig); err != nil {
			return nil, err
		}
		delete(ds.early, h)
		signed[i] = true
	}
	covered, _ := cs.cover(signed)
	var sealed map[automerge.ChangeHash]bool
	legacy := map[automerge.ChangeHash]bool{}
	for i, ok := range covered {
		if ok {
			continue
		}
		if sealed == nil {
			sealed = legacyCovered(ds, t)
		}
		if !sealed[cs.hash[i]] {
			err := refuse(i, "no signature of its device covers it")
			// A partner's change set aside earlier, whose signature
			// this device no longer holds: not the sender's doing. (A
			// device never sets aside a change of its own honestly.)
			err.Resend = carried != nil && !carried[cs.hash[i]] && cs.actor[i] != t.self.DeviceID
			return nil, err
		}
		legacy[cs.hash[i]] = true
	}
	return legacy, nil
}

// keepEarly keeps the signatures of changes Automerge set aside until
// their dependencies arrive (those neither in applied nor already in the
// document), in memory, as those changes are, for when they are applied.
func (ds *docState) keepEarly(sigs map[automerge.ChangeHash][]byte, applied map[automerge.ChangeHash]bool) {
	for h, sig := range sigs {
		if applied[h] || len(ds.early) >= maxEarlySigs {
			continue
		}
		if c, err := ds.doc.Change(h); err == nil && c != nil {
			continue
		}
		if ds.early == nil {
			ds.early = map[automerge.ChangeHash][]byte{}
		}
		ds.early[h] = sig
	}
}

// maxEarlySigs bounds the signatures kept for changes that arrived before
// their dependencies, per document.
const maxEarlySigs = 100_000

// checkSignatures is a variable only so that BenchmarkSignedSync can measure
// what the signature checks cost (the write rules still run); never
// changed otherwise.
var checkSignatures = true

// legacyCovered returns the changes of ds.doc that a seal covers for
// their author: the seal's heads for this document and their ancestors,
// when the sealing device belongs to the author's member or to mine.
func legacyCovered(ds *docState, t *trust) map[automerge.ChangeHash]bool {
	out := map[automerge.ChangeHash]bool{}
	for _, seal := range t.seals {
		var heads []automerge.ChangeHash
		for _, hs := range seal.Heads[ds.id] {
			h, err := automerge.NewChangeHash(hs)
			if err != nil {
				continue
			}
			if _, err := ds.doc.Change(h); err == nil {
				heads = append(heads, h)
			}
		}
		if len(heads) == 0 {
			continue
		}
		all, err := ds.doc.Changes()
		if err != nil {
			continue
		}
		after, err := ds.doc.Changes(heads...)
		if err != nil {
			continue
		}
		later := make(map[automerge.ChangeHash]bool, len(after))
		for _, c := range after {
			later[c.Hash()] = true
		}
		sealer := t.member(seal.Device)
		for _, c := range all {
			h := c.Hash()
			if later[h] {
				continue
			}
			author := t.member(c.ActorID())
			if sealer == t.self.MemberID || (author != "" && author == sealer) {
				out[h] = true
			}
		}
	}
	return out
}
