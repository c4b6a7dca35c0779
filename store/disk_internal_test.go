package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
)

// TestOpen_ConnectionSettings checks what SIGKILL tests cannot: that every
// pooled connection fsyncs each commit (synchronous=FULL; a power loss
// would otherwise lose acknowledged writes), waits the busy timeout, and
// that the database is in WAL mode.
func TestOpen_ConnectionSettings(t *testing.T) {
	d, err := Open(t.TempDir(), Options{BusyTimeout: 1234 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	// Hold several connections at once so that each is a different one.
	var conns []*sql.Conn
	for range 3 {
		c, err := d.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns {
		var sync, busy int
		var mode string
		if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if sync != 2 || busy != 1234 || mode != "wal" {
			t.Errorf("connection %d: synchronous=%d busy_timeout=%d journal_mode=%s; want 2 (FULL), 1234, wal", i, sync, busy, mode)
		}
		var autoVacuum, walPages, walLimit int
		for q, v := range map[string]*int{"auto_vacuum": &autoVacuum, "wal_autocheckpoint": &walPages, "journal_size_limit": &walLimit} {
			if err := c.QueryRowContext(ctx, "PRAGMA "+q).Scan(v); err != nil {
				t.Fatal(err)
			}
		}
		if autoVacuum != 2 || walPages != walCheckpointPages || walLimit != walSizeLimit {
			t.Errorf("connection %d: auto_vacuum=%d wal_autocheckpoint=%d journal_size_limit=%d; want 2 (INCREMENTAL), %d, %d",
				i, autoVacuum, walPages, walLimit, walCheckpointPages, walSizeLimit)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", false},
		{"abc", "abd", true},
		{"ab\xff", "ac", true},
		{"\xff\xff", "", false},
		{"é", "\xc3\xaa", true},
	} {
		got, ok := prefixEnd(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestOpen_MigratesLayout1 opens a store written with the first layout:
// items and history (text hashes and actors, and one that is not hex) come
// through unchanged and in order, a known hash is still a duplicate, and the
// file is vacuumed into auto_vacuum=INCREMENTAL.
func TestOpen_MigratesLayout1(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	old, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	hashA := strings.Repeat("ab", 32)
	hashB := strings.Repeat("0f", 32)
	actor := strings.Repeat("c3", 16)
	for _, q := range []string{
		"PRAGMA journal_mode=WAL",
		migrations()[0],
		fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = 1", applicationID),
		fmt.Sprintf(`INSERT INTO chunks (doc, snapshot, hash, data) VALUES ('boundaries', 0, x'%x', x'01')`, checksum([]byte{1})),
		`INSERT INTO items (kind, id, doc, data) VALUES ('boundary', 'b1', 'boundaries', '{"text":"one"}'), ('boundary', 'b2', 'boundaries', '{"text":"two"}')`,
		`INSERT INTO history (hash, doc, actor, at, message) VALUES
			('` + hashA + `', 'boundaries', '` + actor + `', 5, 'first'),
			('not-hex', 'boundaries', 'SomeActor', 5, 'second'),
			('` + hashB + `', 'goals', '` + actor + `', 3, 'oldest')`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	d, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	var version, autoVacuum int
	if err := d.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if err := d.db.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&autoVacuum); err != nil {
		t.Fatal(err)
	}
	if version != len(migrations()) || autoVacuum != 2 {
		t.Errorf("after migration: user_version=%d auto_vacuum=%d, want %d and 2", version, autoVacuum, len(migrations()))
	}
	want := []trustsync.HistoryEntry{
		{Hash: "not-hex", Doc: "boundaries", Actor: "SomeActor", At: time.UnixMilli(5), Message: "second"},
		{Hash: hashA, Doc: "boundaries", Actor: actor, At: time.UnixMilli(5), Message: "first"},
		{Hash: hashB, Doc: "goals", Actor: actor, At: time.UnixMilli(3), Message: "oldest"},
	}
	err = d.Update(ctx, func(tx trustsync.Tx) error {
		// Already there: nothing is added.
		if err := tx.AddHistory(trustsync.HistoryEntry{Hash: hashA, Doc: "x", Actor: "y", At: time.UnixMilli(9), Message: "again"},
			trustsync.HistoryEntry{Hash: "not-hex", Doc: "x", Actor: "y", At: time.UnixMilli(9), Message: "again"}); err != nil {
			return err
		}
		return tx.PutItem(trustsync.Item{Kind: "boundary", ID: "b1", Doc: "boundaries", Data: []byte(`{"text":"uno"}`)})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = d.View(ctx, func(tx trustsync.ReadTx) error {
		got, err := tx.History(0, 0)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("history after migration:\n%+v\nwant\n%+v", got, want)
		}
		items, err := tx.Items("boundary")
		if err != nil {
			return err
		}
		texts := map[string]string{}
		for _, it := range items {
			texts[it.ID] = string(it.Data)
		}
		if len(texts) != 2 || texts["b1"] != `{"text":"uno"}` || texts["b2"] != `{"text":"two"}` {
			t.Errorf("items after migration: %v", texts)
		}
		cs, err := tx.Chunks("boundaries", 0)
		if err != nil || len(cs) != 1 {
			t.Errorf("chunks after migration: %d, %v", len(cs), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCompact_GivesPagesBack compacts a document whose chunks filled
// hundreds of pages into a small snapshot: the pages freed beyond
// freePagesKept go back to the file system in the same Update.
func TestCompact_GivesPagesBack(t *testing.T) {
	d, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	pages := func() (count, free int) {
		t.Helper()
		if err := d.db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&count); err != nil {
			t.Fatal(err)
		}
		if err := d.db.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
			t.Fatal(err)
		}
		return count, free
	}
	var last int64
	err = d.Update(ctx, func(tx trustsync.Tx) error {
		for i := range 300 {
			data := []byte(fmt.Sprintf("%d%s", i, strings.Repeat("x", 3000)))
			if last, err = tx.AppendChunk("boundaries", data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := pages()
	err = d.Update(ctx, func(tx trustsync.Tx) error {
		_, err := tx.Compact("boundaries", []byte("snapshot"), last)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	after, free := pages()
	if free > freePagesKept || after > before-300+freePagesKept {
		t.Errorf("after compacting 300 chunks of ~3 KB: %d pages (%d before), %d free; want at most %d free", after, before, free, freePagesKept)
	}
}

// TestOpen_MigratesLayout2 opens a store written with the second layout,
// before heads and chunk MACs: its chunks read as before, unchecked even
// under a key, no heads are current until recorded, and new chunks get
// their MAC.
func TestOpen_MigratesLayout2(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	old, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"PRAGMA journal_mode=WAL",
		migrations()[0],
		migrations()[1],
		fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = 2", applicationID),
		fmt.Sprintf(`INSERT INTO chunks (doc, snapshot, hash, data) VALUES ('boundaries', 1, x'%x', x'01')`, checksum([]byte{1})),
		fmt.Sprintf(`INSERT INTO chunks (doc, snapshot, hash, data) VALUES ('boundaries', 0, x'%x', x'02')`, checksum([]byte{2})),
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	d, err := Open(dir, Options{ChunkKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	var version int
	if err := d.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != len(migrations()) {
		t.Errorf("after migration: user_version=%d, want %d", version, len(migrations()))
	}
	err = d.View(ctx, func(tx trustsync.ReadTx) error {
		cs, err := tx.Chunks("boundaries", 0)
		if err != nil || len(cs) != 2 || cs[0].Checked || cs[1].Checked || !cs[0].Snapshot || cs[1].Data[0] != 2 {
			t.Errorf("chunks after migration: %+v, %v", cs, err)
		}
		if _, ok, err := tx.Heads("boundaries"); ok || err != nil {
			t.Errorf("heads after migration: ok=%v, err=%v", ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Update(ctx, func(tx trustsync.Tx) error {
		seq, err := tx.AppendChunk("boundaries", []byte{3})
		if err != nil {
			return err
		}
		return tx.PutHeads("boundaries", trustsync.DocHeads{Seq: seq, Hashes: []byte("h")})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = d.View(ctx, func(tx trustsync.ReadTx) error {
		cs, err := tx.Chunks("boundaries", 0)
		if err != nil || len(cs) != 3 || cs[1].Checked || !cs[2].Checked {
			t.Errorf("chunks after a new one: %+v, %v", cs, err)
		}
		if h, ok, err := tx.Heads("boundaries"); !ok || err != nil || string(h.Hashes) != "h" {
			t.Errorf("heads after recording them: %+v, %v, %v", h, ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
