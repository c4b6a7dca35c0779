package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/crdt/internal/hostile"
)

var saveCrashes = flag.String("hostile.save", "", "write the first input of each kind that crashes the checker to this directory (as a regression seed)")

// hostileN is how many inputs of each kind the battery feeds: 250 by default
// (what CI runs), 100 under -short, 2,000 with TRUSTSYNC_LONG=1, or exactly
// TRUSTSYNC_HOSTILE_N.
func hostileN(t *testing.T) int {
	if s := os.Getenv("TRUSTSYNC_HOSTILE_N"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("TRUSTSYNC_HOSTILE_N=%q", s)
		}
		return n
	}
	if os.Getenv("TRUSTSYNC_LONG") != "" {
		return 2000
	}
	if testing.Short() {
		return 100
	}
	return 250
}

// crashCase is a hostile input with what it was applied to: enough to
// replay it in a bare process (testdata/*.json).
type crashCase struct {
	Kind      string `json:"kind"` // doc, incremental, changes, sync
	Op        string `json:"op"`
	Base      []byte `json:"base,omitempty"`       // Save() of the document it was applied to
	SyncState []byte `json:"sync_state,omitempty"` // for sync: the sync state
	Data      []byte `json:"data"`
	Error     string `json:"error"` // what the checker said
}

// target is the caller's side of the battery: a real document (and sync
// state) that accepted inputs are applied to, in this process, the way the
// crdt package applies them. If the checker passed an input that kills a
// process, the test process dies here.
type target struct {
	kind hostile.Kind
	base *automerge.Doc
	ss   *automerge.SyncState
}

func (tg *target) reset(t *testing.T, seeds []hostile.Seed, i int) {
	names := []string{"doc-empty", "doc-a", "doc-merged", "doc-200"}
	name := names[i%len(names)]
	if tg.kind == hostile.Incremental && name == "doc-empty" {
		name = "doc-a"
	}
	tg.base = automerge.New()
	for _, s := range seeds {
		if s.Name == name && s.Kind == hostile.Doc {
			d, err := automerge.Load(s.Data)
			if err != nil {
				t.Fatal(err)
			}
			tg.base = d
		}
	}
	tg.ss = automerge.NewSyncState(tg.base)
}

func (tg *target) key() string { return "battery/" + tg.kind.String() }

func (tg *target) check(ctx context.Context, c *Checker, data []byte) error {
	switch tg.kind {
	case hostile.Doc:
		return c.CheckLoad(ctx, tg.key(), tg.base, data)
	case hostile.Incremental:
		return c.CheckIncremental(ctx, tg.key(), tg.base, data)
	case hostile.Changes:
		return c.CheckChanges(ctx, data)
	}
	return c.CheckMessage(ctx, tg.key(), tg.base, tg.ss.Save(), data)
}

// apply does for real what the checker approved.
func (tg *target) apply(t *testing.T, data []byte) {
	before := tg.base.Heads()
	var err error
	carried := true
	switch tg.kind {
	case hostile.Doc:
		if _, err = automerge.Load(data); err == nil {
			err = tg.base.LoadIncremental(data)
		}
	case hostile.Incremental:
		err = tg.base.LoadIncremental(data)
	case hostile.Changes:
		err = checkChanges(data)
		return
	case hostile.Sync:
		var sm *automerge.SyncMessage
		if sm, err = tg.ss.ReceiveMessage(data); err == nil {
			tg.ss.GenerateMessage()
			carried = len(sm.Changes()) > 0
		}
	}
	if err != nil {
		// Not a crash: automerge gave another answer in this process
		// than in the child. Worth knowing, not fatal.
		t.Logf("%s: approved input refused here: %v", tg.kind, err)
		return
	}
	// The store must stay unharmed: the document must still save and load.
	if err := exercise(tg.base, before, false, carried); err != nil {
		t.Fatalf("%s: after an approved input: %v", tg.kind, err)
	}
}

type tally struct {
	inputs, ok, rejected, crashed int
	examples                      []string
}

// TestHostileBattery feeds thousands of hostile inputs of every kind, and
// hostile sync sessions, through the checker, and applies what it approves
// in this process. It asserts that the checker always answers (approved or
// ErrRejected) and that this process survives; it reports how many inputs
// crashed the child, each of which would have killed this process.
func TestHostileBattery(t *testing.T) {
	n := hostileN(t)
	seeds, err := hostile.Seeds()
	if err != nil {
		t.Fatal(err)
	}
	c := New(Options{})
	defer c.Close()
	ctx := context.Background()
	tallies := map[string]*tally{}
	saved := map[string]bool{}
	record := func(name string, tg *target, in hostile.Input, err error, state []byte, baseSave []byte) bool {
		tl := tallies[name]
		if tl == nil {
			tl = &tally{}
			tallies[name] = tl
		}
		tl.inputs++
		switch {
		case err == nil:
			tl.ok++
			return true
		case errors.Is(err, ErrCrashed):
			tl.crashed++
			tl.rejected++
			if len(tl.examples) < 3 {
				tl.examples = append(tl.examples, fmt.Sprintf("%s: %v", in, err))
			}
			if *saveCrashes != "" && !saved[name] {
				saved[name] = true
				cc := crashCase{Kind: tg.kind.String(), Op: in.Op, Base: baseSave, SyncState: state, Data: in.Data, Error: err.Error()}
				b, _ := json.MarshalIndent(cc, "", " ")
				p := filepath.Join(*saveCrashes, "abort-"+name+".json")
				if werr := os.WriteFile(p, b, 0o644); werr != nil {
					t.Errorf("saving %s: %v", p, werr)
				}
			}
		case errors.Is(err, ErrRejected):
			tl.rejected++
		default:
			t.Fatalf("%s: %s: checker did not answer: %v", name, in, err)
		}
		return false
	}
	for _, kind := range hostile.Kinds {
		g := hostile.New(uint64(kind)+1, seeds)
		tg := &target{kind: kind}
		for i := 0; i < n; i++ {
			if i%100 == 0 {
				tg.reset(t, seeds, i/100)
			}
			in := g.Next(kind)
			var state, baseSave []byte
			if kind == hostile.Sync {
				state = tg.ss.Save()
			}
			if *saveCrashes != "" {
				baseSave = tg.base.Save()
			}
			err := tg.check(ctx, c, in.Data)
			if record(kind.String(), tg, in, err, state, baseSave) {
				tg.apply(t, in.Data)
			}
		}
	}
	// Sessions: whole conversations duplicated, reordered, dropped.
	g := hostile.New(99, seeds)
	tg := &target{kind: hostile.Sync}
	for i := 0; i < n/4; i++ {
		tg.reset(t, seeds, i)
		op, msgs := g.Session()
		for _, m := range msgs {
			in := hostile.Input{Kind: hostile.Sync, Op: "session:" + op, Data: m}
			state := tg.ss.Save()
			var baseSave []byte
			if *saveCrashes != "" {
				baseSave = tg.base.Save()
			}
			if record("session", tg, in, tg.check(ctx, c, m), state, baseSave) {
				tg.apply(t, m)
			}
		}
	}
	total, crashed := 0, 0
	for _, name := range []string{"doc", "incremental", "changes", "sync", "session"} {
		tl := tallies[name]
		if tl == nil {
			t.Fatalf("no %s inputs", name)
		}
		total += tl.inputs
		crashed += tl.crashed
		t.Logf("%-11s %5d inputs: %5d approved, %5d rejected, of which %3d crashed the checker", name, tl.inputs, tl.ok, tl.rejected, tl.crashed)
		for _, e := range tl.examples {
			t.Logf("    e.g. %s", e)
		}
		if tl.ok == 0 || tl.rejected == 0 {
			t.Errorf("%s: the generator made only approved or only rejected inputs", name)
		}
	}
	st := c.Stats()
	t.Logf("total: %d inputs, %d crashed the checker (each would have killed this process); checker stats %+v", total, crashed, st)
	if st.Crashes != crashed || st.Starts != crashed+1 && st.Starts != crashed {
		t.Errorf("stats %+v disagree with %d crashes", st, crashed)
	}
	if st.BaseCrashes != 0 {
		t.Errorf("the checker died loading trusted documents %d times", st.BaseCrashes)
	}
}
