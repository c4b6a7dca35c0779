package crdt_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

// The measurement behind one document per month of check-ins: the
// benchmark space (five years of daily check-ins, one document per month)
// against the same 1,825 check-ins in one document. Both are written
// through the same code; the second space only has a clock that stays in
// January 2021, so every check-in lands in checkins/2021-01.

// oneDocSpace returns the directory of a store whose 1,825 check-ins, built
// like the benchmark space's, are all in one document.
func oneDocSpace(b *testing.B) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "trustsync-crdt-bench-onedoc-"+benchSpaceVersion)
	if _, err := os.Stat(filepath.Join(dir, store.FileName)); err == nil {
		return dir
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "trustsync-crdt-bench-build-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	ctx := context.Background()
	st, err := store.Open(tmp, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := crdt.Create(ctx, st, crdt.CreateOptions{Options: crdt.Options{Now: func() time.Time { return at }},
		MemberName: "Sam", DeviceName: "laptop"})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range benchCheckIns {
		if _, err := s.AddCheckIn(ctx, trustsync.NewCheckIn{
			Mood:     trustsync.Mood(1 + rng.IntN(5)),
			Feelings: []string{"calm", "hopeful"},
			Note:     benchSentence(rng, 500),
			Needs:    benchSentence(rng, 40),
		}); err != nil {
			b.Fatal(err)
		}
		at = at.Add(time.Minute)
	}
	s.Close()
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("built the one-document space in %v", time.Since(start).Round(time.Millisecond))
	if err := os.Rename(tmp, dir); err != nil && !os.IsExist(err) {
		if _, statErr := os.Stat(filepath.Join(dir, store.FileName)); statErr != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkDocumentSplit times adding a check-in and acknowledging one in a
// five-year space, with check-ins split by month ("per-month", the layout
// trustsync uses) and all in one document ("one-doc"). "cold" opens the
// store and the space for every operation, as each `trustsync checkin`
// command does, so it includes loading the document written to; "warm"
// writes to a space whose document is already loaded. Every write is
// committed durably.
func BenchmarkDocumentSplit(b *testing.B) {
	layouts := []struct {
		name string
		dir  func(*testing.B) string
		now  time.Time // within the document holding the newest check-in
	}{
		{"per-month", benchSpace, time.Date(2025, 12, 31, 12, 0, 0, 0, time.UTC)},
		{"one-doc", oneDocSpace, time.Date(2021, 1, 31, 12, 0, 0, 0, time.UTC)},
	}
	for _, l := range layouts {
		for _, op := range []string{"add", "ack"} {
			for _, cold := range []bool{true, false} {
				name := l.name + "/" + op + "/warm"
				if cold {
					name = l.name + "/" + op + "/cold"
				}
				b.Run(name, func(b *testing.B) {
					dir := b.TempDir()
					copyStore(b, l.dir(b), dir)
					splitBench(b, dir, l.now, op, cold)
				})
			}
		}
	}
}

func splitBench(b *testing.B, dir string, now time.Time, op string, cold bool) {
	ctx := context.Background()
	at := now
	clock := func() time.Time { return at }
	open := func() (*store.Disk, *crdt.Space) {
		st, err := store.Open(dir, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		s, err := crdt.Open(ctx, st, crdt.Options{Now: clock})
		if err != nil {
			b.Fatal(err)
		}
		return st, s
	}
	st, s := open()
	cs, err := s.CheckIns(ctx)
	if err != nil || len(cs) < benchCheckIns {
		b.Fatalf("%d check-ins, %v", len(cs), err)
	}
	newest := cs[0].ID
	i := 0
	do := func(s *crdt.Space) {
		var err error
		if op == "add" {
			_, err = s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: strings.Repeat("a calm day together ", 25)})
		} else {
			err = s.AckCheckIn(ctx, newest, fmt.Sprintf("thank you (%d)", i))
		}
		if err != nil {
			b.Fatal(err)
		}
		i++
		at = at.Add(time.Second)
	}
	if !cold {
		do(s) // load the document
	}
	for b.Loop() {
		if cold {
			s.Close()
			st.Close()
			st, s = open()
		}
		do(s)
	}
	s.Close()
	st.Close()
}
