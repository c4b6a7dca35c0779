package sidebyside

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/trustsync/trustsync/internal/benchkit"
)

var (
	checkIns = flag.Int("checkins", 1825, "check-ins of the first-sync workload")
	edits    = flag.Int("edits", 1000, "offline edits on each side of the reconnect workload")
	live     = flag.Int("live", 100, "isolated live edits per round")
	rounds   = flag.Int("rounds", 4, "rounds of the live workload")
	gap      = flag.Duration("gap", 150*time.Millisecond, "pause between isolated live edits, after one arrived and before the next")
)

// TestMain lets the test binary act as the trustsync command when the
// workloads run it under that name.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "trustsync" {
		os.Exit(benchkit.Main())
	}
	os.Exit(m.Run())
}

// BenchmarkSideBySide runs the three workloads against automerge-repo and
// against trustsync and prints a table of both figures and their ratio;
// see the package documentation.
func BenchmarkSideBySide(b *testing.B) {
	for name, n := range map[string]int{"checkins": *checkIns, "edits": *edits, "live": *live, "rounds": *rounds} {
		if n < 1 {
			b.Fatalf("-%s %d: give a count of at least 1", name, n)
		}
	}
	if *gap < 0 {
		b.Fatalf("-gap %v: give a pause of zero or more", *gap)
	}
	js := nodeSetup(b)
	bin := benchkit.Bin(b)
	var rows []row

	// First sync.
	amFirst := amFirstSync(b, js, *checkIns)
	src := benchkit.NewFirstSyncSource(b, bin, *checkIns)
	tsTime, tsWire := src.Run(b, bin)
	rows = append(rows,
		row{"first sync: time (s)", amFirst.time.Seconds(), tsTime.Seconds(), 2},
		row{"first sync: bytes both ways", float64(amFirst.wire), float64(tsWire), 0},
		row{"first sync: Save() bytes of all documents", float64(amFirst.save), float64(src.SaveBytes), 0},
		row{"first sync: bytes / Save()", float64(amFirst.wire) / float64(amFirst.save), float64(tsWire) / float64(src.SaveBytes), 2},
		row{"first sync: documents", float64(amFirst.docs), float64(src.Docs), 0},
	)

	// Reconnect.
	amRe := amReconnect(b, js, *edits)
	tsRe := benchkit.Reconnect(b, bin, *edits)
	rows = append(rows,
		row{"reconnect: time (s)", amRe.time.Seconds(), tsRe.Sync.Seconds(), 2},
		row{"reconnect: bytes both ways", float64(amRe.wire), float64(tsRe.Wire), 0},
	)

	// Live.
	var am50, am99, ts50, ts99 []float64
	for range *rounds {
		lat := amLive(b, js, *live, *gap)
		am50, am99 = append(am50, ms(benchkit.Percentile(lat, 50))), append(am99, ms(benchkit.Percentile(lat, 99)))
		lat = benchkit.Live(b, bin, *live, benchkit.LiveOptions{Gap: *gap})
		ts50, ts99 = append(ts50, ms(benchkit.Percentile(lat, 50))), append(ts99, ms(benchkit.Percentile(lat, 99)))
	}
	rows = append(rows,
		row{"live edit p50 (ms), median of rounds", median(am50), median(ts50), 2},
		row{"live edit p99 (ms), median of rounds", median(am99), median(ts99), 2},
	)

	w := os.Stdout
	fmt.Fprintf(w, "\nside by side: %d check-ins, %d offline edits each side, %d rounds of %d live edits %s apart\n",
		*checkIns, *edits, *rounds, *live, *gap)
	fmt.Fprintf(w, "%-44s %16s %16s %12s\n", "figure", "automerge-repo", "trustsync", "ts / am")
	for _, r := range rows {
		fmt.Fprintf(w, "%-44s %16s %16s %12s\n", r.name, r.format(r.am), r.format(r.ts), fmt.Sprintf("%.2fx", r.ts/r.am))
	}
	fmt.Fprintf(w, "%-44s %16s %16s\n", "live edit p50 (ms), range of rounds", span(am50), span(ts50))
	fmt.Fprintf(w, "%-44s %16s %16s\n", "live edit p99 (ms), range of rounds", span(am99), span(ts99))

	b.ReportMetric(amFirst.time.Seconds(), "am-first-s")
	b.ReportMetric(tsTime.Seconds(), "ts-first-s")
	b.ReportMetric(amRe.time.Seconds(), "am-reconnect-s")
	b.ReportMetric(tsRe.Sync.Seconds(), "ts-reconnect-s")
	b.ReportMetric(median(am50), "am-live-p50-ms")
	b.ReportMetric(median(ts50), "ts-live-p50-ms")
}

type row struct {
	name   string
	am, ts float64
	prec   int
}

func (r row) format(v float64) string {
	if r.prec == 0 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.*f", r.prec, v)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func span(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f-%.1f", slices.Min(v), slices.Max(v))
}

// nodeSetup checks that node and npm are installed, installs the pinned
// npm packages when node_modules is missing, and returns the directory of
// peer.mjs.
func nodeSetup(tb testing.TB) string {
	tb.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Fatalf("the side-by-side benchmark runs automerge-repo in Node: %s is not on the PATH (install Node 20 or later with npm)", tool)
		}
	}
	js, err := filepath.Abs("js")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(js, "node_modules")); err != nil {
		npm := func(args ...string) (string, error) {
			cmd := exec.Command("npm", append(args, "--no-audit", "--no-fund")...)
			cmd.Dir = js
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		if out, err := npm("ci"); err != nil {
			// npm ci refuses a lock file that lacks an optional
			// dependency the registry does not serve (cbor-x's native
			// cbor-extract builds, on some mirrors); npm install with the
			// same lock file installs the same pinned versions without
			// them (cbor-x then decodes in JavaScript).
			first, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
			fmt.Fprintf(os.Stderr, "npm ci failed (%v: %s); installing the locked versions with npm install --no-save\n", err, first)
			if out, err := npm("install", "--no-save"); err != nil {
				tb.Fatalf("installing the npm packages in %s: %v\n%s", js, err, out)
			}
		}
	}
	return js
}

// peer is one running 'node peer.mjs'.
type peer struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan map[string]any
	stderr *strings.Builder
	done   chan struct{}
	once   stdsync.Once
}

// startPeer runs 'node peer.mjs args...' in js; its output lines are read
// by next. It is stopped when tb's test ends.
func startPeer(tb testing.TB, js, name string, args ...string) *peer {
	tb.Helper()
	cmd := exec.Command("node", append([]string{"peer.mjs"}, args...)...)
	cmd.Dir = js
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	p := &peer{name: name, cmd: cmd, stdin: stdin, lines: make(chan map[string]any, 1024), stderr: &strings.Builder{}, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{w: p.stderr}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var v map[string]any
			if json.Unmarshal(sc.Bytes(), &v) == nil {
				p.lines <- v
			}
		}
		cmd.Wait()
		close(p.done)
		close(p.lines)
	}()
	tb.Cleanup(p.stop)
	return p
}

type lockedWriter struct {
	mu stdsync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// send writes one command.
func (p *peer) send(tb testing.TB, cmd map[string]any) {
	tb.Helper()
	data, _ := json.Marshal(cmd)
	if _, err := p.stdin.Write(append(data, '\n')); err != nil {
		tb.Fatalf("%s: sending %s: %v", p.name, data, err)
	}
}

// next returns the next output line that has key, within timeout.
func (p *peer) next(tb testing.TB, key string, timeout time.Duration) map[string]any {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case v, ok := <-p.lines:
			if !ok {
				tb.Fatalf("%s exited (%v) before printing %q: %s", p.name, p.cmd.ProcessState, key, p.stderr)
			}
			if _, has := v[key]; has {
				return v
			}
		case <-deadline:
			tb.Fatalf("%s printed no %q within %s: %s", p.name, key, timeout, p.stderr)
		}
	}
}

// stop closes the peer's input (it then stores what it holds and exits)
// and waits, killing it after 30s.
func (p *peer) stop() {
	p.once.Do(func() {
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// runPeer runs a peer that does one job and exits, and returns the line
// with key.
func runPeer(tb testing.TB, js, key string, args ...string) map[string]any {
	tb.Helper()
	p := startPeer(tb, js, args[0], args...)
	v := p.next(tb, key, 10*time.Minute)
	p.stop()
	return v
}

func num(v map[string]any, key string) float64 {
	f, _ := v[key].(float64)
	return f
}

type amResult struct {
	time       time.Duration
	wire, save int64
	docs       int
}

// amFirstSync: A holds n daily check-ins in one document per month and
// serves; a new client fetches every document.
func amFirstSync(tb testing.TB, js string, n int) amResult {
	tb.Helper()
	dir := tb.TempDir()
	a, bdir := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	seed := runPeer(tb, js, "urls", "seed", a, fmt.Sprint(n))
	urls := seed["urls"]
	srv := startPeer(tb, js, "automerge-repo server", "serve", a)
	port := int(num(srv.next(tb, "port", time.Minute), "port"))
	first, _ := json.Marshal(map[string]any{"op": "fetch", "urls": urls})
	start := time.Now()
	cl := startPeer(tb, js, "automerge-repo client", "client", bdir, fmt.Sprint(port), string(first))
	got := cl.next(tb, "fetched", 10*time.Minute)
	d := time.Since(start)
	cl.stop()
	srv.stop()
	if r := num(got, "retries"); r > 0 {
		fmt.Fprintf(os.Stderr, "automerge-repo first sync: %.0f finds retried after \"unavailable\"\n", r)
	}
	if c := int(num(got, "checkins")); c != n {
		tb.Fatalf("automerge-repo client holds %d check-ins, want %d", c, n)
	}
	return amResult{time: d, wire: int64(num(got, "in") + num(got, "out")), save: int64(num(seed, "save_bytes")), docs: int(num(seed, "docs"))}
}

// amReconnect: A and B synced once, then edits items added on each while
// apart; B connects to A serving.
func amReconnect(tb testing.TB, js string, edits int) amResult {
	tb.Helper()
	dir := tb.TempDir()
	a, bdir := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	url := runPeer(tb, js, "url", "create", a)["url"]
	wait0, _ := json.Marshal(map[string]any{"op": "wait", "url": url, "count": 0})
	srv := startPeer(tb, js, "automerge-repo server", "serve", a)
	port := int(num(srv.next(tb, "port", time.Minute), "port"))
	cl := startPeer(tb, js, "automerge-repo client", "client", bdir, fmt.Sprint(port), string(wait0))
	cl.next(tb, "reached", time.Minute)
	cl.stop()
	srv.stop()
	runPeer(tb, js, "items", "offline", a, url.(string), fmt.Sprint(edits), "alex")
	runPeer(tb, js, "items", "offline", bdir, url.(string), fmt.Sprint(edits), "sam")

	wait, _ := json.Marshal(map[string]any{"op": "wait", "url": url, "count": 2 * edits})
	srv = startPeer(tb, js, "automerge-repo server", "serve", a, string(wait))
	port = int(num(srv.next(tb, "port", time.Minute), "port"))
	start := time.Now()
	cl = startPeer(tb, js, "automerge-repo client", "client", bdir, fmt.Sprint(port), string(wait))
	got := cl.next(tb, "reached", 10*time.Minute)
	srv.next(tb, "reached", 10*time.Minute)
	d := time.Since(start)
	cl.stop()
	srv.stop()
	if r := num(got, "retries"); r > 0 {
		fmt.Fprintf(os.Stderr, "automerge-repo reconnect: %.0f finds retried after \"unavailable\"\n", r)
	}
	return amResult{time: d, wire: int64(num(got, "in") + num(got, "out"))}
}

// amLive: A serves, B is connected, both have the shared document; edits
// isolated edits on A, gap apart, each timed until B's change event shows
// it.
func amLive(tb testing.TB, js string, edits int, gap time.Duration) []time.Duration {
	tb.Helper()
	dir := tb.TempDir()
	a, bdir := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	url := runPeer(tb, js, "url", "create", a)["url"]
	open, _ := json.Marshal(map[string]any{"op": "open", "url": url})
	srv := startPeer(tb, js, "automerge-repo server", "serve", a, string(open))
	port := int(num(srv.next(tb, "port", time.Minute), "port"))
	srv.next(tb, "opened", time.Minute)
	cl := startPeer(tb, js, "automerge-repo client", "client", bdir, fmt.Sprint(port), string(open))
	cl.next(tb, "opened", time.Minute)
	cl.send(tb, map[string]any{"op": "watch"})
	cl.next(tb, "watching", time.Minute)
	edit := func(i int) time.Duration {
		srv.send(tb, map[string]any{"op": "edit", "i": i})
		e := srv.next(tb, "edited", time.Minute)
		s := cl.next(tb, "seen", time.Minute)
		if int(num(s, "seen")) != i {
			tb.Fatalf("B saw live edit %v, want %d", s["seen"], i)
		}
		return time.Duration(nanos(tb, s["t"]) - nanos(tb, e["t"]))
	}
	edit(-1) // warm up
	var lat []time.Duration
	for i := range edits {
		lat = append(lat, edit(i))
		time.Sleep(gap) // apart, not back to back
	}
	cl.stop()
	srv.stop()
	return lat
}

// nanos reads a time in nanoseconds that peer.mjs prints as a string.
func nanos(tb testing.TB, v any) int64 {
	tb.Helper()
	s, _ := v.(string)
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		tb.Fatalf("peer printed time %v: %v", v, err)
	}
	return n
}
