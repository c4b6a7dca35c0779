package crdt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/trustsync/trustsync/internal/stagetrace"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt/internal/sandbox"
)

// identityKey is the store meta key holding the JSON of this device's
// [Identity].
const identityKey = "identity"

// damagedHint tells a user how to recover from a damaged chunk.
const damagedHint = "the rest of the space is intact; sync with your partner's device to restore what is missing, or restore a backup"

// Space is one couple's shared space on this device: every shared document,
// kept in a [trustsync.Store]. It is safe for concurrent use by several
// goroutines, and several processes may open spaces on one store.
type Space struct {
	st           trustsync.Store
	log          *slog.Logger
	now          func() time.Time
	compactAfter int
	mem          *memGuard
	checker      *sandbox.Checker // nil with Options.NoSandbox

	clockMu sync.Mutex
	last    time.Time // the last time handed out by now

	mu       sync.Mutex // guards everything below; never held while waiting for a document
	id       Identity
	closed   bool
	docs     map[string]*docState
	seen     map[string]int64 // per document, the highest chunk Seq this space has seen
	lastSeen int64            // the store's LastSeq at the last Refresh (or Open)
	subs     map[*subscriber]struct{}
	peers    map[string]*Peer
	key      ed25519.PrivateKey // this device's signing key, once loaded (sign.go)
}

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
	// the dependencies arrive, and they are checked then (trust.go).
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

func newSpace(st trustsync.Store, opts Options) *Space {
	s := &Space{
		st:           st,
		log:          opts.Logger,
		compactAfter: opts.CompactAfter,
		mem:          newMemGuard(),
		docs:         map[string]*docState{},
		seen:         map[string]int64{},
		subs:         map[*subscriber]struct{}{},
		peers:        map[string]*Peer{},
	}
	if !opts.NoSandbox {
		s.checker = sandbox.New(sandbox.Options{})
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	clock := opts.Now
	if clock == nil {
		clock = time.Now
	}
	// Times are stored in milliseconds. Handing out strictly increasing
	// ones keeps this device's items and changes in the order they were
	// made even when several fall within one millisecond.
	s.now = func() time.Time {
		s.clockMu.Lock()
		defer s.clockMu.Unlock()
		t := ms(clock())
		if !t.After(s.last) {
			t = s.last.Add(time.Millisecond)
		}
		s.last = t
		return t
	}
	if s.compactAfter <= 0 {
		s.compactAfter = 64
	}
	return s
}

// Create makes a new space in an empty store, with the caller as its first
// member and this device as its first device. It fails with
// [trustsync.ErrAlreadyInitialized] if the store already holds a space.
func Create(ctx context.Context, st trustsync.Store, opts CreateOptions) (*Space, error) {
	name := strings.TrimSpace(opts.MemberName)
	if name == "" {
		return nil, fmt.Errorf("create space: a member name is required: %w", trustsync.ErrInvalid)
	}
	if err := CheckText("the name", name, true); err != nil {
		return nil, fmt.Errorf("create space: %w", err)
	}
	if err := checkLen("the name", name, MaxNameLen); err != nil {
		return nil, fmt.Errorf("create space: %w", err)
	}
	dev, lineErr := optionalLine("the device name", opts.DeviceName, MaxNameLen)
	if lineErr != nil {
		return nil, fmt.Errorf("create space: %w", lineErr)
	}
	if dev == "" {
		dev, _ = os.Hostname()
		if dev == "" {
			dev = "device"
		}
	}
	s := newSpace(st, opts.Options)
	s.id = Identity{
		SpaceID:    newID(),
		MemberID:   newID(),
		MemberName: name,
		DeviceID:   newDeviceID(),
		DeviceName: dev,
	}
	ds := s.docState(SpaceDoc)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	var e edit
	err := st.Update(ctx, func(tx trustsync.Tx) error {
		if _, err := tx.Get(identityKey); err == nil {
			return trustsync.ErrAlreadyInitialized
		} else if !errors.Is(err, trustsync.ErrNotFound) {
			return err
		}
		b, err := json.Marshal(s.id)
		if err != nil {
			return err
		}
		if err := tx.Put(identityKey, b); err != nil {
			return err
		}
		// Every change of a new space is signed: there is nothing to seal.
		if err := tx.Put(sealedMeta, []byte("new")); err != nil {
			return err
		}
		at := s.now()
		e, err = s.writeTx(tx, ds, at, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
			if err := putMember(root, s.id.MemberID, name, at); err != nil {
				return edit{}, err
			}
			if err := putDevice(root, trustsync.Device{
				ID: s.id.DeviceID, Name: dev, Owner: trustsync.Person{ID: s.id.MemberID}, AddedAt: at,
			}, at); err != nil {
				return edit{}, err
			}
			return edit{action: "create", kind: "space", summary: fmt.Sprintf("created the space on %q", dev),
				touched: []ItemRef{{KindMember, s.id.MemberID}, {KindDevice, s.id.DeviceID}}}, nil
		})
		if err != nil {
			return err
		}
		s.lastSeen, err = tx.LastSeq()
		return err
	})
	if err != nil {
		ds.drop()
		return nil, fmt.Errorf("create space: %w", err)
	}
	s.noteSeen(SpaceDoc, ds.seq)
	_ = e
	return s, nil
}

// Open opens the space held in st. It fails with [trustsync.ErrNotInitialized]
// if there is none. Open reads no Automerge document; documents are loaded
// when first written or synced.
func Open(ctx context.Context, st trustsync.Store, opts Options) (*Space, error) {
	s := newSpace(st, opts)
	err := st.View(ctx, func(tx trustsync.ReadTx) error {
		b, err := tx.Get(identityKey)
		if errors.Is(err, trustsync.ErrNotFound) {
			return trustsync.ErrNotInitialized
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &s.id); err != nil {
			return &trustsync.DamagedError{What: "the identity record", Why: err.Error(),
				Hint: "restore a backup, or create the space again and pair"}
		}
		if !validDeviceID(s.id.DeviceID) {
			return &trustsync.DamagedError{What: "the identity record", Why: "invalid device ID",
				Hint: "restore a backup, or create the space again and pair"}
		}
		s.lastSeen, err = tx.LastSeq()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open space: %w", err)
	}
	if err := s.beginSigning(ctx); err != nil {
		return nil, fmt.Errorf("open space: %w", err)
	}
	return s, nil
}

// Close releases the space's documents and subscriptions; it does not close
// the store. Safe to call twice.
func (s *Space) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for sub := range s.subs {
		close(sub.ch)
		delete(s.subs, sub)
	}
	s.docs = map[string]*docState{}
	s.peers = map[string]*Peer{}
	if s.checker != nil {
		return s.checker.Close()
	}
	return nil
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

// CheckReady reports whether bytes that must be checked before they are
// loaded (stored chunks of a document not in memory, a peer's sync messages
// and documents) can be checked now: nil, or an error wrapping
// [trustsync.ErrCheckUnavailable] that says why. It starts the sandbox
// child when none runs, so a caller that waits for the child to become
// available again (the sync node before a session) calls it to find out.
// Without a sandbox (Options.NoSandbox) it returns nil.
func (s *Space) CheckReady(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.vet(ctx, "", func(c *sandbox.Checker) error { return c.Start(ctx) })
}

// checkUnavailable turns a failure to make a check (an error of the sandbox
// that is not a verdict on the bytes) into a
// *trustsync.CheckUnavailableError, keeping why in one line. Callers apply
// nothing.
func checkUnavailable(what string, err error) error {
	why := strings.TrimPrefix(err.Error(), sandbox.ErrUnavailable.Error()+": ")
	return &trustsync.CheckUnavailableError{What: what, Why: oneLine(why)}
}

// Self returns who writes on this device.
func (s *Space) Self() Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// check returns ErrClosed once the space is closed.
func (s *Space) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("space: %w", trustsync.ErrClosed)
	}
	return nil
}

// docState returns the cache entry of a document, creating it.
func (s *Space) docState(id string) *docState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.docs[id]
	if ds == nil {
		ds = &docState{id: id}
		s.docs[id] = ds
	}
	return ds
}

func (s *Space) noteSeen(doc string, seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq > s.seen[doc] {
		s.seen[doc] = seq
	}
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
		d, err := loadDoc(s.mem, chunks[0].Data)
		if err != nil {
			return 0, chunkDamaged(chunks[0], err)
		}
		if err := d.SetActorID(s.id.DeviceID); err != nil {
			return 0, err
		}
		for _, c := range chunks[1:] {
			if err := loadInto(s.mem, d, c.Data); err != nil {
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
		if err := loadInto(s.mem, ds.doc, c.Data); err != nil {
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
	snap := ds.doc.Save()
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
	rec, err := s.absorb(tx, self, ds, old, sigs)
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

// validDocID checks a document ID given by a caller or a peer.
func validDocID(doc string) error {
	if ValidDoc(doc) {
		return nil
	}
	return fmt.Errorf("unknown document %q: %w", doc, trustsync.ErrInvalid)
}

// absorb stores the changes that arrived in ds.doc since the heads old (from
// a peer): a chunk, history entries and the view rows of the items their
// operations touch. ds.mu must be held, inside an Update.
func (s *Space) absorb(tx trustsync.Tx, self Identity, ds *docState, old []automerge.ChangeHash, sigs map[automerge.ChangeHash][]byte) (Received, error) {
	rec := Received{Doc: ds.id}
	if equalHeads(old, ds.doc.Heads()) {
		ds.keepEarly(sigs, nil)
		return rec, nil
	}
	chs, err := ds.doc.Changes(old...)
	if err != nil {
		return rec, err
	}
	rc, err := s.verifyReceived(tx, self, ds, chs, sigs)
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

// Adopt joins this device's documents to another space, the partner's: it
// sets the space ID, and at the next sync this device's documents and the
// partner's merge (nothing either wrote is lost, since every item has its own
// random key). Pairing uses [Space.JoinSpace] instead, which takes the
// space ID only together with the partner's records, in one transaction.
func (s *Space) Adopt(ctx context.Context, spaceID string) error {
	spaceID = strings.TrimSpace(spaceID)
	if spaceID == "" {
		return fmt.Errorf("adopt: no space ID given: %w", trustsync.ErrInvalid)
	}
	if err := s.check(); err != nil {
		return err
	}
	s.mu.Lock()
	id := s.id
	s.mu.Unlock()
	id.SpaceID = spaceID
	b, err := json.Marshal(id)
	if err != nil {
		return err
	}
	if err := s.st.Update(ctx, func(tx trustsync.Tx) error { return tx.Put(identityKey, b) }); err != nil {
		return fmt.Errorf("adopt space: %w", err)
	}
	s.mu.Lock()
	s.id.SpaceID = spaceID
	s.mu.Unlock()
	return nil
}
