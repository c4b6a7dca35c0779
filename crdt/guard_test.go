package crdt

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
)

// newTestDoc returns a document with n committed changes, each setting key
// "k<i>" to i.
func newTestDoc(t testing.TB, n int) *automerge.Doc {
	t.Helper()
	d := automerge.New()
	for i := 0; i < n; i++ {
		if err := setInt(d.RootMap(), fmt.Sprint("k", i), int64(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Commit(fmt.Sprint("change ", i)); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// The guards replace these automerge-go calls; outside guard.go none of them
// may appear, and Apply, Path and Merge may appear nowhere.
func TestGuard_NoUnguardedCalls(t *testing.T) {
	forbidden := map[string]bool{"Apply": true, "Path": true, "Merge": true}
	guardedOnly := map[string]bool{
		"Load": true, "LoadIncremental": true, "LoadChanges": true,
		"LoadSyncState": true, "NewSyncState": true, "GenerateMessage": true,
		"ReceiveMessage": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			m := sel.Sel.Name
			// Our own Peer.ReceiveMessage and lockedSyncState are fine to
			// call by those names only when the receiver is not automerge's.
			if forbidden[m] {
				t.Errorf("%s: call to %s; use the guards in guard.go", fset.Position(call.Pos()), m)
			}
			if guardedOnly[m] && name != "guard.go" {
				t.Errorf("%s: call to %s outside guard.go", fset.Position(call.Pos()), m)
			}
			return true
		})
	}
	if checked < 5 {
		t.Fatalf("checked only %d files", checked)
	}
}

func TestApplyEach_AppliesOnlyTheGivenChanges(t *testing.T) {
	src := newTestDoc(t, 3)
	chs, err := src.Changes() // one batch of three changes
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		apply    []*automerge.Change
		wantKeys int
	}{
		{"first only", chs[:1], 1},
		{"first two", chs[:2], 2},
		{"all", chs, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := automerge.New()
			if err := applyEach(nil, d, tt.apply...); err != nil {
				t.Fatal(err)
			}
			if got := d.RootMap().Len(); got != tt.wantKeys {
				t.Fatalf("after applying %d changes the doc has %d keys, want %d", len(tt.apply), got, tt.wantKeys)
			}
		})
	}
}

func TestMerge_RefusesSelfMergeWithoutDeadlock(t *testing.T) {
	d := newTestDoc(t, 1)
	done := make(chan error, 1)
	go func() { done <- merge(nil, d, d) }()
	select {
	case err := <-done:
		if !errors.Is(err, errSelfMerge) {
			t.Fatalf("merge(d, d) = %v, want errSelfMerge", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("merge(d, d) deadlocked")
	}
}

func TestMerge_CrossedMergesConverge(t *testing.T) {
	a := newTestDoc(t, 1)
	b := automerge.New()
	if err := merge(nil, b, a); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	for round := 0; round < 20; round++ {
		for i, d := range []*automerge.Doc{a, b} {
			if err := d.RootMap().Set(fmt.Sprint("r", round, "-", i), "x"); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Commit("edit"); err != nil {
				t.Fatal(err)
			}
		}
		go func() { done <- merge(nil, a, b) }()
		go func() { done <- merge(nil, b, a) }()
		for i := 0; i < 2; i++ {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(time.Minute):
				t.Fatalf("round %d: crossed merges deadlocked", round)
			}
		}
	}
	// One more one-way merge each settles anything concurrent.
	if err := merge(nil, a, b); err != nil {
		t.Fatal(err)
	}
	if err := merge(nil, b, a); err != nil {
		t.Fatal(err)
	}
	if ha, hb := hexHeads(a.Heads()), hexHeads(b.Heads()); strings.Join(ha, ",") != strings.Join(hb, ",") {
		t.Fatalf("heads differ after merging: %v vs %v", ha, hb)
	}
	if got, want := a.RootMap().Len(), 1+2*20; got != want {
		t.Fatalf("merged doc has %d keys, want %d", got, want)
	}
}

func TestLockedSyncState_SaveWaitsForTheLock(t *testing.T) {
	d := newTestDoc(t, 2)
	ls, err := newLockedSyncState(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		fn   func()
	}{
		{"save", func() { ls.save() }},
		{"generate", func() { ls.generate() }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			ls.mu.Lock()
			done := make(chan struct{})
			go func() { c.fn(); close(done) }()
			select {
			case <-done:
				ls.mu.Unlock()
				t.Fatalf("%s ran while the sync state's mutex was held", c.name)
			case <-time.After(50 * time.Millisecond):
			}
			ls.mu.Unlock()
			<-done
		})
	}
}

func TestLockedSyncState_RoundTrip(t *testing.T) {
	a := newTestDoc(t, 3)
	b := automerge.New()
	la, _ := newLockedSyncState(a, nil)
	lb, _ := newLockedSyncState(b, nil)
	for i := 0; i < 10; i++ {
		progressed := false
		if m, ok := la.generate(); ok {
			if _, err := lb.receive(nil, m); err != nil {
				t.Fatal(err)
			}
			progressed = true
		}
		if m, ok := lb.generate(); ok {
			if _, err := la.receive(nil, m); err != nil {
				t.Fatal(err)
			}
			progressed = true
		}
		if !progressed {
			break
		}
	}
	if b.RootMap().Len() != 3 {
		t.Fatalf("synced doc has %d keys, want 3", b.RootMap().Len())
	}
	saved := lb.save()
	lb2, err := newLockedSyncState(b, saved)
	if err != nil || lb2 == nil {
		t.Fatalf("reload sync state: %v", err)
	}
	if _, err := lb.receive(nil, nil); !errors.Is(err, errEmptyInput) {
		t.Fatalf("receive(nil) = %v, want errEmptyInput", err)
	}
}

// TestLockedSyncState_RefusesMalformedPersistedState: persisted sync states
// come from the store; only the exact form SyncState.Save writes reaches
// automerge (which accepts trailing bytes, the first case, by itself).
func TestLockedSyncState_RefusesMalformedPersistedState(t *testing.T) {
	d := newTestDoc(t, 3)
	good := sharedHeadsState(d.Heads())
	for name, b := range map[string][]byte{
		"trailing bytes": append(slices.Clone(good), 1, 2, 3),
		"truncated":      good[:len(good)-1],
		"wrong type":     append([]byte{0x42}, good[1:]...),
		"huge count":     {0x43, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"overlong count": append([]byte{0x43, 0x81, 0x00}, good[2:]...),
		"type only":      {0x43},
	} {
		if _, err := newLockedSyncState(d, b); !errors.Is(err, errBadSyncState) {
			t.Errorf("%s: %v, want errBadSyncState", name, err)
		}
	}
	// What Save writes passes: a fresh state, and one after a sync.
	a := newTestDoc(t, 2)
	la, _ := newLockedSyncState(a, nil)
	lb, _ := newLockedSyncState(d, nil)
	for i := 0; i < 10; i++ {
		m, ok := la.generate()
		if ok {
			_, err := lb.receive(nil, m)
			noErr(t, err)
		}
		m2, ok2 := lb.generate()
		if ok2 {
			_, err := la.receive(nil, m2)
			noErr(t, err)
		}
		if !ok && !ok2 {
			break
		}
	}
	for _, b := range [][]byte{{0x43, 0x00}, good, la.save(), lb.save()} {
		if _, err := newLockedSyncState(d, b); err != nil {
			t.Errorf("saved state %x refused: %v", b, err)
		}
	}
}

func TestMemGuard_NoteLoad(t *testing.T) {
	tests := []struct {
		name    string
		loads   []int
		wantGCs int
	}{
		{"nothing", nil, 0},
		{"below the threshold", []int{1 << 10, 1 << 10}, 0},
		{"one past the threshold", []int{memThreshold / nativeFactor}, 1},
		{"many small", make1KiB(100), 100 * (1 << 10) * nativeFactor / memThreshold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran := 0
			g := &memGuard{threshold: memThreshold, gc: func() { ran++ }}
			for _, n := range tt.loads {
				g.noteLoad(n)
			}
			if ran != tt.wantGCs || g.gcs != tt.wantGCs {
				t.Fatalf("gc ran %d times (counted %d), want %d", ran, g.gcs, tt.wantGCs)
			}
		})
	}
}

func make1KiB(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1 << 10
	}
	return out
}

// vmRSS returns the resident set size of this process in bytes.
func vmRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatalf("read /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// bigTextDoc returns the bytes of a document of about size bytes made of
// texts, the shape that costs most native memory once loaded.
func bigTextDoc(t *testing.T, size int) []byte {
	t.Helper()
	d := automerge.New()
	words := strings.Fields("we agreed to talk before bed and to name what we need without blame")
	for i := 0; ; i++ {
		var sb strings.Builder
		for j := 0; j < 60; j++ {
			sb.WriteString(words[(i*7+j*3)%len(words)])
			sb.WriteByte(' ')
			sb.WriteString(strconv.Itoa(i * j))
			sb.WriteByte(' ')
		}
		if err := d.RootMap().Set(fmt.Sprint("t", i), automerge.NewText(sb.String())); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Commit("add"); err != nil {
			t.Fatal(err)
		}
		if i%20 == 19 {
			if b := d.Save(); len(b) >= size {
				return b
			}
		}
	}
}

func TestMemGuard_BoundsRSSOfRepeatedLoads(t *testing.T) {
	data := bigTextDoc(t, 20<<10)
	mem := newMemGuard()
	runtime.GC()
	before := vmRSS(t)
	// Without the guard, 50 loads of this document grow RSS by about 1.5 GB
	// (about 30 MB each); with it RSS levels off near 400 MB.
	const loads = 50
	for i := 0; i < loads; i++ {
		d, err := loadDoc(mem, data)
		if err != nil {
			t.Fatal(err)
		}
		if d.RootMap().Len() == 0 {
			t.Fatal("loaded an empty doc")
		}
	}
	grown := vmRSS(t) - before
	t.Logf("%d loads of a %d-byte doc: RSS grew %d MiB, %d forced GCs", loads, len(data), grown>>20, mem.gcs)
	if mem.gcs == 0 {
		t.Fatal("the guard never collected")
	}
	if limit := int64(800 << 20); grown > limit {
		t.Fatalf("RSS grew %d MiB over %d loads; want under %d MiB", grown>>20, loads, limit>>20)
	}
}

func TestGetInt_ReadsEveryNumberKind(t *testing.T) {
	d := automerge.New()
	m := d.RootMap()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.Set("goint", 42)) // stored as a float64 by automerge-go
	must(m.Set("int64", int64(42)))
	must(m.Set("uint64", uint64(42)))
	must(m.Set("float", 42.0))
	must(setInt(m, "set", 42))
	if _, err := d.Commit("nums"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"goint", "int64", "uint64", "float", "set"} {
		t.Run(k, func(t *testing.T) {
			n, ok := getInt(m, k)
			if !ok || n != 42 {
				t.Fatalf("getInt(%q) = %d, %v; want 42, true", k, n, ok)
			}
		})
	}
	if v := getValue(m, "set"); v.Kind() != automerge.KindInt64 {
		t.Fatalf("setInt stored a %v, want an int64", v.Kind())
	}
	if _, ok := getInt(m, "missing"); ok {
		t.Fatal("getInt of a missing key reported a value")
	}
}

func TestChangeTime_ReadsSecondsAndMilliseconds(t *testing.T) {
	tests := []struct {
		name string
		raw  int64 // what the change header holds
		want time.Time
	}{
		{"milliseconds (automerge-go)", 1_700_000_000_123, time.UnixMilli(1_700_000_000_123).UTC()},
		{"seconds (JavaScript)", 1_700_000_000, time.Unix(1_700_000_000, 0).UTC()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := automerge.New()
			if err := d.RootMap().Set("x", true); err != nil {
				t.Fatal(err)
			}
			at := time.UnixMilli(tt.raw)
			if _, err := d.Commit("x", automerge.CommitOptions{Time: &at}); err != nil {
				t.Fatal(err)
			}
			chs, err := d.Changes()
			if err != nil {
				t.Fatal(err)
			}
			if got := changeTime(chs[0]); !got.Equal(tt.want) {
				t.Fatalf("changeTime = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadDoc_NextSaveIncrementalHoldsOnlyNewChanges(t *testing.T) {
	data := newTestDoc(t, 5).Save()
	loaders := []struct {
		name string
		load func() (*automerge.Doc, error)
	}{
		{"loadDoc", func() (*automerge.Doc, error) { return loadDoc(nil, data) }},
		{"loadInto", func() (*automerge.Doc, error) {
			d := automerge.New()
			return d, loadInto(nil, d, data)
		}},
	}
	for _, l := range loaders {
		t.Run(l.name, func(t *testing.T) {
			d, err := l.load()
			if err != nil {
				t.Fatal(err)
			}
			if err := setInt(d.RootMap(), "new", 1); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Commit("new"); err != nil {
				t.Fatal(err)
			}
			// Loaded alone into an empty document, the chunk must not bring
			// back the old history: only the new change, waiting for its
			// dependencies.
			// (this core refuses it: "change's deps should already be in
			// the document").
			alone := automerge.New()
			err = alone.LoadIncremental(d.SaveIncremental())
			if n := alone.RootMap().Len(); err == nil || n != 0 {
				t.Fatalf("the first SaveIncremental after a load re-exported the history (%d keys)", n)
			}
		})
	}
}

func TestLoadDoc_RefusesEmptyInput(t *testing.T) {
	if _, err := loadDoc(nil, nil); !errors.Is(err, errEmptyInput) {
		t.Fatalf("loadDoc(nil) = %v, want errEmptyInput", err)
	}
	if err := loadInto(nil, automerge.New(), []byte{}); !errors.Is(err, errEmptyInput) {
		t.Fatalf("loadInto(empty) = %v, want errEmptyInput", err)
	}
}

func TestLoadInto_RefusesGarbage(t *testing.T) {
	d := newTestDoc(t, 2) // non-empty: automerge itself would accept garbage
	for _, garbage := range [][]byte{[]byte("garbage!"), {0x85}, {0x85, 0x6f, 0x4a, 0x84, 1, 2}} {
		if err := loadInto(nil, d, garbage); !errors.Is(err, errNotAutomerge) {
			t.Errorf("loadInto(%q) = %v, want errNotAutomerge", garbage, err)
		}
	}
	if err := loadInto(nil, d, newTestDoc(t, 3).Save()); err != nil {
		t.Fatalf("loadInto of a real document: %v", err)
	}
}

func TestGetMap_WalksWithoutAliasing(t *testing.T) {
	d := automerge.New()
	root := d.RootMap()
	for _, k := range []string{"a", "b"} {
		m := automerge.NewMap()
		if err := root.Set(k, m); err != nil {
			t.Fatal(err)
		}
		inner := automerge.NewMap()
		if err := m.Set("inner", inner); err != nil {
			t.Fatal(err)
		}
		if err := inner.Set("name", k); err != nil {
			t.Fatal(err)
		}
	}
	a := getMap(root, "a", "inner")
	b := getMap(root, "b", "inner")
	if getStr(a, "name") != "a" || getStr(b, "name") != "b" {
		t.Fatalf("got %q and %q, want a and b", getStr(a, "name"), getStr(b, "name"))
	}
	if getMap(root, "a", "missing") != nil || getMap(nil, "a") != nil {
		t.Fatal("getMap found a missing map")
	}
}
