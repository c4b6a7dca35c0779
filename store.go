package trustsync

import (
	"context"
	"time"
)

// Store keeps a space durably on one device. The crdt package consumes it; the
// store package provides a SQLite implementation for disk and an in-memory one.
// An app may implement its own.
//
// A Store holds three things, always changed together in one transaction:
//   - chunks: the Automerge bytes of each document, as snapshots and
//     incremental change sets, in one global order;
//   - items: a materialized view of the current value of every item, so that
//     reading does not load Automerge documents;
//   - history entries: one per Automerge change, for [Change] listings.
//
// Several processes may share one store. Update must be exclusive across all
// of them and durable when it returns nil: an acknowledged write survives
// kill -9 and power loss.
type Store interface {
	// View runs fn on a consistent read-only snapshot of the store.
	View(ctx context.Context, fn func(ReadTx) error) error
	// Update runs fn in an exclusive write transaction and commits it durably
	// if fn returns nil. If another writer holds the store for longer than the
	// store's busy timeout it returns an error wrapping [ErrBusy].
	Update(ctx context.Context, fn func(Tx) error) error
	// Close releases the store. It is safe to call more than once.
	Close() error
}

// ReadTx reads a store. Its values are valid only inside the View or Update
// call that provided it.
type ReadTx interface {
	// Chunks returns, in Seq order, every chunk with Seq > after, of document
	// doc, or of all documents when doc is "". Each chunk is verified against
	// its checksum; damaged chunks are left out and reported by a non-nil
	// error wrapping [ErrDamaged] returned together with the intact chunks.
	Chunks(doc string, after int64) ([]Chunk, error)
	// LastSeq returns the highest chunk Seq ever assigned, 0 for none. It
	// grows with every AppendChunk or Compact by any process.
	LastSeq() (int64, error)
	// Docs returns the IDs of every document that has chunks, sorted.
	Docs() ([]string, error)
	// Items returns every item of a kind, in no particular order.
	Items(kind string) ([]Item, error)
	// Item returns one item, or an error wrapping [ErrNotFound].
	Item(kind, id string) (Item, error)
	// ItemIDs returns the IDs of items of kind that start with prefix.
	ItemIDs(kind, prefix string) ([]string, error)
	// History returns up to limit entries, newest first (by At, then Seq),
	// skipping the first offset. limit <= 0 means all.
	History(offset, limit int) ([]HistoryEntry, error)
	// Get returns the value of a metadata key, or an error wrapping
	// [ErrNotFound].
	Get(key string) ([]byte, error)
	// Heads returns the heads recorded for doc by [Tx.PutHeads] when they
	// are current: recorded at the Seq of the document's latest chunk, so
	// that no chunk was appended, compacted or set aside since. ok is false
	// when none are recorded or they are not current; the caller then loads
	// the document to learn its heads.
	Heads(doc string) (h DocHeads, ok bool, err error)
}

// Tx reads and writes a store inside Update.
type Tx interface {
	ReadTx
	// AppendChunk stores data as a new incremental chunk of doc and returns its
	// Seq. Appending bytes identical to a chunk of the same document that is
	// still stored is a no-op that returns the existing Seq.
	AppendChunk(doc string, data []byte) (int64, error)
	// Compact stores snapshot as a snapshot chunk of doc and deletes every
	// chunk of doc with Seq <= through. It returns the snapshot's Seq.
	Compact(doc string, snapshot []byte, through int64) (int64, error)
	// Quarantine moves a damaged chunk out of the document into a side table
	// where its bytes stay for inspection; it never deletes them.
	Quarantine(seq int64) error
	// PutItem inserts or replaces an item of the view.
	PutItem(it Item) error
	// DeleteItem removes an item of the view, for an item its document no
	// longer holds; deleting an item that is not there is no error.
	DeleteItem(kind, id string) error
	// AddHistory records entries; an entry whose Hash is already recorded is
	// skipped.
	AddHistory(entries ...HistoryEntry) error
	// PutHeads records the heads of doc as of its chunk h.Seq, normally the
	// chunk just stored in this transaction, replacing what was recorded.
	// Quarantine forgets the heads of the chunk's document.
	PutHeads(doc string, h DocHeads) error
	// Put sets a metadata key; Delete removes one.
	Put(key string, value []byte) error
	Delete(key string) error
}

// Chunk is stored Automerge data of one document.
type Chunk struct {
	Seq      int64
	Doc      string
	Snapshot bool // a whole saved document rather than incremental changes
	Data     []byte
	// Checked is set by Chunks when the store can tell that Data are the
	// very bytes given to AppendChunk or Compact by a writer holding the
	// same key (a MAC under a key of the device verifies): bytes this
	// device checked or made itself before storing them, which need not be
	// checked again before they are loaded. A store without such a key
	// never sets it.
	Checked bool
}

// DocHeads is what a store keeps of a document's heads.
type DocHeads struct {
	Seq    int64  // the chunk the heads belong to: the document as of that chunk
	Hashes []byte // the heads, sorted 32-byte change hashes, concatenated
}

// Item is one row of the materialized view: the current value of an item as
// JSON, with the document it lives in.
type Item struct {
	Kind string
	ID   string
	Doc  string
	Data []byte
}

// HistoryEntry records one Automerge change of a document.
type HistoryEntry struct {
	Hash    string    // the change hash, hex
	Doc     string    // the document it belongs to
	Actor   string    // the Automerge actor ID, which is the device ID
	At      time.Time // the change's own timestamp
	Message string    // the change message written by crdt
}
