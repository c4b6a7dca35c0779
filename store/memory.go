package store

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trustsync/trustsync"
)

// Memory is a [trustsync.Store] that keeps everything in memory, for tests
// and for spaces that need no persistence. It is safe for concurrent use.
//
// Update runs on a private copy of the store and publishes it only when fn
// returns nil, so a failing fn leaves nothing behind; View reads the copy that
// was current when it started. Updates run one at a time; a second Update
// waits for the first, or until its context is done.
type Memory struct {
	writer chan struct{} // holds one token while an Update runs

	mu     sync.Mutex // guards cur and closed
	cur    *memState  // never modified once published
	closed bool
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{
		writer: make(chan struct{}, 1),
		cur: &memState{
			items:  map[itemKey]trustsync.Item{},
			hashes: map[string]bool{},
			meta:   map[string][]byte{},
			heads:  map[string]trustsync.DocHeads{},
		},
	}
}

var _ trustsync.Store = (*Memory)(nil)

// memState is one version of a Memory store. Byte slices in it are never
// modified, so a copy only needs new slices and maps.
type memState struct {
	chunks     []memChunk // ascending Seq
	lastSeq    int64
	items      map[itemKey]trustsync.Item
	history    []trustsync.HistoryEntry // in insertion order
	hashes     map[string]bool          // history hashes
	meta       map[string][]byte
	heads      map[string]trustsync.DocHeads
	quarantine []memChunk
}

type memChunk struct {
	trustsync.Chunk
	hash []byte
}

type itemKey struct{ kind, id string }

func (s *memState) clone() *memState {
	return &memState{
		chunks:     slices.Clone(s.chunks),
		lastSeq:    s.lastSeq,
		items:      maps.Clone(s.items),
		history:    slices.Clone(s.history),
		hashes:     maps.Clone(s.hashes),
		meta:       maps.Clone(s.meta),
		heads:      maps.Clone(s.heads),
		quarantine: slices.Clone(s.quarantine),
	}
}

// View runs fn on the store as it was when View was called.
func (m *Memory) View(ctx context.Context, fn func(trustsync.ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	st, closed := m.cur, m.closed
	m.mu.Unlock()
	if closed {
		return fmt.Errorf("view store: %w", trustsync.ErrClosed)
	}
	tx := &memReadTx{st: st}
	defer tx.end()
	return fn(tx)
}

// Update runs fn on a private copy of the store and makes the copy current if
// fn returns nil.
func (m *Memory) Update(ctx context.Context, fn func(trustsync.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case m.writer <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-m.writer }()

	m.mu.Lock()
	st, closed := m.cur, m.closed
	m.mu.Unlock()
	if closed {
		return fmt.Errorf("update store: %w", trustsync.ErrClosed)
	}
	tx := &memTx{memReadTx{st: st.clone()}}
	defer tx.end()
	if err := fn(tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("update store: %w", trustsync.ErrClosed)
	}
	m.cur = tx.st
	return nil
}

// Close releases the store; afterwards View, Update and Quarantined return
// an error wrapping [trustsync.ErrClosed]. It is safe to call more than once.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// errTxDone is returned by a transaction used after its View or Update
// returned.
func errTxDone(op string) error {
	return fmt.Errorf("%s: transaction used after its View or Update returned: %w", op, trustsync.ErrClosed)
}

// memReadTx reads one memState. Its st is nil once the transaction is over.
type memReadTx struct {
	st *memState
}

func (tx *memReadTx) end() { tx.st = nil }

func (tx *memReadTx) Chunks(doc string, after int64) ([]trustsync.Chunk, error) {
	if tx.st == nil {
		return nil, errTxDone("read chunks")
	}
	chunks := tx.st.chunks
	i, _ := slices.BinarySearchFunc(chunks, after+1, func(c memChunk, seq int64) int {
		return cmp.Compare(c.Seq, seq)
	})
	var out []trustsync.Chunk
	for _, c := range chunks[i:] {
		if doc != "" && c.Doc != doc {
			continue
		}
		out = append(out, trustsync.Chunk{Seq: c.Seq, Doc: c.Doc, Snapshot: c.Snapshot, Data: clone(c.Data)})
	}
	return out, nil
}

func (tx *memReadTx) LastSeq() (int64, error) {
	if tx.st == nil {
		return 0, errTxDone("read last seq")
	}
	return tx.st.lastSeq, nil
}

func (tx *memReadTx) Docs() ([]string, error) {
	if tx.st == nil {
		return nil, errTxDone("list documents")
	}
	var docs []string
	for _, c := range tx.st.chunks {
		docs = append(docs, c.Doc)
	}
	slices.Sort(docs)
	return slices.Compact(docs), nil
}

func (tx *memReadTx) Items(kind string) ([]trustsync.Item, error) {
	if tx.st == nil {
		return nil, errTxDone("list items")
	}
	var out []trustsync.Item
	for k, it := range tx.st.items {
		if k.kind == kind {
			it.Data = clone(it.Data)
			out = append(out, it)
		}
	}
	return out, nil
}

func (tx *memReadTx) Item(kind, id string) (trustsync.Item, error) {
	if tx.st == nil {
		return trustsync.Item{}, errTxDone("read item")
	}
	it, ok := tx.st.items[itemKey{kind, id}]
	if !ok {
		return trustsync.Item{}, fmt.Errorf("read item %s %q: %w", kind, id, trustsync.ErrNotFound)
	}
	it.Data = clone(it.Data)
	return it, nil
}

func (tx *memReadTx) ItemIDs(kind, prefix string) ([]string, error) {
	if tx.st == nil {
		return nil, errTxDone("list item IDs")
	}
	var ids []string
	for k := range tx.st.items {
		if k.kind == kind && strings.HasPrefix(k.id, prefix) {
			ids = append(ids, k.id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (tx *memReadTx) History(offset, limit int) ([]trustsync.HistoryEntry, error) {
	if tx.st == nil {
		return nil, errTxDone("read history")
	}
	h := tx.st.history
	// Newest first: by At, then by insertion order.
	idx := make([]int, len(h))
	for i := range idx {
		idx[i] = len(h) - 1 - i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return cmp.Compare(h[b].At.UnixMilli(), h[a].At.UnixMilli())
	})
	offset = max(offset, 0)
	if offset >= len(idx) {
		return nil, nil
	}
	idx = idx[offset:]
	if limit > 0 && limit < len(idx) {
		idx = idx[:limit]
	}
	out := make([]trustsync.HistoryEntry, len(idx))
	for i, j := range idx {
		out[i] = h[j]
	}
	return out, nil
}

func (tx *memReadTx) Get(key string) ([]byte, error) {
	if tx.st == nil {
		return nil, errTxDone("read meta")
	}
	v, ok := tx.st.meta[key]
	if !ok {
		return nil, fmt.Errorf("read meta %q: %w", key, trustsync.ErrNotFound)
	}
	return clone(v), nil
}

// memTx changes its own copy of the state.
type memTx struct {
	memReadTx
}

func (tx *memTx) AppendChunk(doc string, data []byte) (int64, error) {
	if tx.st == nil {
		return 0, errTxDone("append chunk")
	}
	if err := checkDoc("append chunk", doc); err != nil {
		return 0, err
	}
	sum := checksum(data)
	for _, c := range tx.st.chunks {
		if c.Doc == doc && bytes.Equal(c.hash, sum) {
			return c.Seq, nil
		}
	}
	return tx.add(doc, false, data, sum), nil
}

func (tx *memTx) add(doc string, snapshot bool, data, sum []byte) int64 {
	tx.st.lastSeq++
	tx.st.chunks = append(tx.st.chunks, memChunk{
		Chunk: trustsync.Chunk{Seq: tx.st.lastSeq, Doc: doc, Snapshot: snapshot, Data: clone(data)},
		hash:  sum,
	})
	return tx.st.lastSeq
}

func (tx *memTx) Compact(doc string, snapshot []byte, through int64) (int64, error) {
	if tx.st == nil {
		return 0, errTxDone("compact")
	}
	if err := checkDoc("compact", doc); err != nil {
		return 0, err
	}
	sum := checksum(snapshot)
	// A chunk identical to the snapshot is replaced by it too: its bytes are
	// the snapshot's.
	tx.st.chunks = slices.DeleteFunc(tx.st.chunks, func(c memChunk) bool {
		return c.Doc == doc && (c.Seq <= through || bytes.Equal(c.hash, sum))
	})
	return tx.add(doc, true, snapshot, sum), nil
}

func (tx *memTx) Quarantine(seq int64) error {
	if tx.st == nil {
		return errTxDone("quarantine chunk")
	}
	i := slices.IndexFunc(tx.st.chunks, func(c memChunk) bool { return c.Seq == seq })
	if i < 0 {
		return fmt.Errorf("quarantine chunk %d: %w", seq, trustsync.ErrNotFound)
	}
	delete(tx.st.heads, tx.st.chunks[i].Doc) // the document lost changes
	tx.st.quarantine = append(tx.st.quarantine, tx.st.chunks[i])
	tx.st.chunks = slices.Delete(tx.st.chunks, i, i+1)
	return nil
}

func (tx *memReadTx) Heads(doc string) (trustsync.DocHeads, bool, error) {
	if tx.st == nil {
		return trustsync.DocHeads{}, false, errTxDone("read heads")
	}
	h, ok := tx.st.heads[doc]
	if !ok {
		return trustsync.DocHeads{}, false, nil
	}
	var latest int64
	for _, c := range tx.st.chunks {
		if c.Doc == doc {
			latest = c.Seq
		}
	}
	if latest == 0 || latest != h.Seq {
		return trustsync.DocHeads{}, false, nil
	}
	h.Hashes = clone(h.Hashes)
	return h, true, nil
}

func (tx *memTx) PutHeads(doc string, h trustsync.DocHeads) error {
	if tx.st == nil {
		return errTxDone("put heads")
	}
	if err := checkDoc("put heads", doc); err != nil {
		return err
	}
	h.Hashes = clone(h.Hashes)
	tx.st.heads[doc] = h
	return nil
}

func (tx *memTx) PutItem(it trustsync.Item) error {
	if tx.st == nil {
		return errTxDone("put item")
	}
	if it.Kind == "" || it.ID == "" {
		return fmt.Errorf("put item: empty kind or ID: %w", trustsync.ErrInvalid)
	}
	it.Data = clone(it.Data)
	tx.st.items[itemKey{it.Kind, it.ID}] = it
	return nil
}

func (tx *memTx) DeleteItem(kind, id string) error {
	if tx.st == nil {
		return errTxDone("delete item")
	}
	delete(tx.st.items, itemKey{kind, id})
	return nil
}

func (tx *memTx) AddHistory(entries ...trustsync.HistoryEntry) error {
	if tx.st == nil {
		return errTxDone("add history")
	}
	for _, e := range entries {
		if e.Hash == "" {
			return fmt.Errorf("add history: empty change hash: %w", trustsync.ErrInvalid)
		}
		if tx.st.hashes[e.Hash] {
			continue
		}
		tx.st.hashes[e.Hash] = true
		e.At = time.UnixMilli(e.At.UnixMilli()) // what the disk store keeps
		tx.st.history = append(tx.st.history, e)
	}
	return nil
}

func (tx *memTx) Put(key string, value []byte) error {
	if tx.st == nil {
		return errTxDone("put meta")
	}
	tx.st.meta[key] = clone(value)
	return nil
}

func (tx *memTx) Delete(key string) error {
	if tx.st == nil {
		return errTxDone("delete meta")
	}
	delete(tx.st.meta, key)
	return nil
}

// Quarantined returns the chunks set aside by Quarantine, oldest first. It is
// meant for tests and inspection.
func (m *Memory) Quarantined() ([]trustsync.Chunk, error) {
	m.mu.Lock()
	st, closed := m.cur, m.closed
	m.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("read quarantine: %w", trustsync.ErrClosed)
	}
	out := make([]trustsync.Chunk, len(st.quarantine))
	for i, c := range st.quarantine {
		out[i] = c.Chunk
		out[i].Data = clone(c.Data)
	}
	return out, nil
}
