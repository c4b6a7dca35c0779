package crdt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// The core's benchmark space: five years of daily check-ins of about 500
// characters, 200 boundaries and 50 goals, on the disk store. Building it
// takes a while, so it is built once and kept under os.TempDir, keyed by
// benchSpaceVersion; bump the version when the stored format changes.
const (
	benchSpaceVersion = "v5"
	benchCheckIns     = 1825
	benchBoundaries   = 200
	benchGoals        = 50
)

// benchSpace returns the directory of the benchmark space's store, building
// it when missing.
func benchSpace(b *testing.B) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "trustsync-crdt-bench-"+benchSpaceVersion)
	if _, err := os.Stat(filepath.Join(dir, store.FileName)); err == nil {
		return dir
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "trustsync-crdt-bench-build-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	buildBenchSpace(b, tmp)
	b.Logf("built the benchmark space in %v", time.Since(start).Round(time.Millisecond))
	if err := os.Rename(tmp, dir); err != nil && !os.IsExist(err) {
		if _, statErr := os.Stat(filepath.Join(dir, store.FileName)); statErr != nil {
			b.Fatal(err)
		}
	}
	return dir
}

func buildBenchSpace(b *testing.B, dir string) {
	ctx := context.Background()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	day := time.Date(2021, 1, 1, 20, 0, 0, 0, time.UTC)
	now := func() time.Time { return day }
	s, err := crdt.Create(ctx, st, crdt.CreateOptions{Options: crdt.Options{Now: now}, MemberName: "Sam", DeviceName: "laptop"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("today we talked about the week and I felt heard when you listened " +
		"without fixing it I noticed the small things you did the tea the note on the fridge " +
		"work was hard and I was tired but I want us to keep walking together on Sundays")
	sentence := func(n int) string {
		var sb strings.Builder
		for sb.Len() < n {
			sb.WriteString(words[rng.IntN(len(words))])
			sb.WriteByte(' ')
		}
		return strings.TrimSpace(sb.String())
	}
	for i := 0; i < benchBoundaries; i++ {
		id, err := s.AddBoundary(ctx, sentence(80))
		if err != nil {
			b.Fatal(err)
		}
		if i%2 == 0 {
			if err := s.AgreeBoundary(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i := 0; i < benchGoals; i++ {
		id, err := s.AddGoal(ctx, sentence(30), sentence(60))
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 3; j++ {
			if _, err := s.AddStep(ctx, id, sentence(40)); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i := 0; i < benchCheckIns; i++ {
		if _, err := s.AddCheckIn(ctx, trustsync.NewCheckIn{
			Mood:     trustsync.Mood(1 + rng.IntN(5)),
			Feelings: []string{"calm", "hopeful"},
			Note:     sentence(500),
			Needs:    sentence(40),
		}); err != nil {
			b.Fatal(err)
		}
		day = day.Add(24 * time.Hour)
	}
}

// BenchmarkOpenListCheckIns opens the disk store and the space and lists
// every check-in, as `trustsync checkins` does.
func BenchmarkOpenListCheckIns(b *testing.B) {
	dir := benchSpace(b)
	ctx := context.Background()
	for b.Loop() {
		st, err := store.Open(dir, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		s, err := crdt.Open(ctx, st, crdt.Options{})
		if err != nil {
			b.Fatal(err)
		}
		cs, err := s.CheckIns(ctx)
		if err != nil || len(cs) != benchCheckIns {
			b.Fatalf("%d check-ins, %v", len(cs), err)
		}
		s.Close()
		st.Close()
	}
}

// BenchmarkListBoundaries lists the 200 boundaries of an open space.
func BenchmarkListBoundaries(b *testing.B) {
	dir := benchSpace(b)
	ctx := context.Background()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s, err := crdt.Open(ctx, st, crdt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		bs, err := s.Boundaries(ctx, crdt.ListOptions{})
		if err != nil || len(bs) != benchBoundaries {
			b.Fatalf("%d boundaries, %v", len(bs), err)
		}
	}
}

// BenchmarkStorage reports the bytes the benchmark space takes on disk
// against the sum of Save() of its documents and the size of a JSON export
// of everything it holds. Each iteration loads every document.
func BenchmarkStorage(b *testing.B) {
	dir := benchSpace(b)
	ctx := context.Background()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	disk, err := st.Size()
	if err != nil {
		b.Fatal(err)
	}
	var saved, exported int
	for b.Loop() {
		s, err := crdt.Open(ctx, st, crdt.Options{})
		if err != nil {
			b.Fatal(err)
		}
		docs, err := s.Docs(ctx)
		if err != nil {
			b.Fatal(err)
		}
		saved = 0
		for _, d := range docs {
			data, err := s.Save(ctx, d)
			if err != nil {
				b.Fatal(err)
			}
			saved += len(data)
		}
		bs, _ := s.Boundaries(ctx, crdt.ListOptions{All: true})
		gs, _ := s.Goals(ctx, crdt.ListOptions{All: true})
		cs, _ := s.CheckIns(ctx)
		ms, _ := s.Members(ctx)
		hs, _ := s.History(ctx, crdt.HistoryOptions{})
		export, err := json.Marshal(map[string]any{"members": ms, "boundaries": bs, "goals": gs, "checkins": cs, "history": hs})
		if err != nil {
			b.Fatal(err)
		}
		exported = len(export)
		s.Close()
	}
	b.ReportMetric(float64(disk), "disk-bytes")
	b.ReportMetric(float64(saved), "save-bytes")
	b.ReportMetric(float64(exported), "json-bytes")
	b.ReportMetric(float64(disk)/float64(saved+exported), "disk/(save+json)")
}

// BenchmarkDurableEdits edits boundaries of a copy of the benchmark space,
// each edit committed durably (fsynced) before the next.
func BenchmarkDurableEdits(b *testing.B) {
	src := benchSpace(b)
	dir := b.TempDir()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		copyFile(b, filepath.Join(src, store.FileName+suffix), filepath.Join(dir, store.FileName+suffix))
	}
	ctx := context.Background()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s, err := crdt.Open(ctx, st, crdt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	bs, err := s.Boundaries(ctx, crdt.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	// Load the document before timing.
	if err := s.EditBoundary(ctx, bs[0].ID, bs[0].Text+" (warm)"); err != nil {
		b.Fatal(err)
	}
	i := 0
	start := time.Now()
	for b.Loop() {
		bd := bs[i%len(bs)]
		if err := s.EditBoundary(ctx, bd.ID, fmt.Sprintf("%s (edit %d)", bd.Text, i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "edits/s")
}

func copyFile(b *testing.B, from, to string) {
	in, err := os.Open(from)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}
