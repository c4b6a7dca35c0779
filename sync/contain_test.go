package sync

// Damage stays small (issue 12): a document one device cannot read is left
// out of its sessions, named on both sides, and restored from the other
// device's copy, while every other document syncs.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

// fltDiskDevice is a test device whose space lives on disk in dir, so that
// its SQLite file can be damaged while it is closed.
func fltDiskDevice(t *testing.T, dir, member string) *device {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(dir, store.Options{})
	must(t, err)
	sp, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: member, DeviceName: member + "-laptop"})
	must(t, err)
	key, err := LoadOrCreateKey(ctx, st)
	must(t, err)
	id, err := peer.IDFromPrivateKey(key)
	must(t, err)
	d := &device{space: sp, st: st, key: key, id: id}
	t.Cleanup(func() { d.space.Close(); d.st.Close() })
	return d
}

// fltReopen closes the space and store of the disk device d, runs damage on
// its database file, and opens them again, as a restarted process would.
func fltReopen(t *testing.T, d *device, dir string, damage ...string) {
	t.Helper()
	must(t, d.space.Close())
	must(t, d.st.Close())
	db, err := sql.Open("sqlite3", filepath.Join(dir, store.FileName))
	must(t, err)
	for _, q := range damage {
		res, err := db.Exec(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			t.Fatalf("%s: changed no row", q)
		}
	}
	must(t, db.Close())
	st, err := store.Open(dir, store.Options{})
	must(t, err)
	sp, err := crdt.Open(context.Background(), st, crdt.Options{})
	must(t, err)
	d.st, d.space = st, sp
}

// fltBadChunk damages the latest stored chunk of doc: it fails its checksum.
func fltBadChunk(doc string) string {
	return `UPDATE chunks SET data = data || X'00' WHERE seq = (SELECT max(seq) FROM chunks WHERE doc = '` + doc + `')`
}

// fltGarbageChunk appends to doc a chunk with a valid checksum that
// Automerge cannot load, as a bug might.
func fltGarbageChunk(doc string) string {
	b := []byte("\x85\x6f\x4a\x83 not an automerge chunk")
	h := sha256.Sum256(b)
	return fmt.Sprintf(`INSERT INTO chunks (doc, snapshot, hash, data) VALUES ('%s', 0, x'%x', x'%x')`, doc, h, b)
}

// fltWaitEvent waits for an event of typ about doc, failing after a minute
// (a hang detector).
func fltWaitEvent(t *testing.T, events <-chan Event, typ EventType, doc string, remote bool) Event {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("events closed while waiting for %v of %s", typ, doc)
			}
			if ev.Type == typ && ev.Damage.Doc == doc && ev.Damage.Remote == remote {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %v event for %s (remote %v) within a minute", typ, doc, remote)
		}
	}
}

// TestFaults_DamagedDocumentOverLibp2p runs two nodes on 127.0.0.1. The
// boundaries and space documents of one device (the space document holds
// the devices the hello is checked against) are damaged on its disk while it
// is offline: its next sync syncs every other document, both sides are told
// which document and why, and the partner's copies restore both. A damaged
// document the partner does not have stays damaged and is reported by name
// while the rest syncs. The processes live on and every item acknowledged
// on either side is there at the end.
func TestFaults_DamagedDocumentOverLibp2p(t *testing.T) {
	fltNoLeaks(t)
	ctx := context.Background()
	dirA := t.TempDir()
	a, b := fltDiskDevice(t, dirA, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	var acked []string
	for _, text := range []string{"one", "two", "three"} {
		acked = append(acked, fltEdit(t, a, "Alex's "+text), fltEdit(t, b, "Sam's "+text))
	}
	na, nb := a.start(t), b.start(t)
	connect(t, na, nb)
	waitSynced(t, na, nb)
	sameState(t, a, b)
	waitAddrs(t, a, b)
	// A restarted node dials the partner at once, so what the session
	// received may be counted before SyncOnce is called: the tests look
	// at the items themselves.
	syncOnce := func(t *testing.T) PeerReport {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		rep, err := na.SyncOnce(sctx)
		if err != nil || len(rep.Peers) != 1 {
			t.Fatalf("SyncOnce: %v, %d devices", err, len(rep.Peers))
		}
		return rep.Peers[0]
	}

	t.Run("restored from the partner", func(t *testing.T) {
		must(t, na.Close())
		fltReopen(t, a, dirA, fltBadChunk(crdt.BoundariesDoc), fltBadChunk(crdt.SpaceDoc))
		if _, err := a.space.AddBoundary(ctx, "refused"); !errors.Is(err, trustsync.ErrDamaged) {
			t.Fatalf("write to the damaged document: %v; want it refused as damaged", err)
		}
		goal, err := b.space.AddGoal(ctx, "a goal written meanwhile", "")
		must(t, err)
		acked = append(acked, fltEdit(t, b, "Sam's while Alex is away"))
		evB, stopB := nb.Subscribe()
		defer stopB()
		na = a.start(t)
		p := syncOnce(t)
		if !p.OK || len(p.Damaged) != 0 || !slices.Equal(p.Restored, []string{crdt.BoundariesDoc, crdt.SpaceDoc}) {
			t.Fatalf("report: ok=%v damaged=%+v restored=%v err=%v; want both documents restored", p.OK, p.Damaged, p.Restored, p.Err)
		}
		if p.Remote.MemberName != "Sam" || p.Remote.DeviceName != "Sam-laptop" {
			t.Errorf("synced with %+v, want Sam's laptop", p.Remote)
		}
		// The partner was told, by name, and why.
		for _, doc := range []string{crdt.BoundariesDoc, crdt.SpaceDoc} {
			ev := fltWaitEvent(t, evB, DocDamaged, doc, true)
			if ev.Remote.MemberName != "Alex" || !strings.Contains(ev.Damage.Reason, "damaged") || !strings.Contains(ev.Damage.Reason, doc) {
				t.Errorf("the partner's damage event: %+v", ev)
			}
		}
		if _, err := a.space.Goal(ctx, goal); err != nil {
			t.Errorf("the goal written meanwhile: %v", err)
		}
		acked = append(acked, fltEdit(t, a, "Alex writes again"))
		waitSynced(t, na, nb)
		sameState(t, a, b)
		fltHas(t, a, acked, "the restored device")
		fltHas(t, b, acked, "the partner")
	})

	t.Run("no copy to restore from", func(t *testing.T) {
		must(t, na.Close())
		// A check-in the partner never received, in a document of its
		// own, then damage to that document.
		_, err := a.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: "never synced"})
		must(t, err)
		docs, err := a.space.Docs(ctx)
		must(t, err)
		var checkins string
		for _, d := range docs {
			if strings.HasPrefix(d, "checkins/") {
				checkins = d
			}
		}
		fltReopen(t, a, dirA, fltGarbageChunk(checkins))
		acked = append(acked, fltEdit(t, b, "Sam's latest"))
		evB, stopB := nb.Subscribe()
		defer stopB()
		na = a.start(t)
		p := syncOnce(t)
		if !p.OK || len(p.Damaged) != 1 || p.Damaged[0].Doc != checkins || p.Damaged[0].Remote ||
			!strings.Contains(p.Damaged[0].Reason, checkins) || strings.Contains(p.Damaged[0].Reason, "\n") {
			t.Fatalf("report: ok=%v damaged=%+v err=%v; want %s named as damaged here, the rest synced", p.OK, p.Damaged, p.Err, checkins)
		}
		t.Logf("reported: %+v", p.Damaged[0])
		fltWaitEvent(t, evB, DocDamaged, checkins, true)
		fltHas(t, a, acked, "the damaged device")
		acked = append(acked, fltEdit(t, a, "the other documents take writes"))
		waitSynced(t, na, nb)
		fltHas(t, b, acked, "the partner")
	})
}
