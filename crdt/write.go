package crdt

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// edit describes one committed change: its message and the view items it
// touched.
type edit struct {
	action  string
	kind    string
	item    string
	goal    string // for steps: the goal holding the step
	summary string
	touched []ItemRef
}

// errNoChange is returned by an edit function when the document already
// holds what the edit asks for; nothing is committed.
var errNoChange = errors.New("no change")

// editFunc changes a document. It must only touch the fields it changes.
type editFunc func(d *automerge.Doc, root *automerge.Map) (edit, error)

// readOnly returns an error wrapping ErrReadOnly when doc was written by a
// newer major schema than this build's.
func readOnly(doc string, root *automerge.Map) error {
	major, ok := getInt(root, "schema")
	if ok && major > SchemaMajor {
		return fmt.Errorf("document %q uses schema version %d and this trustsync understands up to %d; upgrade trustsync to change it: %w",
			doc, major, SchemaMajor, trustsync.ErrReadOnly)
	}
	return nil
}

// docKind is the kind value written at the root of a document.
func docKind(doc string) string {
	if strings.HasPrefix(doc, "checkins/") {
		return "checkins"
	}
	return doc
}

// writeTx runs one edit inside a store transaction: catch up, check the
// schema, edit, commit, store the chunk, the view rows and the history
// entry, and compact. ds.mu must be held; on error the caller drops ds.
func (s *Space) writeTx(tx trustsync.Tx, ds *docState, at time.Time, fn editFunc) (edit, error) {
	if _, err := s.catchUp(tx, ds, true); err != nil {
		return edit{}, err
	}
	d := ds.doc
	root := d.RootMap()
	if err := readOnly(ds.id, root); err != nil {
		return edit{}, err
	}
	if getValue(root, "schema") == nil {
		if err := setInt(root, "schema", SchemaMajor); err != nil {
			return edit{}, err
		}
		if err := setInt(root, "schema_minor", SchemaMinor); err != nil {
			return edit{}, err
		}
		if err := root.Set("kind", docKind(ds.id)); err != nil {
			return edit{}, err
		}
	}
	e, err := fn(d, root)
	if err != nil {
		return edit{}, err
	}
	msg := e.message()
	hash, err := d.Commit(msg, automerge.CommitOptions{Time: &at})
	if err != nil {
		return edit{}, fmt.Errorf("commit: %w", err)
	}
	if err := s.signChange(tx, ds.id, hash); err != nil {
		return edit{}, err
	}
	if err := s.storeChunk(tx, ds); err != nil {
		return edit{}, err
	}
	if err := putViews(tx, ds.id, root, e.touched); err != nil {
		return edit{}, err
	}
	if err := tx.AddHistory(trustsync.HistoryEntry{
		Hash: hash.String(), Doc: ds.id, Actor: s.id.DeviceID, At: time.UnixMilli(at.UnixMilli()).UTC(), Message: msg,
	}); err != nil {
		return edit{}, err
	}
	if err := s.maybeCompact(tx, ds); err != nil {
		return edit{}, err
	}
	return e, putHeads(tx, ds)
}

// putHeads records the heads of ds.doc as of its latest chunk ds.seq, in
// the transaction that stored that chunk, so that [Space.Heads] can answer
// without loading the document. ds.mu must be held.
func putHeads(tx trustsync.Tx, ds *docState) error {
	if ds.doc == nil || ds.seq == 0 {
		return nil
	}
	return tx.PutHeads(ds.id, trustsync.DocHeads{Seq: ds.seq, Hashes: packHeads(ds.doc.Heads())})
}

// packHeads is the form the store keeps heads in: sorted hashes,
// concatenated.
func packHeads(hs []automerge.ChangeHash) []byte {
	hs = slices.Clone(hs)
	slices.SortFunc(hs, func(a, b automerge.ChangeHash) int { return bytes.Compare(a[:], b[:]) })
	out := make([]byte, 0, len(hs)*len(automerge.ChangeHash{}))
	for _, h := range hs {
		out = append(out, h[:]...)
	}
	return out
}

// unpackHeads reads what packHeads wrote, as sorted hex hashes; false for
// bytes it did not write.
func unpackHeads(b []byte) ([]string, bool) {
	n := len(automerge.ChangeHash{})
	if len(b)%n != 0 {
		return nil, false
	}
	out := make([]string, 0, len(b)/n)
	for i := 0; i < len(b); i += n {
		out = append(out, hex.EncodeToString(b[i:i+n]))
	}
	if !slices.IsSorted(out) {
		return nil, false
	}
	return out, true
}

// storeChunk appends the changes made since the last save as a new chunk.
func (s *Space) storeChunk(tx trustsync.Tx, ds *docState) error {
	chunk := ds.doc.SaveIncremental()
	if len(chunk) == 0 {
		return nil
	}
	seq, err := tx.AppendChunk(ds.id, chunk)
	if err != nil {
		return err
	}
	ds.seq = seq
	ds.note(trustsync.Chunk{Data: chunk})
	return nil
}

// compactShare is how large a document's incremental chunks may grow, as a
// share of its snapshot, before it is compacted: 1/compactShare. An
// incremental chunk repeats what a snapshot compresses (every change's
// actor, time, message and the full text it inserts), so a chunk holding
// one check-in is about four times what that check-in adds to the
// snapshot. Compacting when the chunks reach a quarter of the snapshot
// keeps a document's stored bytes under 1.25 times its Save() plus one
// chunk, small documents included (a month of check-ins never collects 64
// chunks). The cost is one Save() per compaction; since the chunks to
// collect grow with the snapshot, the number of compactions grows only
// logarithmically with the number of items added. BENCHMARKS.md compares
// shares. A variable only so that BenchmarkCompactionPolicy can compare;
// never changed otherwise. Zero turns the rule off (compactAfter alone).
var compactShare = 4

// needsCompact tells whether ds should be compacted now: after compactAfter
// incremental chunks, or once they hold more than 1/compactShare of the
// snapshot's bytes (at once for a document without a snapshot).
func (s *Space) needsCompact(ds *docState) bool {
	if ds.incr == 0 {
		return false
	}
	return ds.incr >= s.compactAfter || (compactShare > 0 && ds.incrBytes*compactShare > ds.snapBytes)
}

// maybeCompact replaces a document's chunks with one snapshot when
// needsCompact says so.
func (s *Space) maybeCompact(tx trustsync.Tx, ds *docState) error {
	if !s.needsCompact(ds) {
		return nil
	}
	snap := saveApplied(ds.doc)
	seq, err := tx.Compact(ds.id, snap, ds.seq)
	if err != nil {
		return fmt.Errorf("compact %q: %w", ds.id, err)
	}
	s.log.Debug("compacted document", "doc", ds.id, "chunks", ds.incr, "chunk_bytes", ds.incrBytes, "snapshot_bytes", len(snap))
	ds.seq = seq
	ds.note(trustsync.Chunk{Snapshot: true, Data: snap})
	return nil
}

// write runs one local edit of doc durably and publishes its event.
func (s *Space) write(ctx context.Context, doc string, fn editFunc) (edit, error) {
	if err := s.check(); err != nil {
		return edit{}, err
	}
	ds := s.docState(doc)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	// Load the document before taking the store's write lock: a cold load
	// has the sandbox child check the stored chunks first (vetStored),
	// which must not keep other processes waiting.
	if ds.doc == nil {
		if err := s.st.View(ctx, func(tx trustsync.ReadTx) error {
			_, err := s.catchUp(tx, ds, true)
			return err
		}); err != nil {
			ds.drop()
			return edit{}, err
		}
	}
	var e edit
	var foreign int
	err := s.st.Update(ctx, func(tx trustsync.Tx) error {
		var err error
		// Catch up first, to learn whether other processes wrote.
		if foreign, err = s.catchUp(tx, ds, true); err != nil {
			return err
		}
		e, err = s.writeTx(tx, ds, s.now(), fn)
		return err
	})
	if errors.Is(err, errNoChange) {
		return edit{}, nil
	}
	if err != nil {
		ds.drop()
		return edit{}, err
	}
	s.noteSeen(doc, ds.seq)
	if foreign > 0 {
		s.publish(Event{Doc: doc, Remote: true})
	}
	s.publish(Event{Doc: doc, Items: e.touched})
	return e, nil
}

// message is the change message: compact JSON naming the action, kind and
// item, with a human summary.
func (e edit) message() string {
	b, _ := json.Marshal(changeMsg{A: e.action, K: e.kind, I: e.item, G: e.goal, S: e.summary})
	return string(b)
}

// changeMsg is the JSON form of a change message.
type changeMsg struct {
	A string `json:"a"`
	K string `json:"k"`
	I string `json:"i,omitempty"`
	G string `json:"g,omitempty"`
	S string `json:"s"`
}
