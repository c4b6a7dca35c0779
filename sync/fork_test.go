package sync

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

// TestFaults_ForkedDocumentOverLibp2p: Alex's home is copied, and both
// copies write a boundary (two different changes with one author and
// number: a fork of that device's history, which no Automerge document can
// hold both sides of). The copy syncs with Sam first. When the original
// syncs, its forked documents are left out of the session and named, in
// one line, as forked; every other document syncs on; nothing either side
// acknowledged is lost from its own device.
func TestFaults_ForkedDocumentOverLibp2p(t *testing.T) {
	fltNoLeaks(t)
	ctx := context.Background()
	dir := t.TempDir()
	dirA, dirCopy := filepath.Join(dir, "alex"), filepath.Join(dir, "copy")
	a, b := fltDiskDevice(t, dirA, "Alex"), newDevice(t, "Sam")
	pairAll(t, a, b)
	first := fltEdit(t, a, "Alex's first")
	na, nb := a.start(t), b.start(t)
	connect(t, na, nb)
	waitSynced(t, na, nb)
	waitAddrs(t, a, b)
	must(t, na.Close())

	// Copy Alex's home while it is closed, then reopen the original.
	must(t, a.space.Close())
	must(t, a.st.Close())
	must(t, os.MkdirAll(dirCopy, 0o700))
	ents, err := os.ReadDir(dirA)
	must(t, err)
	for _, e := range ents {
		if e.Type().IsRegular() {
			data, err := os.ReadFile(filepath.Join(dirA, e.Name()))
			must(t, err)
			must(t, os.WriteFile(filepath.Join(dirCopy, e.Name()), data, 0o600))
		}
	}
	open := func(dir string) *device {
		st, err := store.Open(dir, store.Options{})
		must(t, err)
		sp, err := crdt.Open(ctx, st, crdt.Options{})
		must(t, err)
		key, err := LoadOrCreateKey(ctx, st)
		must(t, err)
		d := &device{space: sp, st: st, key: key, id: a.id}
		t.Cleanup(func() { d.space.Close(); d.st.Close() })
		return d
	}
	a, cp := open(dirA), open(dirCopy)

	// The copy writes and syncs with Sam, then goes away.
	fromCopy := fltEdit(t, cp, "written on the copy")
	nc := cp.start(t)
	connect(t, nc, nb)
	waitSynced(t, nc, nb)
	must(t, nc.Close())

	// The original writes a boundary and a goal, then syncs with Sam.
	fromOrig := fltEdit(t, a, "written on the original")
	goal, err := a.space.AddGoal(ctx, "a walk every Sunday", "")
	must(t, err)
	na = a.start(t)
	sctx, cancel := context.WithTimeout(ctx, time.Minute) // a hang detector
	defer cancel()
	rep, err := na.SyncOnce(sctx)
	if err != nil || len(rep.Peers) != 1 {
		t.Fatalf("SyncOnce: %v, %d devices", err, len(rep.Peers))
	}
	p := rep.Peers[0]
	// The boundaries are forked. (The space document is not: starting a
	// node writes nothing there once the peer ID is recorded.)
	forked := map[string]bool{}
	for _, d := range p.Damaged {
		forked[d.Doc] = true
		if d.Remote || !strings.Contains(d.Reason, "copied or restored") || strings.Contains(d.Reason, "\n") {
			t.Errorf("left out: %+v; want a one-line reason saying this home was copied or restored", d)
		}
	}
	if !p.OK || !forked[crdt.BoundariesDoc] || forked[crdt.GoalsDoc] {
		t.Fatalf("report: ok=%v damaged=%+v err=%v; want boundaries left out here as forked, the rest synced", p.OK, p.Damaged, p.Err)
	}
	t.Logf("reported: %+v", p.Damaged)
	// The other documents synced: Sam has the original's goal.
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := b.space.Goal(ctx, goal); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("Sam never received the original's goal: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Each side keeps everything it acknowledged.
	fltHas(t, a, []string{first, fromOrig}, "the original")
	fltHas(t, b, []string{first, fromCopy}, "Sam's device")
	fltHas(t, cp, []string{first, fromCopy}, "the copy")
}
