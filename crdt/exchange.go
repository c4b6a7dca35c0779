package crdt

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt/internal/sandbox"
	"github.com/trustsync/trustsync/internal/stagetrace"
)

// Heads returns the current heads of a document as hex change hashes, sorted;
// nil for a document this device does not have.
//
// A document not in memory is not loaded when the store holds its heads as
// of its latest chunk (recorded with every chunk stored) and its chunks pass
// their checksums. Otherwise it is loaded, which reports damage as any
// load does, and its heads are recorded for next time: a store written by
// an older trustsync catches up this way.
func (s *Space) Heads(ctx context.Context, doc string) ([]string, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	ds := s.docState(doc)
	ds.mu.Lock()
	cold := ds.doc == nil
	ds.mu.Unlock()
	if cold {
		var heads []string
		var seq int64
		err := s.st.View(ctx, func(tx trustsync.ReadTx) error {
			h, ok, err := tx.Heads(doc)
			if err != nil || !ok {
				return err
			}
			hs, ok := unpackHeads(h.Hashes)
			if !ok || len(hs) == 0 {
				return nil
			}
			// Reading the chunks (no loading) checks their checksums:
			// a damaged document is loaded, and so reported, as before.
			if _, err := tx.Chunks(doc, 0); err != nil {
				if errors.Is(err, trustsync.ErrDamaged) {
					return nil
				}
				return err
			}
			heads, seq = hs, h.Seq
			return nil
		})
		if err != nil {
			return nil, err
		}
		if heads != nil {
			s.noteSeen(doc, seq)
			return heads, nil
		}
	}
	var heads []string
	err := s.loaded(ctx, doc, func(d *automerge.Doc) error {
		if d != nil {
			heads = hexHeads(d.Heads())
		}
		return nil
	})
	if err != nil || !cold || heads == nil {
		return heads, err
	}
	s.recordHeads(ctx, ds)
	return heads, nil
}

// recordHeads records the heads of a document just loaded cold, whose
// store holds none that are current (a home written by an older trustsync),
// so that the next process need not load it. It takes the store's write
// lock once per such document. It is best effort: the heads are only a
// shortcut, and a failure (a busy or read-only store) leaves them to the
// document's next write.
func (s *Space) recordHeads(ctx context.Context, ds *docState) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.doc == nil {
		return
	}
	var caught error
	err := s.st.Update(ctx, func(tx trustsync.Tx) error {
		if _, ok, err := tx.Heads(ds.id); err != nil || ok {
			return err
		}
		// Catching up merges what other processes stored since the
		// load, so the heads are those of the latest chunk.
		if _, caught = s.catchUp(tx, ds, false); caught != nil {
			return caught
		}
		return putHeads(tx, ds)
	})
	if caught != nil {
		ds.drop() // it may hold part of what it read
	}
	if err != nil {
		// What the document merged was committed by others: it stays
		// cached, and its heads are recorded by its next write.
		s.log.Debug("cannot record a document's heads", "doc", ds.id, "err", err)
	}
}

// Save returns the whole document as Automerge bytes (what JavaScript
// Automerge.load reads), or nil for a document this device does not have.
// [Space.SaveSigned] returns it with its changes' signatures, as another
// device needs it.
func (s *Space) Save(ctx context.Context, doc string) ([]byte, error) {
	b, _, err := s.save(ctx, doc, false)
	return b, err
}

// SaveSigned returns the whole document together with the signatures that
// cover its changes (a signed bundle: per device, the signatures of its
// latest changes, which cover its earlier ones), as [Space.Import] on
// another device takes it; nil for a document this device does not have.
func (s *Space) SaveSigned(ctx context.Context, doc string) ([]byte, error) {
	b, sigs, err := s.save(ctx, doc, true)
	if b == nil || err != nil {
		return nil, err
	}
	return wrapSigned(b, sigs), nil
}

// save returns the whole document and, when signed, the signatures that
// cover its changes (cover.go).
func (s *Space) save(ctx context.Context, doc string, signed bool) ([]byte, map[automerge.ChangeHash][]byte, error) {
	var b []byte
	var cs *changeSet
	ds := s.docState(doc)
	err := s.loaded(ctx, doc, func(d *automerge.Doc) error {
		if d == nil {
			return nil
		}
		b = ds.save()
		if signed {
			chs, err := d.Changes()
			if err != nil {
				return err
			}
			cs = newChangeSet(chs)
		}
		return nil
	})
	if err != nil || b == nil || !signed {
		return b, nil, err
	}
	var sigs map[automerge.ChangeHash][]byte
	err = s.st.View(ctx, func(tx trustsync.ReadTx) error {
		var err error
		sigs, _, err = bundleSigs(tx, cs)
		return err
	})
	return b, sigs, err
}

// Import merges a whole saved document from a peer (the bytes of Save) into
// the local one and stores the result durably.
//
// Import is also how a damaged document is restored: when stored chunks of
// doc are damaged, it first sets them aside ([trustsync.Tx.Quarantine]
// keeps their bytes), loads the intact rest, merges the peer's copy into it
// and writes every view row of doc again; Received.Restored counts the
// chunks set aside. What only the damaged chunks held and the peer never
// had stays missing.
func (s *Space) Import(ctx context.Context, doc string, data []byte, from string) (Received, error) {
	if err := s.check(); err != nil {
		return Received{}, err
	}
	if err := validDocID(doc); err != nil {
		return Received{}, err
	}
	if len(data) == 0 {
		return Received{}, fmt.Errorf("import %q: no data: %w", doc, trustsync.ErrInvalid)
	}
	ds := s.docState(doc)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	var rec Received
	err := s.st.Update(ctx, func(tx trustsync.Tx) error {
		var err error
		rec, err = s.importTx(ctx, tx, s.Self(), ds, data)
		return err
	})
	if err != nil {
		ds.drop()
		s.noteRefusal(ctx, from, err)
		return Received{}, err
	}
	if rec.Restored > 0 {
		s.log.Warn("restored a damaged document from a peer's copy", "doc", doc, "from", from, "chunks_set_aside", rec.Restored)
	}
	s.noteSeen(doc, ds.seq)
	if rec.Changes > 0 || rec.Restored > 0 {
		s.publish(Event{Doc: doc, Items: rec.Items, Remote: true, From: from})
	}
	return rec, nil
}

// importTx is Import inside a store transaction. ds.mu must be held; on
// error the caller drops ds. A damaged local document is restored from the
// peer's copy: its damaged chunks are set aside (their bytes are kept) and
// the peer's document is merged into the intact rest; Received.Restored
// counts the chunks set aside.
func (s *Space) importTx(ctx context.Context, tx trustsync.Tx, self Identity, ds *docState, bundle []byte) (Received, error) {
	data, sigs, err := unwrapSigned(bundle)
	if errors.Is(err, errUnsigned) {
		data, sigs = bundle, nil
	} else if err != nil {
		return Received{}, fmt.Errorf("import %q: %v: %w", ds.id, err, trustsync.ErrInvalid)
	}
	if len(data) == 0 {
		return Received{}, fmt.Errorf("import %q: no data: %w", ds.id, trustsync.ErrInvalid)
	}
	restored := 0
	if _, err := s.catchUp(tx, ds, true); err != nil {
		if !errors.Is(err, trustsync.ErrDamaged) {
			return Received{}, err
		}
		ds.drop()
		var aside error
		if restored, aside = s.setAside(ctx, tx, ds.id); aside != nil {
			// Still this device's damage, not the peer's data.
			return Received{}, fmt.Errorf("%w; setting it aside failed: %v", err, aside)
		}
		if _, err := s.catchUp(tx, ds, true); err != nil {
			return Received{}, err
		}
	}
	// The bytes come from a peer: they reach ds.doc only after a
	// disposable child process survived loading them into its mirror.
	what := fmt.Sprintf("the received document %q", ds.id)
	if err := s.vet(ctx, what, func(c *sandbox.Checker) error { return c.CheckImport(ctx, ds.id, ds.doc, data) }); err != nil {
		if !errors.Is(err, sandbox.ErrRejected) {
			return Received{}, fmt.Errorf("import %q: %w", ds.id, err)
		}
		if fe := forked(ds.id, s.id.DeviceID, err); fe != nil {
			return Received{}, fe
		}
		return Received{}, fmt.Errorf("import %q: not a valid Automerge document (%v): %w", ds.id, err, trustsync.ErrInvalid)
	}
	old := ds.doc.Heads()
	if err := loadInto(s.mem, ds.doc, data); err != nil {
		return Received{}, fmt.Errorf("import %q: %w", ds.id, err)
	}
	rec, err := s.absorb(tx, self, ds, old, sigs, nil)
	if err != nil || restored == 0 {
		return rec, err
	}
	// The view rows of a damaged document may be stale or damaged
	// themselves: write every one again.
	root := ds.doc.RootMap()
	refs, err := allRefs(ds.id, root)
	if err != nil {
		return Received{}, err
	}
	rec.Restored = restored
	if err := putViews(tx, ds.id, root, refs); err != nil {
		return Received{}, err
	}
	// Setting chunks aside forgot the document's heads; when nothing new
	// was stored they are those of its intact chunks.
	return rec, putHeads(tx, ds)
}

// setAside moves the damaged chunks of doc out of the document, into the
// store's quarantine ([trustsync.Tx.Quarantine] keeps their bytes), so that
// the intact ones load: chunks failing their checksum, and chunks with a
// valid checksum that Automerge (or the sandbox child) cannot load. It
// returns how many it set aside. The cached document must be dropped.
func (s *Space) setAside(ctx context.Context, tx trustsync.Tx, doc string) (int, error) {
	chunks, err := tx.Chunks(doc, 0)
	var bad []int64
	if err != nil {
		var dc interface{ DamagedSeqs() []int64 }
		if !errors.As(err, &dc) {
			return 0, damaged(fmt.Sprintf("document %q", doc), err)
		}
		bad = append(bad, dc.DamagedSeqs()...)
	}
	more, err := s.undecodable(doc, chunks)
	if err != nil {
		return 0, err
	}
	bad = append(bad, more...)
	for _, seq := range bad {
		if err := tx.Quarantine(seq); err != nil {
			return 0, fmt.Errorf("set aside chunk %d of document %q: %w", seq, doc, err)
		}
	}
	return len(bad), nil
}

// undecodable returns the chunks, in order, that cannot be loaded on top of
// the loadable ones before them. When the sandbox child cannot check them,
// it returns that error and no verdict: a chunk is set aside only when it
// was found bad, never because the check could not run.
func (s *Space) undecodable(doc string, chunks []trustsync.Chunk) ([]int64, error) {
	vet := func(chunks []trustsync.Chunk) (bool, error) {
		err := s.vetStored(doc, nil, chunks)
		if err != nil && !errors.Is(err, trustsync.ErrDamaged) {
			return false, err
		}
		return err == nil, nil
	}
	vetted, err := vet(chunks)
	if err != nil {
		return nil, err
	}
	var (
		ok  []trustsync.Chunk
		bad []int64
		d   *automerge.Doc
	)
	for _, c := range chunks {
		if !vetted {
			good, err := vet(append(slices.Clone(ok), c))
			if err != nil {
				return nil, err
			}
			if !good {
				bad = append(bad, c.Seq)
				continue
			}
		}
		var err error
		if d == nil {
			d, err = loadDoc(s.mem, c.Data)
		} else {
			err = loadInto(s.mem, d, c.Data)
		}
		if err != nil {
			bad = append(bad, c.Seq)
			continue
		}
		ok = append(ok, c)
	}
	return bad, nil
}

// absorb stores the changes that arrived in ds.doc since the heads old (from
// a peer): a chunk, history entries and the view rows of the items their
// operations touch. carried lists the changes the peer's bytes held (nil:
// all of them; the others were set aside earlier, see verifyReceived).
// ds.mu must be held, inside an Update.
func (s *Space) absorb(tx trustsync.Tx, self Identity, ds *docState, old []automerge.ChangeHash, sigs map[automerge.ChangeHash][]byte, carried map[automerge.ChangeHash]bool) (Received, error) {
	rec := Received{Doc: ds.id}
	if equalHeads(old, ds.doc.Heads()) {
		ds.keepEarly(sigs, nil)
		return rec, nil
	}
	chs, err := ds.doc.Changes(old...)
	if err != nil {
		return rec, err
	}
	rc, err := s.verifyReceived(tx, self, ds, chs, sigs, carried)
	if err != nil {
		return rec, err
	}
	stagetrace.Mark("verified")
	// Store exactly the new changes. SaveIncremental cannot be used: the
	// guarded load that brought them in (Import) has already consumed it.
	// It is called and discarded so that the next local write's chunk
	// does not repeat them.
	ds.doc.SaveIncremental()
	chunk := automerge.SaveChanges(chs)
	seq, err := tx.AppendChunk(ds.id, chunk)
	if err != nil {
		return rec, err
	}
	ds.seq = seq
	ds.note(trustsync.Chunk{Data: chunk})
	// What is recorded comes from the operations, not from the messages
	// (receipt.go).
	if err := tx.AddHistory(rc.entries...); err != nil {
		return rec, err
	}
	root := ds.doc.RootMap()
	list, err := rc.list(ds.id, root)
	if err != nil {
		return rec, err
	}
	stagetrace.Mark("history")
	if err := putViews(tx, ds.id, root, list); err != nil {
		return rec, err
	}
	stagetrace.Mark("views")
	if ds.id == QuestionsDoc {
		// Answers the received changes made revealable (question.go).
		if err := s.revealReceived(tx, ds); err != nil {
			return rec, err
		}
	}
	rec.Changes = len(chs)
	rec.Items = list
	sortRefs(rec.Items)
	if err := s.maybeCompact(tx, ds); err != nil {
		return rec, err
	}
	return rec, putHeads(tx, ds)
}
