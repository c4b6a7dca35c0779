package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/trustsync/trustsync"
)

// querier is what diskTx needs of a *sql.Tx (Update) or a *sql.Conn inside
// a read transaction (View).
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// diskTx implements trustsync.Tx on a SQLite transaction. View hands it out
// wrapped in readOnly, so that a reader cannot reach the write methods.
type diskTx struct {
	ctx context.Context
	q   querier // nil once the transaction is over
	d   *Disk
}

// readOnly hides diskTx's write methods from a View.
type readOnly struct{ trustsync.ReadTx }

func (tx *diskTx) end() { tx.q = nil }

// check returns an error when the transaction is over.
func (tx *diskTx) check(op string) error {
	if tx.q == nil {
		return errTxDone(op)
	}
	return nil
}

func (tx *diskTx) fail(op string, err error) error {
	return fmt.Errorf("%s: %w", op, tx.d.sqlErr(err))
}

// blob keeps nil out of NOT NULL columns: the driver stores a nil slice as
// NULL and an empty one as an empty blob.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (tx *diskTx) Chunks(doc string, after int64) ([]trustsync.Chunk, error) {
	const op = "read chunks"
	if err := tx.check(op); err != nil {
		return nil, err
	}
	var rows *sql.Rows
	var err error
	if doc == "" {
		rows, err = tx.q.QueryContext(tx.ctx,
			"SELECT seq, doc, snapshot, hash, data, mac FROM chunks WHERE seq > ? ORDER BY seq", after)
	} else {
		rows, err = tx.q.QueryContext(tx.ctx,
			"SELECT seq, doc, snapshot, hash, data, mac FROM chunks WHERE doc = ? AND seq > ? ORDER BY seq", doc, after)
	}
	if err != nil {
		return nil, tx.fail(op, err)
	}
	defer rows.Close()
	var out []trustsync.Chunk
	var damaged DamagedChunksError
	for rows.Next() {
		var c trustsync.Chunk
		var hash, mac []byte
		if err := rows.Scan(&c.Seq, &c.Doc, &c.Snapshot, &hash, &c.Data, &mac); err != nil {
			return nil, tx.fail(op, err)
		}
		if !bytes.Equal(checksum(c.Data), hash) {
			damaged.add(c.Seq, c.Doc)
			tx.d.log.Warn("damaged chunk", "path", tx.d.path, "seq", c.Seq, "doc", c.Doc)
			continue
		}
		c.Checked = tx.d.mac != nil && mac != nil && hmac.Equal(mac, chunkMAC(tx.d.mac, c.Doc, c.Snapshot, c.Data))
		if c.Data == nil {
			c.Data = []byte{}
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, tx.fail(op, err)
	}
	return out, damaged.errOrNil()
}

func (tx *diskTx) LastSeq() (int64, error) {
	const op = "read last seq"
	if err := tx.check(op); err != nil {
		return 0, err
	}
	// sqlite_sequence keeps the highest seq ever assigned, even after that
	// chunk was compacted away or set aside.
	var seq int64
	err := tx.q.QueryRowContext(tx.ctx, "SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, tx.fail(op, err)
	}
	return seq, nil
}

func (tx *diskTx) Docs() ([]string, error) {
	const op = "list documents"
	if err := tx.check(op); err != nil {
		return nil, err
	}
	return tx.strings(op, "SELECT DISTINCT doc FROM chunks ORDER BY doc")
}

// strings runs a query of one text column.
func (tx *diskTx) strings(op, query string, args ...any) ([]string, error) {
	rows, err := tx.q.QueryContext(tx.ctx, query, args...)
	if err != nil {
		return nil, tx.fail(op, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, tx.fail(op, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, tx.fail(op, err)
	}
	return out, nil
}

func (tx *diskTx) Items(kind string) ([]trustsync.Item, error) {
	const op = "list items"
	if err := tx.check(op); err != nil {
		return nil, err
	}
	rows, err := tx.q.QueryContext(tx.ctx, "SELECT id, doc, data FROM items WHERE kind = ?", kind)
	if err != nil {
		return nil, tx.fail(op, err)
	}
	defer rows.Close()
	var out []trustsync.Item
	for rows.Next() {
		it := trustsync.Item{Kind: kind}
		if err := rows.Scan(&it.ID, &it.Doc, &it.Data); err != nil {
			return nil, tx.fail(op, err)
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, tx.fail(op, err)
	}
	return out, nil
}

func (tx *diskTx) Item(kind, id string) (trustsync.Item, error) {
	const op = "read item"
	if err := tx.check(op); err != nil {
		return trustsync.Item{}, err
	}
	it := trustsync.Item{Kind: kind, ID: id}
	err := tx.q.QueryRowContext(tx.ctx, "SELECT doc, data FROM items WHERE kind = ? AND id = ?", kind, id).Scan(&it.Doc, &it.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return trustsync.Item{}, fmt.Errorf("read item %s %q: %w", kind, id, trustsync.ErrNotFound)
	}
	if err != nil {
		return trustsync.Item{}, tx.fail(op, err)
	}
	return it, nil
}

func (tx *diskTx) ItemIDs(kind, prefix string) ([]string, error) {
	const op = "list item IDs"
	if err := tx.check(op); err != nil {
		return nil, err
	}
	// A range on the primary key; text compares bytewise (BINARY).
	if end, ok := prefixEnd(prefix); ok {
		return tx.strings(op, "SELECT id FROM items WHERE kind = ? AND id >= ? AND id < ? ORDER BY id", kind, prefix, end)
	}
	return tx.strings(op, "SELECT id FROM items WHERE kind = ? AND id >= ? ORDER BY id", kind, prefix)
}

func (tx *diskTx) History(offset, limit int) ([]trustsync.HistoryEntry, error) {
	const op = "read history"
	if err := tx.check(op); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := tx.q.QueryContext(tx.ctx,
		"SELECT h.hash, d.name, a.name, h.at, h.message FROM history h "+
			"JOIN history_names d ON d.id = h.doc JOIN history_names a ON a.id = h.actor "+
			"ORDER BY h.at DESC, h.rowid DESC LIMIT ? OFFSET ?",
		limit, max(offset, 0))
	if err != nil {
		return nil, tx.fail(op, err)
	}
	defer rows.Close()
	var out []trustsync.HistoryEntry
	for rows.Next() {
		var e trustsync.HistoryEntry
		var at int64
		var hash, doc, actor any
		if err := rows.Scan(&hash, &doc, &actor, &at, &e.Message); err != nil {
			return nil, tx.fail(op, err)
		}
		e.Hash, e.Doc, e.Actor = fromHexColumn(hash), fromHexColumn(doc), fromHexColumn(actor)
		e.At = time.UnixMilli(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, tx.fail(op, err)
	}
	return out, nil
}

func (tx *diskTx) Get(key string) ([]byte, error) {
	const op = "read meta"
	if err := tx.check(op); err != nil {
		return nil, err
	}
	var v []byte
	err := tx.q.QueryRowContext(tx.ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read meta %q: %w", key, trustsync.ErrNotFound)
	}
	if err != nil {
		return nil, tx.fail(op, err)
	}
	return v, nil
}

func (tx *diskTx) AppendChunk(doc string, data []byte) (int64, error) {
	const op = "append chunk"
	if err := tx.check(op); err != nil {
		return 0, err
	}
	if err := checkDoc(op, doc); err != nil {
		return 0, err
	}
	sum := checksum(data)
	var seq int64
	err := tx.q.QueryRowContext(tx.ctx, "SELECT seq FROM chunks WHERE doc = ? AND hash = ?", doc, sum).Scan(&seq)
	if err == nil {
		return seq, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, tx.fail(op, err)
	}
	return tx.insertChunk(op, doc, false, data, sum)
}

func (tx *diskTx) insertChunk(op, doc string, snapshot bool, data, sum []byte) (int64, error) {
	var mac []byte // NULL without a key
	if tx.d.mac != nil {
		mac = chunkMAC(tx.d.mac, doc, snapshot, data)
	}
	res, err := tx.q.ExecContext(tx.ctx,
		"INSERT INTO chunks (doc, snapshot, hash, data, mac) VALUES (?, ?, ?, ?, ?)", doc, snapshot, sum, blob(data), mac)
	if err != nil {
		return 0, tx.fail(op, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, tx.fail(op, err)
	}
	return seq, nil
}

func (tx *diskTx) Compact(doc string, snapshot []byte, through int64) (int64, error) {
	const op = "compact"
	if err := tx.check(op); err != nil {
		return 0, err
	}
	if err := checkDoc(op, doc); err != nil {
		return 0, err
	}
	sum := checksum(snapshot)
	// A chunk identical to the snapshot goes too: its bytes are the
	// snapshot's, and (doc, hash) is unique.
	if _, err := tx.q.ExecContext(tx.ctx,
		"DELETE FROM chunks WHERE doc = ? AND (seq <= ? OR hash = ?)", doc, through, sum); err != nil {
		return 0, tx.fail(op, err)
	}
	seq, err := tx.insertChunk(op, doc, true, snapshot, sum)
	if err != nil {
		return 0, err
	}
	return seq, tx.trimFreePages(op)
}

// freePagesKept is how many free pages (of 4 KiB) a store keeps for the
// next writes before it gives the rest back to the file system.
const freePagesKept = 64

// trimFreePages shrinks the database file when compactions have left more
// than freePagesKept pages free. It runs inside the Update, so it commits
// (and is undone) with it. Stores created before auto_vacuum=INCREMENTAL
// was set answer it without doing anything; their free pages are reused by
// later writes.
func (tx *diskTx) trimFreePages(op string) error {
	var free int64
	if err := tx.q.QueryRowContext(tx.ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
		return tx.fail(op, err)
	}
	if free <= freePagesKept {
		return nil
	}
	// PRAGMA takes no parameters; the count is an integer of this code.
	rows, err := tx.q.QueryContext(tx.ctx, fmt.Sprintf("PRAGMA incremental_vacuum(%d)", free-freePagesKept/2))
	if err != nil {
		return tx.fail(op, err)
	}
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return tx.fail(op, err)
	}
	return rows.Close()
}

// hexColumn is how a change hash or actor ID is stored in the history
// table: the bytes of a lowercase hex string (half the size), any other
// string as text. The mapping is one to one, so the unique hash column
// still finds duplicates.
func hexColumn(s string) any {
	if len(s) == 0 || len(s)%2 != 0 {
		return s
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return s
		}
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return s
	}
	return b
}

// fromHexColumn reads back what hexColumn stored.
func fromHexColumn(v any) string {
	switch v := v.(type) {
	case []byte:
		return hex.EncodeToString(v)
	case string:
		return v
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func (tx *diskTx) Quarantine(seq int64) error {
	const op = "quarantine chunk"
	if err := tx.check(op); err != nil {
		return err
	}
	var doc string
	var snapshot bool
	var hash, data []byte
	err := tx.q.QueryRowContext(tx.ctx, "SELECT doc, snapshot, hash, data FROM chunks WHERE seq = ?", seq).
		Scan(&doc, &snapshot, &hash, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("quarantine chunk %d: %w", seq, trustsync.ErrNotFound)
	}
	if err != nil {
		return tx.fail(op, err)
	}
	reason := "set aside on request"
	if !bytes.Equal(checksum(data), hash) {
		reason = "checksum mismatch"
	}
	if _, err := tx.q.ExecContext(tx.ctx,
		"INSERT INTO quarantine (seq, doc, snapshot, hash, data, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		seq, doc, snapshot, hash, blob(data), reason, time.Now().UnixMilli()); err != nil {
		return tx.fail(op, err)
	}
	if _, err := tx.q.ExecContext(tx.ctx, "DELETE FROM chunks WHERE seq = ?", seq); err != nil {
		return tx.fail(op, err)
	}
	// The document lost changes: its recorded heads may name them.
	if _, err := tx.q.ExecContext(tx.ctx, "DELETE FROM heads WHERE doc = ?", doc); err != nil {
		return tx.fail(op, err)
	}
	tx.d.log.Info("chunk quarantined", "path", tx.d.path, "seq", seq, "doc", doc, "reason", reason)
	return nil
}

func (tx *diskTx) Heads(doc string) (trustsync.DocHeads, bool, error) {
	const op = "read heads"
	if err := tx.check(op); err != nil {
		return trustsync.DocHeads{}, false, err
	}
	var h trustsync.DocHeads
	var latest sql.NullInt64
	err := tx.q.QueryRowContext(tx.ctx,
		"SELECT h.seq, h.hashes, (SELECT max(c.seq) FROM chunks c WHERE c.doc = h.doc) FROM heads h WHERE h.doc = ?", doc).
		Scan(&h.Seq, &h.Hashes, &latest)
	if errors.Is(err, sql.ErrNoRows) {
		return trustsync.DocHeads{}, false, nil
	}
	if err != nil {
		return trustsync.DocHeads{}, false, tx.fail(op, err)
	}
	if !latest.Valid || latest.Int64 != h.Seq {
		return trustsync.DocHeads{}, false, nil
	}
	if h.Hashes == nil {
		h.Hashes = []byte{}
	}
	return h, true, nil
}

func (tx *diskTx) PutHeads(doc string, h trustsync.DocHeads) error {
	const op = "put heads"
	if err := tx.check(op); err != nil {
		return err
	}
	if err := checkDoc(op, doc); err != nil {
		return err
	}
	if _, err := tx.q.ExecContext(tx.ctx,
		"INSERT INTO heads (doc, seq, hashes) VALUES (?, ?, ?) "+
			"ON CONFLICT (doc) DO UPDATE SET seq = excluded.seq, hashes = excluded.hashes",
		doc, h.Seq, blob(h.Hashes)); err != nil {
		return tx.fail(op, err)
	}
	return nil
}

func (tx *diskTx) PutItem(it trustsync.Item) error {
	const op = "put item"
	if err := tx.check(op); err != nil {
		return err
	}
	if it.Kind == "" || it.ID == "" {
		return fmt.Errorf("put item: empty kind or ID: %w", trustsync.ErrInvalid)
	}
	// An upsert, not INSERT OR REPLACE: the row keeps its place (its
	// rowid), so the table's pages stay full.
	if _, err := tx.q.ExecContext(tx.ctx,
		"INSERT INTO items (kind, id, doc, data) VALUES (?, ?, ?, ?) "+
			"ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc, data = excluded.data",
		it.Kind, it.ID, it.Doc, blob(it.Data)); err != nil {
		return tx.fail(op, err)
	}
	return nil
}

func (tx *diskTx) DeleteItem(kind, id string) error {
	const op = "delete item"
	if err := tx.check(op); err != nil {
		return err
	}
	if _, err := tx.q.ExecContext(tx.ctx, "DELETE FROM items WHERE kind = ? AND id = ?", kind, id); err != nil {
		return tx.fail(op, err)
	}
	return nil
}

func (tx *diskTx) AddHistory(entries ...trustsync.HistoryEntry) error {
	const op = "add history"
	if err := tx.check(op); err != nil {
		return err
	}
	names := map[any]int64{}
	for _, e := range entries {
		if e.Hash == "" {
			return fmt.Errorf("add history: empty change hash: %w", trustsync.ErrInvalid)
		}
		doc, err := tx.historyName(names, e.Doc)
		if err != nil {
			return tx.fail(op, err)
		}
		actor, err := tx.historyName(names, hexColumn(e.Actor))
		if err != nil {
			return tx.fail(op, err)
		}
		if _, err := tx.q.ExecContext(tx.ctx,
			"INSERT INTO history (hash, doc, actor, at, message) VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING",
			hexColumn(e.Hash), doc, actor, e.At.UnixMilli(), e.Message); err != nil {
			return tx.fail(op, err)
		}
	}
	return nil
}

// historyName returns the number of a document ID or an actor (as
// hexColumn stores it) in history_names, adding it when new. known caches
// the numbers for one call of AddHistory.
func (tx *diskTx) historyName(known map[any]int64, name any) (int64, error) {
	key := name
	if b, ok := name.([]byte); ok {
		key = [2]string{"bytes", string(b)} // []byte is not comparable
	}
	if id, ok := known[key]; ok {
		return id, nil
	}
	var id int64
	err := tx.q.QueryRowContext(tx.ctx, "SELECT id FROM history_names WHERE name = ?", name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		var res sql.Result
		res, err = tx.q.ExecContext(tx.ctx, "INSERT INTO history_names (name) VALUES (?)", name)
		if err == nil {
			id, err = res.LastInsertId()
		}
	}
	if err != nil {
		return 0, err
	}
	known[key] = id
	return id, nil
}

func (tx *diskTx) Put(key string, value []byte) error {
	const op = "put meta"
	if err := tx.check(op); err != nil {
		return err
	}
	if _, err := tx.q.ExecContext(tx.ctx,
		"INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, blob(value)); err != nil {
		return tx.fail(op, err)
	}
	return nil
}

func (tx *diskTx) Delete(key string) error {
	const op = "delete meta"
	if err := tx.check(op); err != nil {
		return err
	}
	if _, err := tx.q.ExecContext(tx.ctx, "DELETE FROM meta WHERE key = ?", key); err != nil {
		return tx.fail(op, err)
	}
	return nil
}
