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
	benchSpaceVersion = "v6"
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
	sentence := func(n int) string { return benchSentence(rng, n) }
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

var benchWords = strings.Fields("today we talked about the week and I felt heard when you listened " +
	"without fixing it I noticed the small things you did the tea the note on the fridge " +
	"work was hard and I was tired but I want us to keep walking together on Sundays")

// benchSentence returns about n characters of words drawn with rng.
func benchSentence(rng *rand.Rand, n int) string {
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(benchWords[rng.IntN(len(benchWords))])
		sb.WriteByte(' ')
	}
	return strings.TrimSpace(sb.String())
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
// (the database and its write-ahead log) against the sum of one Save() of
// each of its documents plus a JSON export of everything it holds, the
// members, boundaries, goals, check-ins and history that `trustsync export
// --format json` writes. It also reports the ratio against an export without
// the history, the stricter figure. Each iteration loads every document.
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
	var saved, exported, exportedNoHistory int
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
		all := map[string]any{}
		for name, read := range map[string]func() (any, error){
			"members":    func() (any, error) { return s.Members(ctx) },
			"boundaries": func() (any, error) { return s.Boundaries(ctx, crdt.ListOptions{All: true}) },
			"goals":      func() (any, error) { return s.Goals(ctx, crdt.ListOptions{All: true}) },
			"checkins":   func() (any, error) { return s.CheckIns(ctx) },
			"history":    func() (any, error) { return s.History(ctx, crdt.HistoryOptions{}) },
		} {
			if all[name], err = read(); err != nil {
				b.Fatal(err)
			}
		}
		export, err := json.Marshal(all)
		if err != nil {
			b.Fatal(err)
		}
		exported = len(export)
		delete(all, "history")
		if export, err = json.Marshal(all); err != nil {
			b.Fatal(err)
		}
		exportedNoHistory = len(export)
		s.Close()
	}
	b.ReportMetric(float64(disk), "disk-bytes")
	b.ReportMetric(float64(saved), "save-bytes")
	b.ReportMetric(float64(exported), "json-bytes")
	b.ReportMetric(float64(exportedNoHistory), "json-nohistory-bytes")
	b.ReportMetric(float64(disk)/float64(saved+exported), "disk/(save+json)")
	b.ReportMetric(float64(disk)/float64(saved+exportedNoHistory), "disk/(save+json-nohistory)")
}

// durableEdits is how many edits one iteration of BenchmarkDurableEdits
// makes.
const durableEdits = 10000

// BenchmarkDurableEdits makes 10,000 edits to the boundaries of a copy of
// the benchmark space (kept under $TMPDIR, so TMPDIR chooses the disk),
// each committed durably (fsynced) before the next. It reports edits per
// second, the peak RSS of the process during the edits (VmHWM, reset
// before them), the largest the write-ahead log grew, the store's size
// afterwards, and how long loading the edited document then takes (as the
// next process to write it would). Run it alone (-bench 'DurableEdits$'):
// the peak RSS is the process's.
func BenchmarkDurableEdits(b *testing.B) {
	durableEditsBench(b, crdt.Options{})
}

// BenchmarkCompactionPolicy runs BenchmarkDurableEdits under other
// compaction policies: the byte rule at other shares of the snapshot or
// off (share=0: a compaction every 64 chunks only, the former policy), and
// other chunk counts (after=N).
func BenchmarkCompactionPolicy(b *testing.B) {
	for _, p := range []struct{ share, after int }{{0, 64}, {2, 64}, {4, 64}, {4, 256}, {4, 1 << 20}} {
		b.Run(fmt.Sprintf("share=%d/after=%d", p.share, p.after), func(b *testing.B) {
			defer crdt.SetCompactShare(p.share)()
			durableEditsBench(b, crdt.Options{CompactAfter: p.after})
		})
	}
}

func durableEditsBench(b *testing.B, opts crdt.Options) {
	src := benchSpace(b)
	dir := b.TempDir()
	copyStore(b, src, dir)
	ctx := context.Background()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s, err := crdt.Open(ctx, st, opts)
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
	resetPeakRSS(b)
	wal := filepath.Join(dir, store.FileName+"-wal")
	var walMax int64
	n := 0
	for b.Loop() {
		for range durableEdits {
			bd := bs[n%len(bs)]
			if err := s.EditBoundary(ctx, bd.ID, fmt.Sprintf("%s (edit %d)", bd.Text, n)); err != nil {
				b.Fatal(err)
			}
			n++
			if n%100 == 0 {
				if fi, err := os.Stat(wal); err == nil {
					walMax = max(walMax, fi.Size())
				}
			}
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "edits/s")
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(walMax), "wal-max-bytes")
	if size, err := st.Size(); err == nil {
		b.ReportMetric(float64(size), "disk-bytes")
	}
	fresh, err := crdt.Open(ctx, st, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer fresh.Close()
	start := time.Now()
	if _, err := fresh.Heads(ctx, crdt.BoundariesDoc); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "reload-ms")
}

// copyStore copies the store files in src to dst.
func copyStore(b *testing.B, src, dst string) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		copyFile(b, filepath.Join(src, store.FileName+suffix), filepath.Join(dst, store.FileName+suffix))
	}
}

// resetPeakRSS resets the process's peak resident set size (Linux: writing
// 5 to /proc/self/clear_refs), so that VmHWM measures what follows.
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak RSS (%v): it includes what ran before", err)
	}
}

// peakRSS returns VmHWM, the process's peak resident set size, in bytes.
func peakRSS(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
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
