package home_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/internal/keys"
	"github.com/trustsync/trustsync/journal"
	"github.com/trustsync/trustsync/store"
)

// TestOpen_HomeMadeByEarlierVersion builds an encrypted home file by file
// the way earlier versions of the command did (the header, the labels of
// the derived keys, the chunk key, the "config" metadata key, the journal
// directory), then opens it through package home: everything reads back,
// the kept listen port is used as stored, and nothing is renamed.
func TestOpen_HomeMadeByEarlierVersion(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, dataKey, err := keys.Create(dir, []byte(pass), keys.Params{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	d, err := store.Open(dir, store.Options{ChunkKey: keys.Derive(dataKey, "trustsync home chunk check")})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Encrypt(ctx, d, keys.Derive(dataKey, "trustsync home store"))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: "Alex", DeviceName: "old-laptop"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := sp.AddBoundary(ctx, "written by an earlier version")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"listen": []string{"/ip4/127.0.0.1/tcp/45123"}, "mdns": false})
	if err := st.Update(ctx, func(tx trustsync.Tx) error { return tx.Put("config", cfg) }); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(ctx, filepath.Join(dir, "journal"), keys.Derive(dataKey, "trustsync journal"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Add(ctx, "an old private note", 0); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	st.Close()

	h, err := home.Open(dir, home.Options{Passphrase: []byte(pass), Keeper: home.NoKeeper()})
	if err != nil {
		t.Fatalf("Open of a home made by an earlier version: %v", err)
	}
	defer h.Close()
	if b, err := h.Space().Boundary(ctx, id); err != nil || b.Text != "written by an earlier version" {
		t.Fatalf("boundary: %+v, %v", b, err)
	}
	got, err := h.Config(ctx)
	if err != nil || len(got.Listen) != 1 || got.Listen[0] != "/ip4/127.0.0.1/tcp/45123" || got.MDNS {
		t.Fatalf("config: %+v, %v", got, err)
	}
	jj, err := h.OpenJournal(ctx, home.JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer jj.Close()
	es, err := jj.Entries(ctx)
	if err != nil || len(es) != 1 || es[0].Text != "an old private note" {
		t.Fatalf("journal: %+v, %v", es, err)
	}
}
