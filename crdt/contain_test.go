package crdt

// Damage stays small (issue 12): a damaged view row is written again from
// its document while the rest lists, and a damaged document is restored
// from the partner's copy (Import) while the other documents keep working.

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// fltSQL runs statements on the database of the closed disk home dir, as a
// careless tool or bit rot would change it. Each must change a row.
func fltSQL(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(dir, store.FileName))
	noErr(t, err)
	defer db.Close()
	for _, q := range stmts {
		res, err := db.Exec(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			t.Fatalf("%s: changed no row", q)
		}
	}
}

// TestFaults_DamagedViewRow damages the view rows of a boundary, a goal and
// a member in the SQLite file. Every listing still shows every item, the
// rows are written again from the documents, and the space keeps taking
// writes. When the boundaries document is damaged too, so that the row
// cannot be rewritten, the other boundaries list and the error names the
// damaged one alone.
func TestFaults_DamagedViewRow(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	s, st := fltCreate(t, home, "Sam", "sam-laptop", Options{})
	var ids []string
	for _, text := range []string{"one", "two", "three", "four", "five"} {
		ids = append(ids, must[string](t)(s.AddBoundary(ctx, "boundary "+text)))
	}
	goal := must[string](t)(s.AddGoal(ctx, "a goal", "why"))
	want := fltState(t, s, true)
	me := s.Self().MemberID
	noErr(t, s.Close())
	noErr(t, st.Close())

	fltSQL(t, home,
		`UPDATE items SET data = X'7b2274657874223a' WHERE kind = 'boundary' AND id = '`+ids[2]+`'`,
		`UPDATE items SET data = X'00ff' WHERE kind = 'goal' AND id = '`+goal+`'`,
		`UPDATE items SET data = X'5b' WHERE kind = 'member' AND id = '`+me+`'`)

	s, st = fltOpen(t, home)
	bs, err := s.Boundaries(ctx, ListOptions{})
	if err != nil || len(bs) != len(ids) {
		t.Fatalf("boundaries with one damaged view row: %d listed, %v; want all %d", len(bs), err, len(ids))
	}
	if got := fltState(t, s, true); got != want {
		t.Fatalf("after rewriting the rows the space shows\n%s\nwant\n%s", got, want)
	}
	// The rows were written again, so a plain read decodes them.
	noErr(t, st.View(ctx, func(tx trustsync.ReadTx) error {
		it, err := tx.Item(KindBoundary, ids[2])
		if err != nil {
			return err
		}
		_, err = readBoundary(it)
		return err
	}))
	must[string](t)(s.AddBoundary(ctx, "written after the repair"))
	ids = append(ids, must[string](t)(s.AddBoundary(ctx, "and one more")))
	noErr(t, s.Close())
	noErr(t, st.Close())

	// The document cannot be read either: its rows cannot be rewritten.
	fltSQL(t, home,
		`UPDATE items SET data = X'7b' WHERE kind = 'boundary' AND id = '`+ids[2]+`'`,
		`UPDATE chunks SET data = data || X'00' WHERE doc = 'boundaries'`)
	s, st = fltOpen(t, home)
	defer func() { s.Close(); st.Close() }()
	bs, err = s.Boundaries(ctx, ListOptions{})
	var de *trustsync.DamagedError
	if !errors.As(err, &de) || !strings.Contains(de.What, ids[2]) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error = %v; want one line naming boundary %s as damaged", err, ids[2])
	}
	if len(bs) != len(ids) {
		t.Fatalf("%d boundaries listed beside the damaged one, want %d", len(bs), len(ids))
	}
	for _, b := range bs {
		if b.ID == ids[2] {
			t.Fatalf("the damaged boundary is listed: %+v", b)
		}
	}
	t.Logf("listed %d boundaries; %v", len(bs), err)
	// Other documents keep taking writes.
	must[string](t)(s.AddGoal(ctx, "another goal", ""))

	// A member's row and the space document it comes from: whom a sync
	// may trust cannot be read, so the error says to restore a backup
	// rather than to sync.
	noErr(t, s.Close())
	noErr(t, st.Close())
	fltSQL(t, home,
		`UPDATE items SET data = X'5b' WHERE kind = 'member' AND id = '`+me+`'`,
		`UPDATE chunks SET data = data || X'00' WHERE doc = 'space'`)
	s, st = fltOpen(t, home)
	_, err = s.Members(ctx)
	if !errors.As(err, &de) || !strings.Contains(de.What, me) || !strings.Contains(de.Hint, "restore a backup") ||
		strings.Contains(de.Hint, "sync with") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("members with the space document damaged too: %v; want one line saying to restore a backup", err)
	}
	must[string](t)(s.AddGoal(ctx, "the goals still take writes", ""))
}

// TestFaults_DamagedDocumentRestoredByImport damages the boundaries
// document of one of two paired devices, by a chunk failing its checksum
// and by a chunk with a valid checksum that Automerge cannot load. Writes
// to it are refused in one line naming it while the other documents take
// writes; importing the partner's copy sets the damaged chunk aside and
// brings every synced boundary back; the document takes writes again and
// stays whole when the home is reopened.
func TestFaults_DamagedDocumentRestoredByImport(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(t *testing.T, home string)
	}{
		{"checksum mismatch", func(t *testing.T, home string) {
			fltSQL(t, home, `UPDATE chunks SET data = data || X'00' WHERE seq = (SELECT max(seq) FROM chunks WHERE doc = 'boundaries')`)
		}},
		{"undecodable chunk", func(t *testing.T, home string) {
			st, err := store.Open(home, store.Options{})
			noErr(t, err)
			noErr(t, st.Update(context.Background(), func(tx trustsync.Tx) error {
				_, err := tx.AppendChunk(BoundariesDoc, []byte("\x85\x6f\x4a\x83 not an automerge chunk"))
				return err
			}))
			noErr(t, st.Close())
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			homeA, homeB := t.TempDir(), t.TempDir()
			a, sta := fltCreate(t, homeA, "Sam", "sam-laptop", Options{})
			b, stb := fltCreate(t, homeB, "Alex", "alex-phone", Options{})
			defer stb.Close()
			defer b.Close()
			fltPair(t, a, b)
			acked := fltAcked{}
			for _, text := range []string{"one", "two", "three"} {
				acked[must[string](t)(a.AddBoundary(ctx, "Sam's "+text))] = KindBoundary
				acked[must[string](t)(b.AddBoundary(ctx, "Alex's "+text))] = KindBoundary
			}
			acked[must[string](t)(a.AddGoal(ctx, "a goal", ""))] = KindGoal
			fltSync(t, a, b, nil)
			noErr(t, a.Close())
			noErr(t, sta.Close())

			tt.damage(t, homeA)
			a, sta = fltOpen(t, homeA)
			_, err := a.AddBoundary(ctx, "refused")
			var de *trustsync.DamagedError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), `"boundaries"`) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("write to the damaged document: %v; want one line naming it", err)
			}
			acked[must[string](t)(a.AddGoal(ctx, "the other documents work", ""))] = KindGoal

			rec, err := a.Import(ctx, BoundariesDoc, must[[]byte](t)(b.SaveSigned(ctx, BoundariesDoc)), b.Self().DeviceID)
			if err != nil || rec.Restored != 1 {
				t.Fatalf("import of the partner's copy: %+v, %v; want 1 chunk set aside", rec, err)
			}
			acked[must[string](t)(a.AddBoundary(ctx, "written after the restore"))] = KindBoundary
			if n := acked.check(t, a, "restored"); n != len(acked) {
				t.Fatalf("%d of %d acknowledged items after the restore", n, len(acked))
			}
			q := must[[]trustsync.Chunk](t)(sta.Quarantined())
			if len(q) != 1 || q[0].Doc != BoundariesDoc {
				t.Fatalf("quarantine holds %d chunks, want the damaged one", len(q))
			}
			noErr(t, a.Close())
			noErr(t, sta.Close())
			a, sta = fltOpen(t, homeA)
			defer sta.Close()
			defer a.Close()
			if n := acked.check(t, a, "reopened"); n != len(acked) {
				t.Fatalf("%d of %d acknowledged items after reopening", n, len(acked))
			}
			fltSync(t, a, b, nil)
			if ga, gb := fltState(t, a, true), fltState(t, b, true); ga != gb {
				t.Fatalf("the devices differ after syncing:\n%s\n--\n%s", ga, gb)
			}
		})
	}
}
