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
