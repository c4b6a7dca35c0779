package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// applicationID marks a SQLite file as a trustsync store ("TrSy").
const applicationID = 0x54725379

// errForeign is returned by migrate for a SQLite database that belongs to
// another program.
var errForeign = errors.New("not a trustsync store")

// migrations returns the schema changes in order: migrations()[i] takes
// user_version i to i+1. Entries are never edited once released; a change is
// a new entry.
func migrations() []string {
	return []string{
		// 1: the first layout.
		`
CREATE TABLE chunks (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	doc      TEXT    NOT NULL,
	snapshot INTEGER NOT NULL,
	hash     BLOB    NOT NULL, -- SHA-256 of data
	data     BLOB    NOT NULL,
	UNIQUE (doc, hash)
);
CREATE INDEX chunks_doc_seq ON chunks (doc, seq);

CREATE TABLE items (
	kind TEXT NOT NULL,
	id   TEXT NOT NULL,
	doc  TEXT NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (kind, id)
) WITHOUT ROWID;

CREATE TABLE history (
	hash    TEXT    PRIMARY KEY,
	doc     TEXT    NOT NULL,
	actor   TEXT    NOT NULL,
	at      INTEGER NOT NULL, -- Unix milliseconds
	message TEXT    NOT NULL
);
-- Newest first: ORDER BY at DESC, rowid DESC walks this index backwards.
CREATE INDEX history_at ON history (at);

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE quarantine (
	seq      INTEGER NOT NULL,
	doc      TEXT    NOT NULL,
	snapshot INTEGER NOT NULL,
	hash     BLOB    NOT NULL,
	data     BLOB    NOT NULL,
	reason   TEXT    NOT NULL,
	at       INTEGER NOT NULL -- Unix milliseconds
);
`,
		// 2: a smaller layout. Items live in a rowid table: rows are
		// appended in the order they were first written and updated in
		// place, so its pages fill up, where a table keyed by random IDs
		// leaves each page about a third empty. History stores change
		// hashes that are lowercase hex as their bytes (half the size, in
		// the table and in the hash index), and refers to its documents
		// and actors, a handful of values repeated in every entry, by
		// number.
		`
ALTER TABLE items RENAME TO items_v1;
CREATE TABLE items (
	kind TEXT NOT NULL,
	id   TEXT NOT NULL,
	doc  TEXT NOT NULL,
	data BLOB NOT NULL,
	UNIQUE (kind, id)
);
INSERT INTO items (kind, id, doc, data) SELECT kind, id, doc, data FROM items_v1;
DROP TABLE items_v1;

DROP INDEX history_at;
ALTER TABLE history RENAME TO history_v1;
CREATE TABLE history_names (
	id   INTEGER PRIMARY KEY,
	name BLOB    NOT NULL UNIQUE -- a document ID (text), or an actor stored like a hash
);
CREATE TABLE history (
	hash    BLOB    NOT NULL UNIQUE, -- bytes of a lowercase hex hash, else its text
	doc     INTEGER NOT NULL,        -- history_names.id
	actor   INTEGER NOT NULL,        -- history_names.id
	at      INTEGER NOT NULL,        -- Unix milliseconds
	message TEXT    NOT NULL
);
CREATE INDEX history_at ON history (at);
CREATE TEMP TABLE history_conv AS
	SELECT
		rowid AS n,
		CASE WHEN length(hash) > 0 AND length(hash) % 2 = 0 AND lower(hex(unhex(hash))) = hash THEN unhex(hash) ELSE hash END AS hash,
		doc,
		CASE WHEN length(actor) > 0 AND length(actor) % 2 = 0 AND lower(hex(unhex(actor))) = actor THEN unhex(actor) ELSE actor END AS actor,
		at, message
	FROM history_v1;
INSERT INTO history_names (name) SELECT doc FROM history_conv UNION SELECT actor FROM history_conv;
INSERT INTO history (hash, doc, actor, at, message)
	SELECT c.hash, d.id, a.id, c.at, c.message
	FROM history_conv c
	JOIN history_names d ON d.name = c.doc
	JOIN history_names a ON a.name = c.actor
	ORDER BY c.n;
DROP TABLE history_conv;
DROP TABLE history_v1;
`,
		// 3: each chunk may carry a MAC under a key of the device
		// (Options.ChunkKey), and each document's current heads are kept
		// beside its chunks, so that they are known without loading it.
		// Both are added, not copied: a large store migrates at once.
		`
ALTER TABLE chunks ADD COLUMN mac BLOB; -- HMAC-SHA-256 of the chunk (chunkMAC), NULL without a key
CREATE TABLE heads (
	doc    TEXT    PRIMARY KEY,
	seq    INTEGER NOT NULL, -- the chunk the heads belong to
	hashes BLOB    NOT NULL  -- sorted 32-byte change hashes, concatenated
) WITHOUT ROWID;
`,
	}
}

// migrate brings the schema of db up to date and returns the versions it
// found and left. A store already up to date is only read, so that opening
// does not wait for another process's write; otherwise the migration runs in
// one write transaction.
func migrate(ctx context.Context, db *sql.DB) (from, to int, err error) {
	steps := migrations()
	from, err = checkLayout(ctx, db, len(steps))
	if err != nil || from == len(steps) {
		return from, from, err
	}

	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one process migrates at a time
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	// Another process may have migrated meanwhile.
	from, err = checkLayout(ctx, tx, len(steps))
	if err != nil || from == len(steps) {
		return from, from, err
	}
	for v := from; v < len(steps); v++ {
		if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
			return 0, 0, fmt.Errorf("migrate store layout to version %d: %w", v+1, err)
		}
	}
	// PRAGMA takes no parameters; both values are constants of this code.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = %d", applicationID, len(steps))); err != nil {
		return 0, 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	return from, len(steps), nil
}

// checkLayout returns the schema version of a trustsync store, 0 for an empty
// database, errForeign for another program's database and an error wrapping
// ErrNewerVersion for a version above known.
func checkLayout(ctx context.Context, q querier, known int) (int, error) {
	var version, app, tables int
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, err
	}
	if err := q.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
		return 0, err
	}
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&tables); err != nil {
		return 0, err
	}
	switch {
	case app != 0 && app != applicationID, app == 0 && tables > 0:
		return 0, errForeign
	case version > known:
		return 0, fmt.Errorf("%w (its layout is version %d; this build knows up to %d)", ErrNewerVersion, version, known)
	}
	return version, nil
}
