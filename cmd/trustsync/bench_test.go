package main

// Whole-program sync benchmarks: real trustsync processes (this test
// binary, which runs the real main when called "trustsync") in temp homes
// on 127.0.0.1. The workloads live in internal/benchkit, shared with
// bench/sidebyside; TestBenchWorkloads runs each of them short in the
// ordinary test suite.
//
//	go test ./cmd/trustsync -run '^$' -bench Live -benchtime 200x
//	go test ./cmd/trustsync -run '^$' -bench 'Reconnect|FirstSync' -benchtime 3x
//	go test ./cmd/trustsync -run '^$' -bench Soak -benchtime 1x -timeout 2h -soak.edits 5000

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync/internal/benchkit"
)

var (
	soakEdits = flag.Int("soak.edits", 5000, "edits of BenchmarkSoak")
	soakHeap  = flag.String("soak.heap", "", "directory for the heap profiles of BenchmarkSoak's serves (default: a temporary one)")
	soakEnv   = flag.String("soak.env", "", "space-separated VAR=VALUE added to the environment of BenchmarkSoak's serves and their checkers, e.g. GOGC=10")
)

// BenchmarkLive measures, with 'trustsync serve' running on both homes,
// the time from an edit committed to A's store (by this process, as
// another trustsync command would) to B's store showing it. isolated: one
// edit at a time; burst: edits in groups of 10, back to back.
func BenchmarkLive(b *testing.B) {
	for _, burst := range []int{1, 10} {
		name := "isolated"
		if burst > 1 {
			name = "burst"
		}
		b.Run(name, func(b *testing.B) {
			bin := benchkit.Bin(b)
			b.ResetTimer()
			lat := benchkit.Live(b, bin, b.N, benchkit.LiveOptions{Burst: burst})
			b.ReportMetric(ms(benchkit.Percentile(lat, 50)), "p50-ms")
			b.ReportMetric(ms(benchkit.Percentile(lat, 99)), "p99-ms")
		})
	}
}

// BenchmarkReconnect: two paired homes synced once, then 1,000 boundaries
// added on each while apart; one 'trustsync sync' from B with A serving.
// The time includes starting the sync process and its node; startup-ms is
// the same sync when nothing changed, for comparison.
func BenchmarkReconnect(b *testing.B) {
	bin := benchkit.Bin(b)
	var total, idle time.Duration
	var wire int64
	b.ResetTimer()
	for range b.N {
		r := benchkit.Reconnect(b, bin, 1000)
		total += r.Sync
		idle += r.Idle
		wire += r.Wire
	}
	b.ReportMetric(ms(total)/float64(b.N), "sync-ms")
	b.ReportMetric(ms(idle)/float64(b.N), "startup-ms")
	b.ReportMetric(float64(wire)/float64(b.N), "wire-bytes")
}

// BenchmarkFirstSync: a new device's first 'trustsync sync' with a home
// holding five years of daily check-ins (1,825 with ~500-character notes),
// serving. save-bytes is the size of Save() of every document of A.
func BenchmarkFirstSync(b *testing.B) {
	bin := benchkit.Bin(b)
	src := benchkit.NewFirstSyncSource(b, bin, 1825)
	var total time.Duration
	var wire, servePeak, checkerPeak int64
	b.ResetTimer()
	for range b.N {
		d, n := src.Run(b, bin)
		total += d
		wire += n
		servePeak, checkerPeak = max(servePeak, src.ServePeak), max(checkerPeak, src.CheckerPeak)
	}
	b.ReportMetric(ms(total)/float64(b.N), "sync-ms")
	b.ReportMetric(float64(servePeak)/(1<<20), "serve-peak-MiB")
	b.ReportMetric(float64(checkerPeak)/(1<<20), "checker-peak-MiB")
	b.ReportMetric(float64(wire)/float64(b.N), "wire-bytes")
	b.ReportMetric(float64(src.SaveBytes), "save-bytes")
	b.ReportMetric(float64(wire)/float64(b.N)/float64(src.SaveBytes), "wire/save")
}

// BenchmarkSoak: two paired homes both serving; A makes -soak.edits edits
// (default 5,000) of every kind through the command line and B receives
// them live. It prints the memory of each serve and of its checker child
// every 250 edits with the edit rate of the window, checks that B holds
// everything A holds, and reports the memory after 1,000 edits and at the
// end, the maximum, and the first and last window's rate. The serves'
// heap profiles at the end are left in -soak.heap.
func BenchmarkSoak(b *testing.B) {
	if *soakEdits < 1 {
		b.Fatalf("-soak.edits %d: give a count of at least 1", *soakEdits)
	}
	bin := benchkit.Bin(b)
	heap := *soakHeap
	if heap == "" {
		heap = b.TempDir()
	}
	var res benchkit.SoakResult
	for range b.N {
		res = benchkit.Soak(b, bin, benchkit.SoakOptions{Edits: *soakEdits, HeapDir: heap, ServeEnv: strings.Fields(*soakEnv)})
	}
	b.StopTimer()
	printSoak(res, heap)
	at1000 := res.Samples[len(res.Samples)-1]
	for _, s := range res.Samples {
		if s.Edits >= 1000 {
			at1000 = s
			break
		}
	}
	last := res.Samples[len(res.Samples)-1]
	var peak benchkit.SoakSample
	for _, s := range res.Samples {
		peak.ServeA, peak.CheckerA = max(peak.ServeA, s.ServeA), max(peak.CheckerA, s.CheckerA)
		peak.ServeB, peak.CheckerB = max(peak.ServeB, s.ServeB), max(peak.CheckerB, s.CheckerB)
	}
	for _, m := range []struct {
		name string
		s    benchkit.SoakSample
	}{{"1000", at1000}, {"end", last}, {"max", peak}} {
		b.ReportMetric(mib(m.s.ServeA), "serveA-"+m.name+"-MiB")
		b.ReportMetric(mib(m.s.CheckerA), "checkerA-"+m.name+"-MiB")
		b.ReportMetric(mib(m.s.ServeB), "serveB-"+m.name+"-MiB")
		b.ReportMetric(mib(m.s.CheckerB), "checkerB-"+m.name+"-MiB")
	}
	b.ReportMetric(res.Samples[0].Rate, "first-edits/s")
	b.ReportMetric(last.Rate, "last-edits/s")
}

func printSoak(res benchkit.SoakResult, heap string) {
	w := os.Stdout
	fmt.Fprintf(w, "\nsoak: %d edits in %s; both homes hold %v\n", res.Samples[len(res.Samples)-1].Edits, res.Elapsed.Round(time.Second), res.Counts)
	fmt.Fprintf(w, "%7s %9s %12s %12s %12s %12s\n", "edits", "edits/s", "A serve MiB", "A checker", "B serve MiB", "B checker")
	for _, s := range res.Samples {
		fmt.Fprintf(w, "%7d %9.1f %12.1f %12.1f %12.1f %12.1f\n", s.Edits, s.Rate, mib(s.ServeA), mib(s.CheckerA), mib(s.ServeB), mib(s.CheckerB))
	}
	var docs []string
	var total int
	for d, n := range res.SaveBytes {
		docs = append(docs, fmt.Sprintf("%s %d", d, n))
		total += n
	}
	slices.Sort(docs)
	fmt.Fprintf(w, "A's documents at the end, Save() bytes (%d in all): %s\n", total, strings.Join(docs, ", "))
	for _, h := range []struct {
		side string
		s    *benchkit.HeapSnapshot
	}{{"A", res.HeapA}, {"B", res.HeapB}} {
		if h.s == nil {
			continue
		}
		fmt.Fprintf(w, "serve %s at the end: RSS %.1f MiB, %.1f MiB after two GCs, %.1f MiB after malloc_trim; Go heap %.1f -> %.1f MiB, Go runtime total %.1f -> %.1f MiB; C heap %.1f MiB in use, %.1f MiB free; profile %s/%s/heap-%d.pb.gz\n",
			h.side, mib(h.s.RSSBefore), mib(h.s.RSSAfterGC), mib(h.s.RSSAfterTrim), mib(h.s.HeapAllocBefore), mib(h.s.HeapAllocAfter),
			mib(h.s.SysBefore), mib(h.s.SysAfter), mib(h.s.CInUse), mib(h.s.CFree), heap, h.side, h.s.N)
	}
}

// TestBenchWorkloads runs every whole-program workload of the benchmarks
// above in a short size, so that the ordinary test suite fails when one of
// them breaks. It checks what each workload checks (everything arrived,
// nothing was lost) and never a time.
func TestBenchWorkloads(t *testing.T) {
	bin := benchkit.Bin(t)
	t.Run("FirstSync", func(t *testing.T) {
		t.Parallel()
		src := benchkit.NewFirstSyncSource(t, bin, 40)
		if src.Docs != 3 { // January, February and the space document
			t.Errorf("40 check-ins from 1 January are in %d documents, want 3", src.Docs)
		}
		if _, n := src.Run(t, bin); n <= 0 {
			t.Errorf("first sync reported %d bytes on the wire", n)
		}
	})
	t.Run("Reconnect", func(t *testing.T) {
		t.Parallel()
		if r := benchkit.Reconnect(t, bin, 50); r.Wire <= 0 {
			t.Errorf("reconnect reported %d bytes on the wire", r.Wire)
		}
	})
	t.Run("Live", func(t *testing.T) {
		t.Parallel()
		if lat := benchkit.Live(t, bin, 5, benchkit.LiveOptions{}); len(lat) != 5 {
			t.Errorf("%d latencies for 5 live edits", len(lat))
		}
	})
	t.Run("Soak", func(t *testing.T) {
		t.Parallel()
		// One edit of each kind. Each edit is a process of this binary,
		// about a second under -race on a busy machine.
		res := benchkit.Soak(t, bin, benchkit.SoakOptions{Edits: 12, SampleEvery: 6, HeapDir: t.TempDir()})
		if len(res.Samples) != 2 {
			t.Fatalf("%d samples for 12 edits, one every 6", len(res.Samples))
		}
		for _, s := range res.Samples {
			if s.ServeA == 0 || s.ServeB == 0 {
				t.Errorf("after %d edits the serves' RSS read as %d and %d bytes", s.Edits, s.ServeA, s.ServeB)
			}
		}
		// One of each kind: a boundary, a goal, a step, a check-in of A
		// (and B's one, acknowledged), ...
		for kind, want := range map[string]int{"boundary": 1, "goal": 1, "step": 1, "checkin": 2,
			"commitment": 1, "commitment_entry": 1, "apology": 1, "setback": 1, "moment": 1} {
			if res.Counts[kind] != want {
				t.Errorf("both homes hold %d items of kind %s, want %d", res.Counts[kind], kind, want)
			}
		}
		if res.HeapA == nil || res.HeapA.RSSBefore == 0 {
			t.Errorf("A's serve wrote no heap snapshot: %+v", res.HeapA)
		}
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mib(n int64) float64 { return float64(n) / (1 << 20) }
