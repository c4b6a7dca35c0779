package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/trustsync/trustsync"
)

// FileName is the name of the SQLite database that [Open] keeps in its
// directory.
const FileName = "trustsync.db"

// DefaultBusyTimeout is how long Update waits for another writer when
// [Options.BusyTimeout] is zero.
const DefaultBusyTimeout = 5 * time.Second

// ErrNewerVersion is returned by [Open] for a store written by a newer
// version of trustsync, whose layout this build does not know.
var ErrNewerVersion = errors.New("store written by a newer version of trustsync")

// ErrNotWritable is wrapped by the error of a store whose database file,
// or the directory holding it, this process may not write: SQLite's
// read-only and permission errors. errors.Is(err, fs.ErrPermission) holds
// for it too.
var ErrNotWritable error = notWritable{}

type notWritable struct{}

func (notWritable) Error() string        { return "the store's file cannot be written" }
func (notWritable) Is(target error) bool { return target == fs.ErrPermission }

// Options configures [Open]. The zero value works.
type Options struct {
	// BusyTimeout is how long Update waits for another writer, in this
	// process or another one, before it returns an error wrapping
	// [trustsync.ErrBusy]. Zero means [DefaultBusyTimeout].
	BusyTimeout time.Duration

	// Logger receives what the store has to say about opening, migrating,
	// damaged chunks and closing. Nil discards it.
	Logger *slog.Logger

	// ChunkKey, when set, is a secret key of this device (at least
	// [MinChunkKeySize] bytes). Every chunk stored is then written with an
	// HMAC-SHA-256 of its document and bytes under this key, and Chunks
	// sets [trustsync.Chunk.Checked] on each chunk whose MAC verifies: the
	// same bytes a writer holding the key stored. Nil means no MACs are
	// written and none are trusted.
	ChunkKey []byte
}

// MinChunkKeySize is the smallest [Options.ChunkKey] Open accepts.
const MinChunkKeySize = 16

// Disk is a [trustsync.Store] kept in a SQLite database file. Several
// processes may open the same directory; their Updates are serialised by
// SQLite's write lock. It is safe for concurrent use.
type Disk struct {
	path   string
	db     *sql.DB
	busy   time.Duration
	log    *slog.Logger
	mac    []byte        // Options.ChunkKey; nil for none
	writer chan struct{} // one token: the Update of this process that holds the write lock

	mu       sync.Mutex // guards closed and the Add of inflight
	closed   bool
	inflight sync.WaitGroup // View, Update and inspection calls in progress
}

var _ trustsync.Store = (*Disk)(nil)

// Open opens the store in dir, creating dir (mode 0700) and the database
// file [FileName] (mode 0600) if they do not exist, and bringing an older
// layout up to date.
//
// A file that is not a SQLite database gives an error wrapping
// [trustsync.ErrDamaged]; one written by a newer trustsync gives an error
// wrapping [ErrNewerVersion].
func Open(dir string, opts Options) (*Disk, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if len(opts.ChunkKey) > 0 && len(opts.ChunkKey) < MinChunkKeySize {
		return nil, fmt.Errorf("open store: chunk key of %d bytes, want at least %d: %w", len(opts.ChunkKey), MinChunkKeySize, trustsync.ErrInvalid)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	path := filepath.Join(abs, FileName)
	// Create the file ourselves so that it gets mode 0600; SQLite gives its
	// -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}

	q := url.Values{}
	q.Set("_txlock", "immediate") // db.BeginTx takes the write lock at once
	q.Set("_busy_timeout", strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10))
	q.Set("_synchronous", "FULL") // fsync the WAL at every commit
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	registerDriver.Do(func() {
		sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: connectHook})
	})
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(2)

	var mac []byte
	if len(opts.ChunkKey) > 0 {
		mac = clone(opts.ChunkKey)
	}
	d := &Disk{
		mac:    mac,
		path:   path,
		db:     db,
		busy:   opts.BusyTimeout,
		log:    opts.Logger,
		writer: make(chan struct{}, 1),
	}
	if err := d.setup(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// driverName is the database/sql driver of [Disk]: go-sqlite3 with
// connectHook.
const driverName = "sqlite3-trustsync"

var registerDriver sync.Once

// The write-ahead log is checkpointed into the database file once it holds
// walCheckpointPages pages (SQLite's default is 1000, 4 MiB), and a log
// file that grew past walSizeLimit is truncated to it when it restarts, so
// it does not keep the size of its busiest moment.
const (
	walCheckpointPages = 256
	walSizeLimit       = 1 << 20
)

// connectHook sets what the DSN cannot on every new connection.
func connectHook(c *sqlite3.SQLiteConn) error {
	_, err := c.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = %d; PRAGMA journal_size_limit = %d",
		walCheckpointPages, walSizeLimit), nil)
	return err
}

// setup checks that the file is a trustsync store (or empty), switches it to
// WAL mode and migrates its schema.
func (d *Disk) setup(ctx context.Context) error {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return d.openErr(err)
	}
	defer conn.Close()
	// Refuse a file that is not ours before changing anything in it.
	if _, err := checkLayout(ctx, conn, len(migrations())); err != nil {
		return d.openErr(err)
	}
	// A new file gets auto_vacuum=INCREMENTAL, so that pages freed by
	// compactions can be given back (see trimFreePages). It must be set
	// before the first write to the file, which switching to WAL is, and
	// on the same connection.
	var pages int
	if err := conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return d.openErr(err)
	}
	if pages == 0 {
		if _, err := conn.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
			return d.openErr(err)
		}
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		return d.openErr(err)
	}
	if mode != "wal" {
		return fmt.Errorf("open store %s: cannot use write-ahead logging here (journal mode stays %q)", d.path, mode)
	}
	conn.Close()
	from, to, err := migrate(ctx, d.db)
	if err != nil {
		return d.openErr(err)
	}
	if from != to {
		d.log.Info("store schema upgraded", "path", d.path, "from", from, "to", to)
	}
	if from > 0 && from != to {
		d.vacuum(ctx)
	}
	d.log.Debug("store opened", "path", d.path, "schema", to)
	return nil
}

// openErr turns an error met while opening into a one-line explanation.
func (d *Disk) openErr(err error) error {
	var se sqlite3.Error
	switch {
	case errors.Is(err, ErrNewerVersion):
		return fmt.Errorf("open store %s: %w: upgrade trustsync to open it", d.path, err)
	case errors.Is(err, errForeign):
		return fmt.Errorf("open store: %w", &trustsync.DamagedError{
			What: "store file " + d.path,
			Why:  "it holds another program's tables, not a trustsync store",
			Hint: "move it aside or choose another home directory",
		})
	case errors.As(err, &se) && (se.Code == sqlite3.ErrNotADB || se.Code == sqlite3.ErrCorrupt):
		return fmt.Errorf("open store: %w", d.damagedFile(err))
	}
	return fmt.Errorf("open store %s: %w", d.path, d.sqlErr(err))
}

// damagedFile describes a database file SQLite cannot read.
func (d *Disk) damagedFile(err error) *trustsync.DamagedError {
	var se sqlite3.Error
	why := "unreadable"
	if errors.As(err, &se) && se.Code == sqlite3.ErrNotADB {
		why = "not a SQLite database"
	} else if errors.As(err, &se) {
		why = se.Error()
	}
	return &trustsync.DamagedError{
		What: "store file " + d.path,
		Why:  why,
		Hint: "move it aside, then sync with your partner to get your shared data back",
	}
}

// sqlErr maps SQLite's busy, corruption and disk-full errors to trustsync's.
func (d *Disk) sqlErr(err error) error {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case sqlite3.ErrBusy, sqlite3.ErrLocked:
		return d.busyErr("another trustsync process")
	case sqlite3.ErrCorrupt, sqlite3.ErrNotADB:
		return d.damagedFile(err)
	case sqlite3.ErrFull:
		return fmt.Errorf("%w (%s): free some space, then try again", trustsync.ErrNoSpace, d.path)
	case sqlite3.ErrReadonly, sqlite3.ErrPerm:
		return fmt.Errorf("%s: %w (%v)", d.path, ErrNotWritable, se)
	case sqlite3.ErrIoErr:
		// A file size limit (EFBIG) or a quota (EDQUOT) is the same to
		// the user as a full disk; SQLite reports them as I/O errors.
		if se.SystemErrno == syscall.ENOSPC || se.SystemErrno == syscall.EFBIG || se.SystemErrno == syscall.EDQUOT {
			return fmt.Errorf("%w (%s: %s): free some space, then try again", trustsync.ErrNoSpace, d.path, se.SystemErrno)
		}
	}
	return err
}

func (d *Disk) busyErr(holder string) error {
	d.log.Warn("store busy", "path", d.path, "waited", d.busy)
	return fmt.Errorf("%w: %s has held the store for %s", trustsync.ErrBusy, holder, d.busy)
}

// enter registers a call in progress, or fails once the store is closed.
func (d *Disk) enter(op string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("%s: %w", op, trustsync.ErrClosed)
	}
	d.inflight.Add(1)
	return nil
}

// Path returns the database file's path.
func (d *Disk) Path() string { return d.path }

// Size returns the bytes the store takes on disk: the database file and its
// write-ahead log.
func (d *Disk) Size() (int64, error) {
	if err := d.enter("store size"); err != nil {
		return 0, err
	}
	defer d.inflight.Done()
	var total int64
	for _, p := range []string{d.path, d.path + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("store size: %w", err)
		}
		total += fi.Size()
	}
	return total, nil
}

// View runs fn in a read transaction: fn sees the store as it was at its
// first read, whatever other processes commit meanwhile.
func (d *Disk) View(ctx context.Context, fn func(trustsync.ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := d.enter("view store"); err != nil {
		return err
	}
	defer d.inflight.Done()

	conn, err := d.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("view store: %w", d.sqlErr(err))
	}
	defer conn.Close()
	// A deferred BEGIN: the connection's DSN makes db.BeginTx take the
	// write lock, which a reader must not.
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("view store: %w", d.sqlErr(err))
	}
	defer func() {
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			// Never hand a connection with an open transaction back to
			// the pool.
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx := &diskTx{ctx: ctx, q: conn, d: d}
	defer tx.end()
	return fn(readOnly{tx})
}

// Update runs fn in a write transaction that holds SQLite's write lock
// (BEGIN IMMEDIATE), so no other process or goroutine writes meanwhile, and
// commits it durably if fn returns nil: the write-ahead log is fsynced before
// Update returns. If fn returns an error, nothing it did is kept and Update
// returns that error unchanged.
//
// When another writer holds the store for longer than the busy timeout,
// Update returns an error wrapping [trustsync.ErrBusy]. fn must not call
// Update itself.
func (d *Disk) Update(ctx context.Context, fn func(trustsync.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := d.enter("update store"); err != nil {
		return err
	}
	defer d.inflight.Done()

	timer := time.NewTimer(d.busy)
	select {
	case d.writer <- struct{}{}:
		timer.Stop()
	case <-ctx.Done():
		timer.Stop()
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("update store: %w", d.busyErr("another Update in this process"))
	}
	defer func() { <-d.writer }()

	sqlTx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("update store: %w", d.sqlErr(err))
	}
	defer sqlTx.Rollback() // after a panic in fn; a no-op after Commit
	tx := &diskTx{ctx: ctx, q: sqlTx, d: d}
	err = fn(tx)
	tx.end()
	if err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("update store: not committed: %w", ctx.Err())
		}
		return fmt.Errorf("update store: commit: %w", d.sqlErr(err))
	}
	return nil
}

// Close checkpoints the write-ahead log into the database file when no other
// process is using it, and closes the database. It waits for the calls in
// progress, so it must not be called from inside View or Update. It is safe
// to call more than once; afterwards View, Update, Size and Quarantined return
// an error wrapping [trustsync.ErrClosed].
func (d *Disk) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.inflight.Wait()

	d.checkpoint()
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	d.log.Debug("store closed", "path", d.path)
	return nil
}

// checkpoint copies the write-ahead log into the database file and truncates
// it, without waiting: if another process is reading or writing, the log
// stays and SQLite checkpoints it later.
func (d *Disk) checkpoint() {
	ctx := context.Background()
	conn, err := d.db.Conn(ctx)
	if err != nil {
		d.log.Warn("store checkpoint skipped", "path", d.path, "err", err)
		return
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		d.log.Warn("store checkpoint skipped", "path", d.path, "err", err)
		return
	}
	var busy, logPages, done int
	err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done)
	switch {
	case err != nil:
		d.log.Warn("store checkpoint failed", "path", d.path, "err", err)
	case busy != 0:
		d.log.Debug("store checkpoint postponed: store in use", "path", d.path)
	}
}

// vacuum rewrites the database file after a migration: the tables that a
// migration copied leave their old pages free, and a store created before
// auto_vacuum=INCREMENTAL gets it now. It is best effort: another process
// using the store makes it give up at once, and the free pages are then
// reused by later writes.
func (d *Disk) vacuum(ctx context.Context) {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		d.log.Warn("store vacuum skipped", "path", d.path, "err", err)
		return
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		d.log.Warn("store vacuum skipped", "path", d.path, "err", err)
		return
	}
	defer conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", d.busy.Milliseconds()))
	if _, err := conn.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL; VACUUM"); err != nil {
		d.log.Info("store vacuum postponed: store in use", "path", d.path, "err", err)
		return
	}
	d.log.Debug("store vacuumed", "path", d.path)
}

// Quarantined returns the chunks set aside by Quarantine, oldest first, with
// their bytes as stored (which may fail their checksum). It is meant for
// inspection and tests.
func (d *Disk) Quarantined() ([]trustsync.Chunk, error) {
	var out []trustsync.Chunk
	if err := d.enter("read quarantine"); err != nil {
		return nil, err
	}
	defer d.inflight.Done()
	rows, err := d.db.Query("SELECT seq, doc, snapshot, data FROM quarantine ORDER BY rowid")
	if err != nil {
		return nil, fmt.Errorf("read quarantine: %w", d.sqlErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var c trustsync.Chunk
		if err := rows.Scan(&c.Seq, &c.Doc, &c.Snapshot, &c.Data); err != nil {
			return nil, fmt.Errorf("read quarantine: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read quarantine: %w", d.sqlErr(err))
	}
	return out, nil
}
