package benchkit

import (
	"context"
	"errors"
	"fmt"
	"github.com/trustsync/trustsync/internal/stagetrace"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

// Note is the ~500-character note of every check-in of the first-sync
// workload.
var Note = strings.Repeat("Today I noticed how much calmer we both were. ", 11)[:500]

// FirstSyncStart is the day of the first check-in of the first-sync
// workload: one check-in a day from here, so 1,825 check-ins fill 60 months.
var FirstSyncStart = time.Date(2021, 1, 1, 20, 0, 0, 0, time.UTC)

// FirstSyncSource is a home holding daily check-ins, written one edit at a
// time through the library, for new devices to sync from.
type FirstSyncSource struct {
	Home     string
	CheckIns int
	// Docs is the number of documents the home holds (one per month of
	// check-ins, and the space document).
	Docs int
	// SaveBytes is the sum of one Save() of every document.
	SaveBytes int64
	// ServePeak and CheckerPeak are the peak resident memory (VmHWM) of
	// the serving source's 'trustsync serve' and of its sandbox checker
	// child during the last [FirstSyncSource.Run], in bytes.
	ServePeak, CheckerPeak int64
}

// NewFirstSyncSource builds a home named Alex with n daily check-ins from
// FirstSyncStart, each with [Note].
func NewFirstSyncSource(tb testing.TB, bin string, n int) FirstSyncSource {
	tb.Helper()
	ctx := context.Background()
	ha := Home(tb, bin, "Alex")
	day := FirstSyncStart
	st, sp := OpenAt(tb, ha, func() time.Time { return day })
	defer st.Close()
	defer sp.Close()
	for i := range n {
		if _, err := sp.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: trustsync.Mood(1 + i%5), Note: Note}); err != nil {
			tb.Fatal(err)
		}
		day = day.Add(24 * time.Hour)
	}
	docs, err := sp.Docs(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var saved int64
	for _, d := range docs {
		data, err := sp.Save(ctx, d)
		if err != nil {
			tb.Fatal(err)
		}
		saved += int64(len(data))
	}
	return FirstSyncSource{Home: ha, CheckIns: n, Docs: len(docs), SaveBytes: saved}
}

// Run makes a new device, pairs it with the source, serves the source and
// times the new device's first 'trustsync sync' (process start included);
// it returns that time and the bytes the sync moved both ways, after
// checking that the new device lists every check-in. Only the sync is
// timed in a benchmark.
func (s *FirstSyncSource) Run(tb testing.TB, bin string) (time.Duration, int64) {
	tb.Helper()
	stopTimer(tb)
	hb := Home(tb, bin, "Sam")
	Pair(tb, s.Home, hb)
	srv := Serve(tb, bin, s.Home)
	startTimer(tb)
	d, n := TimedSync(tb, bin, hb)
	stopTimer(tb)
	s.ServePeak, s.CheckerPeak = ProcHWM(srv.PID()), 0
	for _, k := range Children(srv.PID()) {
		s.CheckerPeak = max(s.CheckerPeak, ProcHWM(k))
	}
	srv.Stop()
	if out := Run(tb, bin, hb, "checkin", "list", "--json"); strings.Count(out, `"mood"`) != s.CheckIns {
		tb.Fatalf("new device lists %d check-ins, want %d", strings.Count(out, `"mood"`), s.CheckIns)
	}
	startTimer(tb)
	return d, n
}

// ReconnectResult is what [Reconnect] measured.
type ReconnectResult struct {
	// Sync is the time of the 'trustsync sync' after the offline edits,
	// process start included.
	Sync time.Duration
	// Idle is the same sync when nothing had changed, for comparison.
	Idle time.Duration
	// Wire is the bytes the sync after the offline edits moved both ways.
	Wire int64
}

// Reconnect pairs two homes and syncs them once, adds edits boundaries on
// each while apart, then times one 'trustsync sync' from B with A serving,
// and checks that both homes then hold every boundary. Only that sync is
// timed in a benchmark.
func Reconnect(tb testing.TB, bin string, edits int) ReconnectResult {
	tb.Helper()
	stopTimer(tb)
	ctx := context.Background()
	ha, hb := Home(tb, bin, "Alex"), Home(tb, bin, "Sam")
	Pair(tb, ha, hb)
	srv := Serve(tb, bin, ha)
	TimedSync(tb, bin, hb)
	idle, _ := TimedSync(tb, bin, hb)
	srv.Stop()
	for _, h := range []string{ha, hb} {
		st, sp := Open(tb, h)
		for i := range edits {
			if _, err := sp.AddBoundary(ctx, fmt.Sprintf("offline edit %d", i)); err != nil {
				tb.Fatal(err)
			}
		}
		sp.Close()
		st.Close()
	}
	srv = Serve(tb, bin, ha)
	startTimer(tb)
	d, n := TimedSync(tb, bin, hb)
	stopTimer(tb)
	srv.Stop()
	for _, h := range []string{ha, hb} {
		st, err := store.Open(h, store.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		ids, err := BoundaryIDs(st)
		st.Close()
		if err != nil {
			tb.Fatal(err)
		}
		if len(ids) != 2*edits {
			tb.Fatalf("after the sync %s holds %d boundaries, want %d", h, len(ids), 2*edits)
		}
	}
	startTimer(tb)
	return ReconnectResult{Sync: d, Idle: idle, Wire: n}
}

// LiveOptions are the options of [Live]; the zero value makes isolated
// edits 20 ms apart.
type LiveOptions struct {
	// Burst is the number of edits made back to back before waiting for
	// them; 0 or 1 is isolated edits.
	Burst int
	// Gap is the pause after each isolated edit reached B, outside the
	// timer (default 20 ms).
	Gap time.Duration
}

// Live pairs two homes, serves both, and makes edits boundaries on A's
// store from this process (as another trustsync command would), each
// timed from its commit to B's store showing it, polled read-only every
// 200 us. A first edit, not timed, waits for the sessions. It returns the
// latencies in the order the edits were made.
func Live(tb testing.TB, bin string, edits int, opts LiveOptions) []time.Duration {
	tb.Helper()
	stopTimer(tb)
	burst := max(opts.Burst, 1)
	gap := opts.Gap
	if gap == 0 {
		gap = 20 * time.Millisecond
	}
	ha, hb := Home(tb, bin, "Alex"), Home(tb, bin, "Sam")
	Pair(tb, ha, hb)
	Serve(tb, bin, ha)
	Serve(tb, bin, hb)
	sta, spa := Open(tb, ha)
	defer sta.Close()
	defer spa.Close()
	stb, err := store.Open(hb, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer stb.Close()
	ctx := context.Background()
	wait := func(ids []string, committed []time.Time, lat *[]time.Duration) {
		deadline := time.Now().Add(30 * time.Second)
		seen := make([]bool, len(ids))
		left := len(ids)
		for left > 0 {
			// One point lookup per edit still missing: the poll must
			// cost little, or it takes the CPU the serves need (two
			// cores) and measures itself.
			have := make([]bool, len(ids))
			err := stb.View(ctx, func(tx trustsync.ReadTx) error {
				for i, id := range ids {
					if seen[i] {
						continue
					}
					_, err := tx.Item(crdt.KindBoundary, id)
					if err == nil {
						have[i] = true
					} else if !errors.Is(err, trustsync.ErrNotFound) {
						return err
					}
				}
				return nil
			})
			if err != nil {
				tb.Fatal(err)
			}
			now := time.Now()
			for i := range ids {
				if !seen[i] && have[i] {
					stagetrace.Mark("seen")
					seen[i] = true
					left--
					*lat = append(*lat, now.Sub(committed[i]))
				}
			}
			if left > 0 && now.After(deadline) {
				tb.Fatalf("%d edits did not reach B within 30s\nlast serve's stderr:\n%s", left, lastServeStderr())
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	id, err := spa.AddBoundary(ctx, "warm up")
	if err != nil {
		tb.Fatal(err)
	}
	var warm []time.Duration
	wait([]string{id}, []time.Time{time.Now()}, &warm)

	var lat []time.Duration
	startTimer(tb)
	for i := 0; i < edits; i += burst {
		var ids []string
		var at []time.Time
		for j := 0; j < burst && i+j < edits; j++ {
			id, err := spa.AddBoundary(ctx, fmt.Sprintf("live edit %d", i+j))
			if err != nil {
				tb.Fatal(err)
			}
			stagetrace.Mark("commit")
			ids, at = append(ids, id), append(at, time.Now())
		}
		wait(ids, at, &lat)
		if burst == 1 {
			stopTimer(tb)
			time.Sleep(gap) // apart, not back to back
			startTimer(tb)
		}
	}
	stopTimer(tb)
	return lat
}

// Percentile returns the p-th percentile (0-100) of d, nearest rank
// below; 0 for none. d is left as it is.
func Percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)*p/100, len(s)-1)]
}
