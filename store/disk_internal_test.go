package store

import (
	"context"
	"database/sql"
	"testing"
	"time"
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
