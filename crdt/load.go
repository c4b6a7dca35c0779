package crdt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt/internal/sandbox"
	"github.com/trustsync/trustsync/internal/stagetrace"
)

// damagedHint tells a user how to recover from a damaged chunk.
const damagedHint = "the rest of the space is intact; sync with your partner's device to restore what is missing, or restore a backup"

// docState is one document as cached in memory. Its mutex serialises every
// use of the document in this process; the store's Update serialises
// processes.
type docState struct {
	id string

	mu        sync.Mutex
	doc       *automerge.Doc // nil until loaded, and after any failure
	seq       int64          // the highest chunk Seq merged into doc
	incr      int            // incremental chunks stored since the last snapshot
	incrBytes int            // their total size
	snapBytes int            // the size of the last snapshot, 0 without one
	gen       uint64         // bumped whenever doc is replaced or dropped
	objs      *objIndex      // where each object of doc lives, for the write rules (objindex.go)
	// early holds the signatures of changes a peer sent before their
	// dependencies: Automerge keeps such changes aside, in memory, until
	// the dependencies arrive, and they are checked then (verify.go).
	early map[automerge.ChangeHash][]byte
	// saved is the document saved to compare it with a sync message, kept
	// for the whole send that follows (whole.go).
	saved *savedDoc
}

// note counts a chunk stored or read after the ones already counted.
func (ds *docState) note(c trustsync.Chunk) {
	if c.Snapshot {
		ds.incr, ds.incrBytes, ds.snapBytes = 0, 0, len(c.Data)
		return
	}
	ds.incr++
	ds.incrBytes += len(c.Data)
}

// drop forgets the cached document so that the next use reloads it from the
// store. Called with ds.mu held after any failure, so that memory never holds
// what the store does not.
func (ds *docState) drop() {
	ds.doc = nil
	ds.seq = 0
	ds.incr, ds.incrBytes, ds.snapBytes = 0, 0, 0
	ds.gen++
	ds.early = nil
	ds.saved = nil
}

// vet runs a check of untrusted bytes in the sandbox child. It returns nil
// when the bytes may be applied; an error wrapping sandbox.ErrRejected when
// the child refused them or died of them; the context's error; and, when
// the check could not be made at all, an error wrapping
// trustsync.ErrCheckUnavailable naming what: untrusted bytes are never
// applied unchecked. Without a sandbox (Options.NoSandbox, a deliberate
// choice of the caller) it accepts everything.
func (s *Space) vet(ctx context.Context, what string, check func(*sandbox.Checker) error) error {
	if s.checker == nil {
		return nil
	}
	err := check(s.checker)
	if err == nil || errors.Is(err, sandbox.ErrRejected) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return checkUnavailable(what, err)
}

// checkUnavailable turns a failure to make a check (an error of the sandbox
// that is not a verdict on the bytes) into a
// *trustsync.CheckUnavailableError, keeping why in one line. Callers apply
// nothing.
func checkUnavailable(what string, err error) error {
	why := strings.TrimPrefix(err.Error(), sandbox.ErrUnavailable.Error()+": ")
	return &trustsync.CheckUnavailableError{What: what, Why: oneLine(why)}
}

// damaged turns a failure to read or decode stored bytes into a
// *trustsync.DamagedError, keeping one the store already returned.
func damaged(what string, err error) error {
	var de *trustsync.DamagedError
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, trustsync.ErrDamaged) {
		return &trustsync.DamagedError{What: what, Why: err.Error(), Hint: damagedHint}
	}
	return err
}

// catchUp brings ds.doc up to date with the store: it loads the document
// when it is not cached (an empty one when create is set and the store has
// none) and merges chunks appended since. It returns how many chunks it
// merged into an already cached document (written by other processes).
// ds.mu must be held. On error the caller drops ds.
func (s *Space) catchUp(tx trustsync.ReadTx, ds *docState, create bool) (int, error) {
	if ds.doc == nil {
		chunks, err := tx.Chunks(ds.id, 0)
		if err != nil {
			return 0, damaged(fmt.Sprintf("document %q", ds.id), err)
		}
		if len(chunks) == 0 {
			if !create {
				return 0, nil
			}
			d := automerge.New()
			if err := d.SetActorID(s.id.DeviceID); err != nil {
				return 0, err
			}
			ds.doc, ds.seq = d, 0
			ds.incr, ds.incrBytes, ds.snapBytes = 0, 0, 0
			ds.gen++
			return 0, nil
		}
		if err := s.vetStored(ds.id, nil, chunks); err != nil {
			return 0, err
		}
		d, err := loadDoc(s.mem, chunkDoc(chunks[0]))
		if err != nil {
			return 0, chunkDamaged(chunks[0], err)
		}
		if err := d.SetActorID(s.id.DeviceID); err != nil {
			return 0, err
		}
		for _, c := range chunks[1:] {
			if err := loadInto(s.mem, d, chunkDoc(c)); err != nil {
				return 0, chunkDamaged(c, err)
			}
		}
		ds.doc, ds.seq = d, chunks[len(chunks)-1].Seq
		ds.incr, ds.incrBytes, ds.snapBytes = 0, 0, 0
		for _, c := range chunks {
			ds.note(c)
		}
		ds.gen++
		return 0, nil
	}
	chunks, err := tx.Chunks(ds.id, ds.seq)
	if err != nil {
		return 0, damaged(fmt.Sprintf("document %q", ds.id), err)
	}
	if err := s.vetStored(ds.id, ds.doc, chunks); err != nil {
		return 0, err
	}
	for _, c := range chunks {
		if err := loadInto(s.mem, ds.doc, chunkDoc(c)); err != nil {
			return 0, chunkDamaged(c, err)
		}
		ds.note(c)
		ds.seq = c.Seq
	}
	return len(chunks), nil
}

// vetStored has the sandbox child load stored chunks of doc (on top of
// base, nil for a document not loaded yet) before this process does. The
// store's checksums stop accidents, not someone who can write the file, or a
// bug: bytes with a valid checksum can still abort automerge and with it the
// process. Chunks the child cannot survive make the document damaged, naming
// the first chunk that does it. When the child cannot be run, nothing is
// loaded either: the error wraps trustsync.ErrCheckUnavailable, the caller
// drops the document, and the next use tries again. Stored chunks are
// loaded unchecked only without a sandbox (Options.NoSandbox), and when the
// store marks every one of them [trustsync.Chunk.Checked]: the bytes this
// device checked or made itself before storing them, vouched for by a MAC
// under a key of the device (docs/DESIGN.md says what that trusts).
func (s *Space) vetStored(doc string, base *automerge.Doc, chunks []trustsync.Chunk) error {
	if s.checker == nil || len(chunks) == 0 {
		return nil
	}
	stagetrace.Mark("refresh.vet")
	if !slices.ContainsFunc(chunks, func(c trustsync.Chunk) bool { return !c.Checked }) {
		// The store vouches for every chunk: this device checked or made
		// those very bytes before storing them (trustsync.Chunk.Checked).
		return nil
	}
	ctx := context.Background()
	what := fmt.Sprintf("document %q", doc)
	check := func(chunks []trustsync.Chunk) error {
		var data []byte
		for _, c := range chunks {
			data = append(data, c.Data...)
		}
		return s.vet(ctx, what, func(c *sandbox.Checker) error {
			if base == nil {
				return c.CheckLoad(ctx, doc, nil, data)
			}
			return c.CheckIncremental(ctx, doc, base, data)
		})
	}
	err := check(chunks)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sandbox.ErrRejected) {
		return err
	}
	// Rare: find the first chunk that makes the load fail.
	bad := chunks[len(chunks)-1]
	for i := range chunks[:len(chunks)-1] {
		e := check(chunks[:i+1])
		if e != nil && !errors.Is(e, sandbox.ErrRejected) {
			return e // the check itself failed: no verdict on any chunk
		}
		if e != nil {
			bad, err = chunks[i], e
			break
		}
	}
	return &trustsync.DamagedError{
		What: fmt.Sprintf("chunk %d of document %q", bad.Seq, doc),
		Why:  "automerge cannot load it: " + oneLine(err.Error()),
		Hint: damagedHint,
	}
}

// oneLine keeps the first line of s.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func chunkDamaged(c trustsync.Chunk, err error) error {
	return &trustsync.DamagedError{
		What: fmt.Sprintf("chunk %d of document %q", c.Seq, c.Doc),
		Why:  "cannot be decoded: " + err.Error(),
		Hint: damagedHint,
	}
}

// view runs fn on a read-only snapshot of the store. When fn meets a view
// row that cannot be decoded, view writes every row of that row's document
// again from the document and runs fn once more; a document whose rows were
// rewritten and still fail, or that cannot be loaded, leaves fn's error.
// The caller must not hold a document's mutex.
func (s *Space) view(ctx context.Context, fn func(tx trustsync.ReadTx) error) error {
	if err := s.check(); err != nil {
		return err
	}
	err := s.st.View(ctx, fn)
	rebuilt := map[string]bool{}
	for {
		var vd *viewDamage
		if !errors.As(err, &vd) || rebuilt[vd.item.Doc] || ctx.Err() != nil {
			return err
		}
		rebuilt[vd.item.Doc] = true
		if rerr := s.rebuildViews(ctx, vd.item.Doc); rerr != nil {
			s.log.Warn("cannot rewrite a damaged view row from its document", "kind", vd.item.Kind, "id", vd.item.ID, "doc", vd.item.Doc, "err", rerr)
			return vd.unrepaired()
		}
		s.log.Warn("rewrote the view rows of a document after a damaged one", "kind", vd.item.Kind, "id", vd.item.ID, "doc", vd.item.Doc)
		err = s.st.View(ctx, fn)
	}
}

// rebuildViews writes every view row of doc again from the document.
func (s *Space) rebuildViews(ctx context.Context, doc string) error {
	if err := validDocID(doc); err != nil {
		return err
	}
	ds := s.docState(doc)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	err := s.st.Update(ctx, func(tx trustsync.Tx) error {
		if _, err := s.catchUp(tx, ds, false); err != nil {
			return err
		}
		if ds.doc == nil {
			return fmt.Errorf("document %q: %w", doc, trustsync.ErrNotFound)
		}
		root := ds.doc.RootMap()
		refs, err := allRefs(doc, root)
		if err != nil {
			return err
		}
		return putViews(tx, doc, root, refs)
	})
	if err != nil {
		ds.drop()
		return err
	}
	s.noteSeen(doc, ds.seq)
	return nil
}

// Docs returns the IDs of every shared document in the space.
func (s *Space) Docs(ctx context.Context) ([]string, error) {
	var docs []string
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		var err error
		docs, err = tx.Docs()
		return err
	})
	return docs, err
}

// loaded runs fn with the up-to-date document doc, or nil when the store has
// none.
func (s *Space) loaded(ctx context.Context, doc string, fn func(d *automerge.Doc) error) error {
	if err := s.check(); err != nil {
		return err
	}
	ds := s.docState(doc)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	err := s.st.View(ctx, func(tx trustsync.ReadTx) error {
		_, err := s.catchUp(tx, ds, false)
		return err
	})
	if err != nil {
		ds.drop()
		return err
	}
	s.noteSeen(doc, ds.seq)
	if ds.doc == nil || len(ds.doc.Heads()) == 0 {
		return fn(nil)
	}
	return fn(ds.doc)
}

// validDocID checks a document ID given by a caller or a peer.
func validDocID(doc string) error {
	if ValidDoc(doc) {
		return nil
	}
	return fmt.Errorf("unknown document %q: %w", doc, trustsync.ErrInvalid)
}
