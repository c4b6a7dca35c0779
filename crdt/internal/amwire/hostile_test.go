package amwire_test

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
)

// sampleChanges returns a small change and a long one, as automerge-go
// saves them, and the long one deflated.
func sampleChanges(t testing.TB) (small, long, deflated []byte) {
	t.Helper()
	d := newDoc(t, actorA)
	r := d.RootMap()
	if err := errors.Join(r.Set("name", "x"), r.Set("n", int64(-3)), r.Set("m", automerge.NewMap())); err != nil {
		t.Fatal(err)
	}
	small = commit(t, d, "small", 1).Save()
	if err := r.Set("note", automerge.NewText(strings.Repeat("long text ", 120))); err != nil {
		t.Fatal(err)
	}
	long = commit(t, d, "long", 2).Save()
	return small, long, deflateChange(t, long)
}

// TestParseChange_EveryFlipRefused flips bits of each byte of real changes;
// the checksum, the magic bytes or the format must catch every one. A flip
// inside deflated data may give another encoding of the same change (the
// deflate block bits); then the result must be the same change.
func TestParseChange_EveryFlipRefused(t *testing.T) {
	small, _, deflated := sampleChanges(t)
	for _, tc := range []struct {
		name string
		b    []byte
	}{{"small", small}, {"deflated", deflated}} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.b {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					b := bytes.Clone(tc.b)
					b[i] ^= mask
					c, err := amwire.ParseChange(b, amwire.Limits{})
					if err != nil {
						continue
					}
					want, _ := amwire.ParseChange(tc.b, amwire.Limits{})
					if !reflect.DeepEqual(c, want) {
						t.Fatalf("byte %d ^ %#x: parsed as a different change", i, mask)
					}
					if tc.name == "small" {
						t.Fatalf("byte %d ^ %#x: parsed", i, mask)
					}
				}
			}
		})
	}
}

// TestParse_Truncated cuts real changes and sync messages at every length.
func TestParse_Truncated(t *testing.T) {
	small, long, deflated := sampleChanges(t)
	for _, b := range [][]byte{small, long, deflated} {
		for n := range len(b) {
			if _, err := amwire.ParseChange(b[:n], amwire.Limits{}); !errors.Is(err, amwire.ErrMalformed) {
				t.Fatalf("change cut to %d of %d bytes: %v", n, len(b), err)
			}
		}
	}
	two := append(bytes.Clone(small), long...)
	for n := range len(two) {
		cs, err := amwire.ParseChanges(two[:n], amwire.Limits{})
		if n == 0 || n == len(small) {
			if err != nil || len(cs) != n/len(small) {
				t.Errorf("changes cut at a chunk boundary (%d bytes): %d changes, %v", n, len(cs), err)
			}
		} else if err == nil {
			t.Fatalf("changes cut to %d of %d bytes parsed", n, len(two))
		}
	}

	a, b := newDoc(t, actorA), newDoc(t, actorB)
	if err := a.RootMap().Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	commit(t, a, "k", 1)
	for _, m := range syncMessages(t, a, b) {
		msg := m.Bytes()
		for n := range len(msg) {
			if _, err := amwire.ParseSyncMessage(msg[:n], amwire.Limits{}); err == nil {
				t.Fatalf("sync message cut to %d of %d bytes parsed", n, len(msg))
			}
		}
	}
}

// TestParseChange_Hostile feeds hand-built changes with correct checksums
// and one thing wrong each.
func TestParseChange_Hostile(t *testing.T) {
	base := setKeys("name", "x")
	with := func(spec uint64, data []byte) []col {
		cols := append([]col(nil), base...)
		for i := range cols {
			if cols[i].spec == spec {
				cols[i].data = data
				return cols
			}
		}
		panic("no such column")
	}
	tests := []struct {
		name    string
		b       []byte
		lim     amwire.Limits
		kind    error  // nil: parses
		message string // in the error
	}{
		{name: "valid", b: change{cols: base}.chunk()},
		{name: "huge dependency count", b: change{depsN: 1 << 40, cols: base}.chunk(), kind: amwire.ErrMalformed, message: "dependencies"},
		{name: "huge actor count", b: change{othersN: 1_000_000, cols: base}.chunk(), kind: amwire.ErrMalformed, message: "actors"},
		{name: "more actors than allowed", b: change{others: [][]byte{{1}, {2}, {3}}, cols: base}.chunk(), lim: amwire.Limits{MaxActors: 3}, kind: amwire.ErrLimit, message: "actors"},
		{name: "huge column count", b: change{colsN: 1 << 50, cols: base}.chunk(), kind: amwire.ErrMalformed, message: "op columns"},
		{name: "a run of 2^62 operations", b: change{cols: with(specAction, rleRun(1<<62, 1))}.chunk(), kind: amwire.ErrLimit, message: `op column "action"`},
		{name: "a literal run longer than its bytes", b: change{cols: with(specAction, sleb(nil, -(1<<40)))}.chunk(), kind: amwire.ErrLimit, message: `op column "action"`},
		{name: "huge predecessor count", b: change{cols: with(specPredGroup, rleRun(1, 1<<40))}.chunk(), kind: amwire.ErrLimit, message: `op column "pred count"`},
		{name: "predecessor missing", b: change{cols: with(specPredGroup, rleRun(1, 1))}.chunk(), kind: amwire.ErrMalformed, message: `op column "pred actor"`},
		{name: "unknown action", b: change{cols: with(specAction, rleRun(1, 9))}.chunk(), kind: amwire.ErrUnsupported, message: "unknown action 9"},
		{name: "null action", b: change{cols: with(specAction, []byte{0, 1})}.chunk(), kind: amwire.ErrMalformed, message: "null action"},
		{name: "unknown column skipped", b: change{cols: append(bytes2cols(base), col{12<<4 | 2, []byte{1, 2, 3}})}.chunk()},
		{name: "deflated column", b: change{cols: append(base[:len(base)-1:len(base)-1], col{specPredGroup | 8, rleRun(1, 0)})}.chunk(), kind: amwire.ErrUnsupported, message: "deflated column"},
		{name: "columns out of order", b: change{cols: []col{base[1], base[0]}}.chunk(), kind: amwire.ErrMalformed, message: "not after"},
		{name: "key both string and element", b: change{cols: append([]col{{specKeyActor, rleRun(1, 0)}}, base...)}.chunk(), kind: amwire.ErrMalformed, message: "both a string and an element"},
		{name: "value column without metadata", b: change{cols: append(bytes2cols(base), col{12<<4 | 7, []byte{1}})}.chunk(), kind: amwire.ErrMalformed, message: "without its metadata column"},
		{name: "unknown column in the pred group", b: change{cols: append(bytes2cols(base), col{specPredGroup | 5, rleStrings("x")})}.chunk(), kind: amwire.ErrMalformed, message: "in the pred group"},
		{name: "pred actor without pred counter", b: change{cols: append(bytes2cols(base), col{specPredActor, rleRun(1, 0)})}.chunk(), kind: amwire.ErrMalformed, message: "must come together"},
		{name: "no key", b: change{cols: with(specKeyStr, nil)}.chunk(), kind: amwire.ErrMalformed, message: "no key"},
		{name: "no insert flag", b: change{cols: with(specInsert, nil)}.chunk(), kind: amwire.ErrMalformed, message: `op column "insert": op 0: no insert flag`},
		{name: "actor index out of range", b: change{cols: append([]col{{specObjActor, rleRun(1, 5)}, {specObjCtr, rleRun(1, 1)}}, base...)}.chunk(), kind: amwire.ErrMalformed, message: "actor index 5"},
		{name: "value longer than its column", b: change{cols: with(specValMeta, rleRun(1, 100<<4|6))}.chunk(), kind: amwire.ErrMalformed, message: `op column "value meta"`},
		{name: "key at the size limit", b: change{cols: base}.chunk(), lim: amwire.Limits{MaxValueBytes: 4}},
		{name: "value bigger than allowed", b: change{cols: setKeys("k", "xyz")}.chunk(), lim: amwire.Limits{MaxValueBytes: 2}, kind: amwire.ErrLimit, message: `op column "value meta": op 0: value of 3 bytes exceeds the limit of 2`},
		{name: "key bigger than allowed", b: change{cols: setKeys(strings.Repeat("k", 100), "x")}.chunk(), lim: amwire.Limits{MaxValueBytes: 99}, kind: amwire.ErrLimit, message: `op column "key string"`},
		{name: "value not UTF-8", b: change{cols: setKeys("k", "\xff")}.chunk(), kind: amwire.ErrMalformed, message: "not UTF-8"},
		{name: "increment by a string", b: change{cols: with(specAction, rleRun(1, 5))}.chunk(), kind: amwire.ErrMalformed, message: "increment by a string"},
		{name: "column longer than the body", b: change{cols: base}.chunk()[:0], kind: amwire.ErrMalformed},
		{name: "start op 0 is refused", b: chunk(1, bytes.Replace(change{startOp: 1, cols: base}.body(), []byte{0xaa, 0xaa, 1, 1}, []byte{0xaa, 0xaa, 1, 0}, 1)), kind: amwire.ErrMalformed, message: "start op"},
		{name: "overlong number", b: chunk(1, append([]byte{0x80, 0x00}, change{cols: base}.body()[1:]...)), kind: amwire.ErrMalformed, message: "overlong"},
		{name: "document chunk", b: chunk(0, []byte{0}), kind: amwire.ErrUnsupported, message: "document"},
		{name: "unknown chunk type", b: chunk(9, []byte{0}), kind: amwire.ErrUnsupported, message: "chunk type 9"},
		{name: "bad checksum", b: func() []byte { b := change{cols: base}.chunk(); b[5]++; return b }(), kind: amwire.ErrChecksum},
		{name: "trailing bytes", b: append(change{cols: base}.chunk(), 0), kind: amwire.ErrMalformed, message: "after the chunk"},
		{name: "input bigger than allowed", b: change{cols: base}.chunk(), lim: amwire.Limits{MaxBytes: 20}, kind: amwire.ErrLimit},
		{name: "not deflate data", b: chunk(2, nil)[:8:8], kind: amwire.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := amwire.ParseChange(tc.b, tc.lim)
			if tc.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got := describeAll(c); len(got) != 1 || got[0] != `Set root.name = "x"` {
					t.Errorf("ops %q", got)
				}
				// automerge-go reads the hand-built change the same way.
				chs, err := automerge.LoadChanges(tc.b)
				if err != nil || len(chs) != 1 || amwire.Hash(chs[0].Hash()) != c.Hash {
					t.Fatalf("automerge-go loads it as %d changes: %v", len(chs), err)
				}
				d := automerge.New()
				if err := d.Apply(chs...); err != nil {
					t.Fatal(err)
				}
				if v, err := d.RootMap().Get("name"); err != nil || v.Str() != "x" {
					t.Errorf("automerge-go applies it as name = %v (%v)", v, err)
				}
				return
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want %v", err, tc.kind)
			}
			if !strings.HasPrefix(err.Error(), "amwire: change: ") || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not say %q", err, tc.message)
			}
		})
	}
}

func bytes2cols(c []col) []col { return append([]col(nil), c...) }

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestParseChange_DeflateBomb checks that inflating stops at the limit, and
// that what is allocated stays near it.
func TestParseChange_DeflateBomb(t *testing.T) {
	bomb := deflate(make([]byte, 48<<20)) // 48 MiB of zeros in about 48 KiB
	b := []byte{0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2}
	b = append(uleb(b, uint64(len(bomb))), bomb...)
	for _, tc := range []struct {
		lim      amwire.Limits
		maxAlloc uint64
	}{
		{amwire.Limits{}, 3 * amwire.DefaultMaxDecompressed},
		{amwire.Limits{MaxDecompressed: 1 << 20}, 3 << 20},
	} {
		var err error
		n := allocated(func() { _, err = amwire.ParseChange(b, tc.lim) })
		if !errors.Is(err, amwire.ErrLimit) || !strings.Contains(err.Error(), "inflated change exceeds") {
			t.Errorf("limits %+v: %v", tc.lim, err)
		}
		if raceEnabled {
			tc.maxAlloc *= 3 // the race detector changes what escapes to the heap
		}
		if n > tc.maxAlloc {
			t.Errorf("limits %+v: allocated %d bytes, want at most %d", tc.lim, n, tc.maxAlloc)
		}
	}
	// The limit counts all changes of one call.
	_, long, deflated := sampleChanges(t)
	three := bytes.Repeat(deflated, 3)
	if _, err := amwire.ParseChanges(three, amwire.Limits{MaxDecompressed: 3 * (len(long) - 11)}); err != nil {
		t.Errorf("three changes within the limit: %v", err)
	}
	if _, err := amwire.ParseChanges(three, amwire.Limits{MaxDecompressed: 2 * len(long)}); !errors.Is(err, amwire.ErrLimit) {
		t.Errorf("three changes over the limit: %v", err)
	}
}

// TestParseChange_HugeRunsAllocateLittle checks that a change claiming
// 2^62 operations is refused before anything is allocated for them.
func TestParseChange_HugeRunsAllocateLittle(t *testing.T) {
	b := change{cols: []col{{specKeyStr, rleStrings("k")}, {specAction, rleRun(1<<62, 0)}, {specPredGroup, rleRun(1<<62, 0)}}}.chunk()
	var err error
	if n := allocated(func() { _, err = amwire.ParseChange(b, amwire.Limits{}) }); n > 64<<10 {
		t.Errorf("allocated %d bytes", n)
	}
	if !errors.Is(err, amwire.ErrLimit) {
		t.Errorf("error %v", err)
	}
	// Exactly the limit is fine; one more is not.
	runs := func(n int64) []byte {
		return change{cols: []col{
			{specKeyStr, append(sleb(nil, n), append(uleb(nil, 1), 'k')...)},
			{specInsert, uleb(nil, uint64(n))},
			{specAction, rleRun(n, 0)},
			{specValMeta, rleRun(n, 0)},
			{specPredGroup, rleRun(n, 0)},
		}}.chunk()
	}
	c, err := amwire.ParseChange(runs(1000), amwire.Limits{MaxOps: 1000})
	if err != nil || len(c.Ops) != 1000 || describe(c, c.Ops[999]) != "MakeMap root.k" {
		t.Errorf("1000 ops with MaxOps 1000: %v", err)
	}
	if _, err := amwire.ParseChange(runs(1001), amwire.Limits{MaxOps: 1000}); !errors.Is(err, amwire.ErrLimit) {
		t.Errorf("1001 ops with MaxOps 1000: %v", err)
	}
}

// TestParseSyncMessage_Hostile feeds sync messages with one thing wrong each.
func TestParseSyncMessage_Hostile(t *testing.T) {
	good := change{cols: setKeys("name", "x")}.chunk()
	msg := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	withChange := func(c []byte) []byte {
		return msg([]byte{0x42, 0, 0, 0, 1}, uleb(nil, uint64(len(c))), c)
	}
	tampered := bytes.Clone(good)
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name    string
		b       []byte
		lim     amwire.Limits
		kind    error
		message string
	}{
		{name: "valid", b: withChange(good)},
		{name: "valid with flags", b: append(withChange(good), 2, 2, 0x80)},
		{name: "empty", b: nil, kind: amwire.ErrMalformed, message: "empty"},
		{name: "whole-document message", b: []byte{0x43, 0, 0, 0, 0}, kind: amwire.ErrUnsupported, message: "0x43"},
		{name: "not a sync message", b: good, kind: amwire.ErrUnsupported, message: "0x85"},
		{name: "huge head count", b: msg([]byte{0x42}, uleb(nil, 1<<50)), kind: amwire.ErrMalformed, message: "heads"},
		{name: "huge need count", b: []byte{0x42, 0, 0xff, 0x7f}, kind: amwire.ErrMalformed, message: "need"},
		{name: "huge have count", b: msg([]byte{0x42, 0, 0}, uleb(nil, 1<<40)), kind: amwire.ErrMalformed, message: "have"},
		{name: "bloom filter shorter than it says", b: msg([]byte{0x42, 0, 0, 1, 0, 5}, uleb(nil, 1<<31), []byte{10, 7, 0, 0}), kind: amwire.ErrMalformed, message: "bloom"},
		{name: "more changes than allowed", b: msg([]byte{0x42, 0, 0, 0}, uleb(nil, 3), make([]byte, 3)), lim: amwire.Limits{MaxChanges: 2}, kind: amwire.ErrLimit, message: "changes"},
		{name: "huge change count", b: msg([]byte{0x42, 0, 0, 0}, uleb(nil, 1<<40)), kind: amwire.ErrMalformed, message: "changes"},
		{name: "tampered change", b: withChange(tampered), kind: amwire.ErrChecksum, message: "change 0"},
		{name: "change with trailing bytes", b: withChange(append(bytes.Clone(good), 0)), kind: amwire.ErrMalformed, message: "change 0"},
		{name: "bytes after the flags", b: append(withChange(good), 1, 2, 3), kind: amwire.ErrMalformed, message: "after the flags"},
		{name: "bigger than allowed", b: withChange(good), lim: amwire.Limits{MaxBytes: 10}, kind: amwire.ErrLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := amwire.ParseSyncMessage(tc.b, tc.lim)
			if tc.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(m.Changes) != 1 || describe(m.Changes[0], m.Changes[0].Ops[0]) != `Set root.name = "x"` {
					t.Errorf("changes %v", m.Changes)
				}
				return
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want %v", err, tc.kind)
			}
			if !strings.HasPrefix(err.Error(), "amwire: sync message: ") || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not say %q", err, tc.message)
			}
		})
	}
}
