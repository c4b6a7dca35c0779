package crdt_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

// copyDir copies the regular files of a closed store's directory.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	noErr(t, os.MkdirAll(to, 0o700))
	ents, err := os.ReadDir(from)
	noErr(t, err)
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		noErr(t, err)
		noErr(t, os.WriteFile(filepath.Join(to, e.Name()), b, 0o600))
	}
}

func boundaryTexts(t *testing.T, s *crdt.Space) []string {
	t.Helper()
	bs, err := s.Boundaries(context.Background(), crdt.ListOptions{})
	noErr(t, err)
	var texts []string
	for _, b := range bs {
		texts = append(texts, b.Text)
	}
	slices.Sort(texts)
	return texts
}

// forkedHomes pairs Sam's laptop with Alex's phone on disk, then copies the
// laptop's home: the original and the copy share one device ID.
func forkedHomes(t *testing.T) (orig, cp, partner *crdt.Space) {
	t.Helper()
	ctx := context.Background()
	c := newClock()
	dir := t.TempDir()
	stA, err := store.Open(filepath.Join(dir, "a"), store.Options{})
	noErr(t, err)
	a, err := crdt.Create(ctx, stA, crdt.CreateOptions{Options: crdt.Options{Now: c.now}, MemberName: "Sam", DeviceName: "sam-laptop"})
	noErr(t, err)
	b, _ := newSpaceAt(t, c, "Alex", "alex-phone")
	pair(t, a, b)
	must[string](t)(a.AddBoundary(ctx, "I say when I need a pause"))
	syncAll(t, a, b)
	noErr(t, a.Close())
	noErr(t, stA.Close())
	copyDir(t, filepath.Join(dir, "a"), filepath.Join(dir, "copy"))
	open := func(sub string) *crdt.Space {
		st, err := store.Open(filepath.Join(dir, sub), store.Options{})
		noErr(t, err)
		t.Cleanup(func() { st.Close() })
		s, err := crdt.Open(ctx, st, crdt.Options{Now: c.now})
		noErr(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	return open("a"), open("copy"), b
}

// syncForked runs the sync protocol for doc between x and y and returns the
// *ForkError each side's ReceiveMessage refused with (nil if none). Any
// other error fails the test.
func syncForked(t *testing.T, x, y *crdt.Space, doc string) (xErr, yErr *crdt.ForkError) {
	t.Helper()
	ctx := context.Background()
	px, py := x.Peer(y.Self().DeviceID), y.Peer(x.Self().DeviceID)
	for round := 0; round < 10; round++ {
		for _, dir := range []struct {
			from, to *crdt.Peer
			got      **crdt.ForkError
		}{{px, py, &yErr}, {py, px, &xErr}} {
			msg, ok, err := dir.from.GenerateMessage(ctx, doc)
			noErr(t, err)
			if !ok {
				continue
			}
			_, err = dir.to.ReceiveMessage(ctx, doc, msg)
			if err == nil {
				continue
			}
			var fe *crdt.ForkError
			if !errors.As(err, &fe) || !errors.Is(err, trustsync.ErrInvalid) {
				t.Fatalf("ReceiveMessage: %v, want a *ForkError wrapping ErrInvalid", err)
			}
			if strings.Contains(fe.Error(), "\n") {
				t.Errorf("message is not one line: %q", fe.Error())
			}
			*dir.got = fe
		}
	}
	return xErr, yErr
}

// TestFork_CopiedHomeIsRefusedByName: a home copied and written to in both
// places forks its device's history. The device that meets the other side
// of the fork refuses it with a *ForkError that names the document and says
// why; nothing of the refused bytes is stored, and the other documents keep
// syncing.
func TestFork_CopiedHomeIsRefusedByName(t *testing.T) {
	ctx := context.Background()
	t.Run("the original meets its copy's change", func(t *testing.T) {
		orig, cp, b := forkedHomes(t)
		must[string](t)(cp.AddBoundary(ctx, "written on the copy"))
		syncAll(t, cp, b)
		must[string](t)(orig.AddBoundary(ctx, "written on the original"))
		must[string](t)(orig.AddGoal(ctx, "a walk every Sunday", ""))

		own, _ := syncForked(t, orig, b, crdt.BoundariesDoc)
		if own == nil {
			t.Fatal("the original device never refused its copy's change")
		}
		if !own.Own || own.Doc != crdt.BoundariesDoc || own.Author != orig.Self().DeviceID || own.Seq == 0 ||
			!strings.Contains(own.Error(), "copied or restored from a backup") {
			t.Errorf("fork = %+v, %q", own, own.Error())
		}
		// Nothing refused was stored: each side keeps what it had.
		if got, want := boundaryTexts(t, orig), []string{"I say when I need a pause", "written on the original"}; !slices.Equal(got, want) {
			t.Errorf("original lists %q, want %q", got, want)
		}
		if got, want := boundaryTexts(t, b), []string{"I say when I need a pause", "written on the copy"}; !slices.Equal(got, want) {
			t.Errorf("partner lists %q, want %q", got, want)
		}
		// Other documents still sync between the original and the partner.
		syncDoc(t, orig.Peer(b.Self().DeviceID), b.Peer(orig.Self().DeviceID), crdt.GoalsDoc)
		gs, err := b.Goals(ctx, crdt.ListOptions{})
		noErr(t, err)
		if len(gs) != 1 || gs[0].Title != "a walk every Sunday" {
			t.Errorf("partner's goals = %+v, want the original's goal", gs)
		}
	})
	t.Run("the partner is sent the copy after the original", func(t *testing.T) {
		orig, cp, b := forkedHomes(t)
		must[string](t)(orig.AddBoundary(ctx, "written on the original"))
		syncAll(t, orig, b)
		must[string](t)(cp.AddBoundary(ctx, "written on the copy"))
		// The copy's whole document, as a snapshot (what a session sends a
		// device that lacks a document).
		data, err := cp.SaveSigned(ctx, crdt.BoundariesDoc)
		noErr(t, err)
		_, err = b.Import(ctx, crdt.BoundariesDoc, data, cp.Self().DeviceID)
		var theirs *crdt.ForkError
		if !errors.As(err, &theirs) || !errors.Is(err, trustsync.ErrInvalid) {
			t.Fatalf("Import of the copy's document: %v, want a *ForkError wrapping ErrInvalid", err)
		}
		if theirs.Own || theirs.Author != orig.Self().DeviceID || !strings.Contains(theirs.Error(), "forked") {
			t.Errorf("fork = %+v, %q", theirs, theirs.Error())
		}
		if got, want := boundaryTexts(t, b), []string{"I say when I need a pause", "written on the original"}; !slices.Equal(got, want) {
			t.Errorf("partner lists %q, want %q", got, want)
		}
	})
}
