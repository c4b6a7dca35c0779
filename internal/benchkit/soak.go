package benchkit

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

// SoakOptions are the options of [Soak].
type SoakOptions struct {
	// Edits is the number of edits A makes (default 5,000).
	Edits int
	// SampleEvery is the number of edits between samples (default 250).
	SampleEvery int
	// HeapDir, when set, receives a heap profile and statistics of each
	// serve at the end (see [HeapSnapshot]), in subdirectories A and B.
	HeapDir string
	// ServeEnv is added to the environment of both serves, and so of their
	// checker children (for example GOGC=10).
	ServeEnv []string
}

// SoakKinds are the edits of [Soak], made in this order, round robin.
var SoakKinds = []string{
	"boundary add", "boundary edit", "boundary agree", "goal add", "goal step",
	"checkin add", "checkin ack", "moment add", "commit add", "commit kept",
	"apology write", "setback add",
}

// SoakSample is one sample of [Soak], taken after Edits edits.
type SoakSample struct {
	Edits int
	// Rate is the edits per second of the window that ended here.
	Rate float64
	// RSS of A's serve, A's checker children, B's serve and B's checker
	// children (VmRSS, bytes; the children's summed, 0 when none runs).
	ServeA, CheckerA, ServeB, CheckerB int64
}

// SoakResult is what [Soak] measured.
type SoakResult struct {
	Samples []SoakSample
	// Counts is the number of items of every kind, and of history entries
	// (changes) under "changes", that both homes hold at the end.
	Counts map[string]int
	// Heap holds the snapshots of A's and B's serve at the end, when
	// SoakOptions.HeapDir was set.
	HeapA, HeapB *HeapSnapshot
	// Elapsed is the time of all the edits.
	Elapsed time.Duration
	// SaveBytes is the size of one Save() of each of A's documents at
	// the end, by document ID: what a loaded copy of each holds, compressed.
	SaveBytes map[string]int
}

// Soak pairs two homes, serves both, and has A make opts.Edits edits in a
// row through the command line, one process each, of every kind of
// [SoakKinds] (check-ins with [Note]; the acknowledgements are of check-ins
// B wrote, and received, before the edits). Every opts.SampleEvery edits
// it samples the memory of both serves and their checker children and the
// edit rate of the window. At the end it waits up to a minute for B to
// hold what A holds: the same number of items of every kind and of
// changes. It fails tb when they differ.
func Soak(tb testing.TB, bin string, opts SoakOptions) SoakResult {
	tb.Helper()
	if opts.Edits <= 0 {
		opts.Edits = 5000
	}
	if opts.SampleEvery <= 0 {
		opts.SampleEvery = 250
	}
	ctx := context.Background()
	ha, hb := Home(tb, bin, "Alex"), Home(tb, bin, "Sam")
	Pair(tb, ha, hb)
	acks := 0
	for i := range opts.Edits {
		if SoakKinds[i%len(SoakKinds)] == "checkin ack" {
			acks++
		}
	}
	var theirs []string
	if acks > 0 {
		st, sp := Open(tb, hb)
		for i := range acks {
			id, err := sp.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: trustsync.Mood(1 + i%5), Note: fmt.Sprintf("check-in %d from Sam", i)})
			if err != nil {
				tb.Fatal(err)
			}
			theirs = append(theirs, id)
		}
		sp.Close()
		st.Close()
	}
	heapDir := func(side string) string {
		if opts.HeapDir == "" {
			return ""
		}
		dir := filepath.Join(opts.HeapDir, side)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		return dir
	}
	sa := ServeWith(tb, bin, ha, ServeOptions{HeapDir: heapDir("A"), Env: opts.ServeEnv})
	sb := ServeWith(tb, bin, hb, ServeOptions{HeapDir: heapDir("B"), Env: opts.ServeEnv})
	waitCounts(tb, ha, func(c map[string]int) bool { return c[crdt.KindCheckIn] == acks }, "A to receive B's check-ins")

	var (
		res      SoakResult
		boundary string
		// boundaryText is the boundary's current words, which the
		// agreement names as the words agreed to.
		boundaryText string
		goal         string
		commitment   string
		ackNext      int
		started      = time.Now()
		window       = started
	)
	for i := range opts.Edits {
		kind := SoakKinds[i%len(SoakKinds)]
		text := fmt.Sprintf("soak %d: %s", i, kind)
		switch kind {
		case "boundary add":
			boundary = strings.TrimSpace(Run(tb, bin, ha, "boundary", "add", text))
			boundaryText = text
		case "boundary edit":
			Run(tb, bin, ha, "boundary", "edit", boundary, text)
			boundaryText = text
		case "boundary agree":
			Run(tb, bin, ha, "boundary", "agree", boundary, "--text", boundaryText)
		case "goal add":
			goal = strings.TrimSpace(Run(tb, bin, ha, "goal", "add", text, "--why", "because it matters to us"))
		case "goal step":
			Run(tb, bin, ha, "goal", "step", goal, text)
		case "checkin add":
			Run(tb, bin, ha, "checkin", "add", "--mood", strconv.Itoa(1+i%5), "--note", Note)
		case "checkin ack":
			Run(tb, bin, ha, "checkin", "ack", theirs[ackNext], "--reply", "thank you for telling me")
			ackNext++
		case "moment add":
			Run(tb, bin, ha, "moment", "add", text)
		case "commit add":
			commitment = strings.TrimSpace(Run(tb, bin, ha, "commit", "add", text))
		case "commit kept":
			Run(tb, bin, ha, "commit", "kept", commitment, "--note", text)
		case "apology write":
			Run(tb, bin, ha, "apology", "write", "--happened", text, "--impact", "you felt alone",
				"--responsibility", "I did not call", "--different", "I call first")
		case "setback add":
			Run(tb, bin, ha, "setback", "add", text, "--about", boundary, "--plan", "talk on Sunday")
		}
		if n := i + 1; n%opts.SampleEvery == 0 || n == opts.Edits {
			now := time.Now()
			edits := n - (len(res.Samples) * opts.SampleEvery)
			s := SoakSample{Edits: n, Rate: float64(edits) / now.Sub(window).Seconds(),
				ServeA: ProcRSS(sa.PID()), CheckerA: childrenRSS(sa.PID()),
				ServeB: ProcRSS(sb.PID()), CheckerB: childrenRSS(sb.PID())}
			res.Samples = append(res.Samples, s)
			window = now
		}
	}
	res.Elapsed = time.Since(started)
	want := homeCounts(tb, ha)
	waitCounts(tb, hb, func(c map[string]int) bool { return equalCounts(c, want) }, "B to hold what A holds")
	res.Counts = want
	res.SaveBytes = saveSizes(tb, ha)
	if opts.HeapDir != "" {
		res.HeapA = heapSnapshot(tb, sa, filepath.Join(opts.HeapDir, "A"))
		res.HeapB = heapSnapshot(tb, sb, filepath.Join(opts.HeapDir, "B"))
	}
	return res
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// countKinds are the kinds [Soak] compares between the homes.
var countKinds = []string{crdt.KindBoundary, crdt.KindGoal, crdt.KindStep, crdt.KindCheckIn,
	crdt.KindCommitment, crdt.KindCommitmentEntry, crdt.KindApology, crdt.KindSetback,
	crdt.KindMoment, crdt.KindQuestion, crdt.KindRhythm, crdt.KindMember, crdt.KindDevice}

// homeCounts reads, read-only, the number of items of every kind a home's
// view holds and the number of its history entries ("changes").
func homeCounts(tb testing.TB, home string) map[string]int {
	tb.Helper()
	c, err := readCounts(home)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func readCounts(home string) (map[string]int, error) {
	st, err := store.Open(home, store.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	c := map[string]int{}
	err = st.View(context.Background(), func(tx trustsync.ReadTx) error {
		for _, k := range countKinds {
			items, err := tx.Items(k)
			if err != nil {
				return err
			}
			c[k] = len(items)
		}
		h, err := tx.History(0, 0)
		c["changes"] = len(h)
		return err
	})
	return c, err
}

// waitCounts polls home's counts until ok holds, for up to a minute.
func waitCounts(tb testing.TB, home string, ok func(map[string]int) bool, what string) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := readCounts(home)
		if err == nil && ok(c) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("waited a minute for %s: it holds %v (%v)\nlast serve's stderr:\n%s", what, c, err, lastServeStderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// saveSizes returns the size of one Save() of each document of home.
func saveSizes(tb testing.TB, home string) map[string]int {
	tb.Helper()
	ctx := context.Background()
	st, sp := Open(tb, home)
	defer st.Close()
	defer sp.Close()
	docs, err := sp.Docs(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	sizes := map[string]int{}
	for _, d := range docs {
		data, err := sp.Save(ctx, d)
		if err != nil {
			tb.Fatal(err)
		}
		sizes[d] = len(data)
	}
	return sizes
}

// heapSnapshot signals s to write a heap snapshot into dir and reads it.
func heapSnapshot(tb testing.TB, s *Server, dir string) *HeapSnapshot {
	tb.Helper()
	before, _ := filepath.Glob(filepath.Join(dir, "heap-*.json"))
	if err := s.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		tb.Fatal(err)
	}
	name := filepath.Join(dir, fmt.Sprintf("heap-%d.json", len(before)+1))
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(name)
		if err == nil {
			var h HeapSnapshot
			if err := json.Unmarshal(data, &h); err == nil {
				return &h
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("serve wrote no heap snapshot %s within 30s: %s", name, s.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ProcRSS is the VmRSS of process pid in bytes, 0 when it cannot be read.
func ProcRSS(pid int) int64 { return procStatus(pid, "VmRSS:") }

// ProcHWM is the peak resident memory (VmHWM) of process pid in bytes, 0
// when it cannot be read.
func ProcHWM(pid int) int64 { return procStatus(pid, "VmHWM:") }

// procStatus reads a size field of /proc/PID/status in bytes.
func procStatus(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0
			}
			kb, _ := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// Children lists the child processes of pid, from every one of its
// threads' /proc/PID/task/TID/children.
func Children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var kids []int
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if k, err := strconv.Atoi(f); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids
}

func childrenRSS(pid int) int64 {
	var sum int64
	for _, k := range Children(pid) {
		sum += ProcRSS(k)
	}
	return sum
}
