package netlab_test

// Benchmarks across the small internet, run only when asked (root):
//
//	go test ./internal/netlab -run '^$' -bench NAT -benchtime 50x -timeout 30m
//
// Each path gets an internet of its own whose public links delay every
// packet by -netlab.delay each way (default 40 ms): the routers' links,
// and for the direct case the two devices' own links. The relay's link
// adds nothing.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/benchkit"
	"github.com/trustsync/trustsync/internal/netlab"
	"github.com/trustsync/trustsync/store"
)

var (
	benchDelay    = flag.Duration("netlab.delay", 40*time.Millisecond, "delay each way on every public link of the NAT benchmarks")
	benchCheckIns = flag.Int("netlab.checkins", 1825, "check-ins of the NAT benchmarks' first sync")
)

// benchPath is one way two devices reach each other.
type benchPath struct {
	name string
	// word is the last_path status gives the partner's device on this
	// path.
	word string
	// build attaches Alex's and Sam's hosts to the internet.
	build func(in *netlab.Internet, delay time.Duration) (alex, sam *netlab.Host)
}

var benchPaths = []benchPath{
	{"direct", "direct", func(in *netlab.Internet, d time.Duration) (*netlab.Host, *netlab.Host) {
		return in.Public("alex", d), in.Public("sam", d)
	}},
	{"holepunched", "hole punched", func(in *netlab.Internet, d time.Duration) (*netlab.Host, *netlab.Host) {
		return in.Router("alexnet", netlab.Cone, d).Host("alex"), in.Router("samnet", netlab.Cone, d).Host("sam")
	}},
	{"relayed", "relayed", func(in *netlab.Internet, d time.Duration) (*netlab.Host, *netlab.Host) {
		return in.Router("alexnet", netlab.Symmetric, d).Host("alex"), in.Router("samnet", netlab.Symmetric, d).Host("sam")
	}},
}

// benchPair builds the internet of a path, starts the relay, pairs the two
// devices through the invite and returns them, not serving.
func benchPair(b *testing.B, p benchPath) (in *netlab.Internet, alex, sam *device) {
	b.Helper()
	in = netlab.New(b)
	relayHost := in.Public("relay", 0)
	ha, hs := p.build(in, *benchDelay)
	_, addr := startRelay(b, relayHost)
	alex, sam = newDevice(b, ha, "Alex"), newDevice(b, hs, "Sam")
	alex.must("relay", "use", addr)
	pairThrough(b, alex, sam)
	return in, alex, sam
}

// BenchmarkNAT_LiveEdit measures, with serve running on both devices and
// the path settled, the time from an edit committed to Alex's store (by
// this process, as another trustsync command would) to Sam's store
// showing it (polled every 500 us), one edit at a time.
func BenchmarkNAT_LiveEdit(b *testing.B) {
	for _, p := range benchPaths {
		b.Run(p.name, func(b *testing.B) {
			in, alex, sam := benchPair(b, p)
			alexServe, samServe := alex.serve(), sam.serve()
			logs := []*proc{alexServe, samServe}
			alex.must("boundary", "add", "warm up")
			sam.waitBoundary("warm up", 60*time.Second, "the first live edit", logs...)
			var line string
			if p.word == "hole punched" {
				// Or "direct": a dial through the holes both devices'
				// packets opened (see TestNAT_ConeHolePunched).
				line = waitDirect(b, sam, "alex-laptop", 60*time.Second, logs...)
			} else {
				line = waitPath(b, sam, "alex-laptop", p.word, 60*time.Second, logs...)
			}
			b.Logf("%s: %s (delays by %s)", p.name, line, in.DelayKind())

			sta, spa := benchkit.Open(b, alex.home)
			defer sta.Close()
			defer spa.Close()
			stb, err := store.Open(sam.home, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer stb.Close()
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				id, err := spa.AddBoundary(ctx, fmt.Sprintf("live edit %d", i))
				if err != nil {
					b.Fatal(err)
				}
				committed := time.Now()
				for {
					err := stb.View(ctx, func(tx trustsync.ReadTx) error {
						_, err := tx.Item(crdt.KindBoundary, id)
						return err
					})
					if err == nil {
						break
					}
					if !errors.Is(err, trustsync.ErrNotFound) {
						b.Fatal(err)
					}
					if time.Since(committed) > 30*time.Second {
						b.Fatalf("live edit %d did not reach Sam's device within 30s%s", i, dumpLogs(logs))
					}
					time.Sleep(500 * time.Microsecond)
				}
				lat = append(lat, time.Since(committed))
				b.StopTimer()
				time.Sleep(50 * time.Millisecond)
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(ms(benchkit.Percentile(lat, 50)), "p50-ms")
			b.ReportMetric(ms(benchkit.Percentile(lat, 99)), "p99-ms")
			if got, line := pathOf(sam, "alex-laptop"); got != p.word && (p.word != "hole punched" || got != "direct") {
				b.Errorf("after the edits, status on Sam's device says %q (%s), want %q", got, line, p.word)
			}
			alexServe.stop(b)
			samServe.stop(b)
		})
	}
}

// BenchmarkNAT_FirstSync measures the first sync of a year's worth of
// documents to a device paired but not yet synced with them: Alex's home
// gets -netlab.checkins daily check-ins of ~500 characters (written by this
// process while no trustsync process runs), Alex's device serves, and Sam's
// runs one `trustsync sync`, timed from its start to its exit 0 (process
// start, connecting through the relay and, on the hole-punched path, the
// hole punch included).
func BenchmarkNAT_FirstSync(b *testing.B) {
	for _, p := range benchPaths {
		b.Run(p.name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				b.StopTimer()
				in, alex, sam := benchPair(b, p)
				addCheckIns(b, alex.home, *benchCheckIns)
				alexServe := alex.serve()
				b.StartTimer()
				start := time.Now()
				out, stderr, code := sam.run("sync", "--timeout", "5m", "--json")
				d := time.Since(start)
				b.StopTimer()
				if code != 0 {
					b.Fatalf("sync on Sam's device: exit %d: %s%s", code, stderr, dumpLogs([]*proc{alexServe}))
				}
				total += d
				_, line := pathOf(sam, "alex-laptop")
				var compact bytes.Buffer
				_ = json.Compact(&compact, []byte(out))
				b.Logf("%s: %v; %s; status: %s (delays by %s)", p.name, d.Round(time.Millisecond), compact.String(), line, in.DelayKind())
				if got := countCheckIns(b, sam); got != *benchCheckIns {
					b.Fatalf("after the sync Sam's device lists %d check-ins, want %d", got, *benchCheckIns)
				}
				alexServe.stop(b)
				b.StartTimer()
			}
			b.ReportMetric(ms(total)/float64(b.N), "sync-ms")
		})
	}
}

// addCheckIns writes n daily check-ins with benchkit's ~500-character note
// into home, as the benchmarks of package cmd/trustsync do.
func addCheckIns(b *testing.B, home string, n int) {
	b.Helper()
	day := benchkit.FirstSyncStart
	st, sp := benchkit.OpenAt(b, home, func() time.Time { return day })
	defer st.Close()
	defer sp.Close()
	for i := range n {
		if _, err := sp.AddCheckIn(context.Background(), trustsync.NewCheckIn{Mood: trustsync.Mood(1 + i%5), Note: benchkit.Note}); err != nil {
			b.Fatal(err)
		}
		day = day.Add(24 * time.Hour)
	}
}

func countCheckIns(b *testing.B, d *device) int {
	b.Helper()
	st, err := store.Open(d.home, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	n := 0
	if err := st.View(context.Background(), func(tx trustsync.ReadTx) error {
		items, err := tx.Items(crdt.KindCheckIn)
		n = len(items)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
