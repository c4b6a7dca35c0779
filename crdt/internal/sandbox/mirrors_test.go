package sandbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/automerge/automerge-go"
)

// monthDoc returns a saved document of about size bytes: 30 entries with
// notes of random letters (which do not compress), as a month of check-ins.
func monthDoc(t testing.TB, seed uint64, size int) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	d := automerge.New()
	note := make([]byte, size*10/7/30) // deflate takes letters to 5 bits each
	for i := range 30 {
		for j := range note {
			note[j] = byte('a' + rng.IntN(26))
		}
		if err := d.RootMap().Set(fmt.Sprintf("checkin-%02d", i), string(note)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Commit("month"); err != nil {
		t.Fatal(err)
	}
	return d.Save()
}

// importAll checks each document as a snapshot into an empty document, as
// a device's first sync does, and returns the documents loaded as the
// caller then holds them.
func importAll(t *testing.T, c *Checker, docs [][]byte) []*automerge.Doc {
	t.Helper()
	ctx := context.Background()
	var loaded []*automerge.Doc
	for i, data := range docs {
		if err := c.CheckImport(ctx, fmt.Sprintf("month-%02d", i), nil, data); err != nil {
			t.Fatalf("import of month %d: %v", i, err)
		}
		d, err := automerge.Load(data)
		if err != nil {
			t.Fatal(err)
		}
		loaded = append(loaded, d)
	}
	return loaded
}

// messageAll checks a sync message with one new change for each document.
func messageAll(t *testing.T, c *Checker, loaded []*automerge.Doc) {
	t.Helper()
	for i, local := range loaded {
		remote, err := local.Fork()
		if err != nil {
			t.Fatal(err)
		}
		edit(t, remote, "mood", int64(i))
		p := newPair(local, remote)
		m, ok := p.remoteSS.GenerateMessage()
		if !ok {
			t.Fatal("nothing to send")
		}
		if err := c.CheckMessage(context.Background(), fmt.Sprintf("month-%02d", i), local, nil, m.Bytes()); err != nil {
			t.Fatalf("message for month %d: %v", i, err)
		}
	}
}

// TestMirrors_FirstSyncNeverEvicts: with the default options, the mirrors
// of a first sync of 60 month documents (2.4 KB saved each) all stay: the
// second round of checks on them loads nothing again.
func TestMirrors_FirstSyncNeverEvicts(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	var docs [][]byte
	total := 0
	for i := range 60 {
		docs = append(docs, monthDoc(t, uint64(i), 2400))
		total += len(docs[i])
	}
	if total < 60*2000 {
		t.Fatalf("the month documents save to %d bytes, want about 60 x 2.4 KB", total)
	}
	loaded := importAll(t, c, docs)
	messageAll(t, c, loaded)
	st := c.Stats()
	if st.FullSyncs != 60 || st.DeltaSyncs != 0 || st.Starts != 1 || st.Rejected != 0 {
		t.Fatalf("stats %+v: want 60 mirrors loaded once each by one child, none reloaded", st)
	}
	c.mu.Lock()
	n, held := len(c.mirrors), c.bytes
	c.mu.Unlock()
	if n != 60 || held < int64(total) {
		t.Fatalf("%d mirrors holding %d bytes, want all 60 holding at least %d", n, held, total)
	}
}

// TestMirrors_BoundedByBytes: mirrors beyond Options.MaxMirrorBytes are
// dropped, least recently used first, and reloaded when needed again; a
// document larger than the bound alone is checked, then dropped.
func TestMirrors_BoundedByBytes(t *testing.T) {
	var docs [][]byte
	for i := range 5 {
		docs = append(docs, monthDoc(t, uint64(i), 2400))
	}
	bound := int64(3*len(docs[0]) + len(docs[0])/2)
	c := New(Options{MaxMirrorBytes: bound})
	defer c.Close()
	loaded := importAll(t, c, docs)
	c.mu.Lock()
	n, held := len(c.mirrors), c.bytes
	_, first := c.mirrors["month-00"]
	_, last := c.mirrors["month-04"]
	c.mu.Unlock()
	if n != 3 || held > bound || first || !last {
		t.Fatalf("%d mirrors holding %d bytes (bound %d), oldest kept %v, newest kept %v; want the 3 newest", n, held, bound, first, last)
	}
	messageAll(t, c, loaded)
	if st := c.Stats(); st.Rejected != 0 || st.FullSyncs != 5+5 {
		t.Fatalf("stats %+v: want every check passed, each evicted mirror reloaded", st)
	}

	big := monthDoc(t, 99, 12000)
	if err := c.CheckImport(context.Background(), "big", nil, big); err != nil {
		t.Fatalf("a document larger than the bound: %v", err)
	}
	c.mu.Lock()
	n, held = len(c.mirrors), c.bytes
	c.mu.Unlock()
	if n != 0 || held != 0 {
		t.Fatalf("after a document larger than the bound: %d mirrors holding %d bytes, want none", n, held)
	}
}

// TestMirrors_BoundedByMeasuredMemory: the child reports the native memory
// it has in use, and beyond Options.MaxMirrorMemory the least recently used
// mirrors are dropped (and reloaded when needed again) while every check
// still passes; under a bound the mirrors fit in, none is dropped.
func TestMirrors_BoundedByMeasuredMemory(t *testing.T) {
	var docs [][]byte
	for i := range 6 {
		docs = append(docs, textMonthDoc(t, uint64(i)))
	}
	roomy := New(Options{MaxMirrorMemory: 1 << 30})
	defer roomy.Close()
	messageAll(t, roomy, importAll(t, roomy, docs))
	st := roomy.Stats()
	roomy.mu.Lock()
	mem, n := roomy.childMem, len(roomy.mirrors)
	roomy.mu.Unlock()
	if mem == 0 {
		t.Fatal("the child reported no memory in use (glibc's mallinfo2 is expected on this system)")
	}
	if st.MemoryEvictions != 0 || n != len(docs) || st.Rejected != 0 {
		t.Fatalf("under a roomy bound: %d mirrors, stats %+v; want all %d kept", n, st, len(docs))
	}
	t.Logf("%d Text-heavy mirrors: the child has %.1f MiB in use", n, float64(mem)/(1<<20))

	tight := New(Options{MaxMirrorMemory: mem / 3})
	defer tight.Close()
	messageAll(t, tight, importAll(t, tight, docs))
	st = tight.Stats()
	if st.Rejected != 0 || st.MemoryEvictions == 0 || st.FullSyncs == 0 {
		t.Fatalf("under a third of that: stats %+v; want mirrors dropped for memory and reloaded, every check passed", st)
	}
}

// textMonthDoc is a month of 30 check-ins whose 500-character notes are
// Automerge Text, as older versions stored them: about 5 MB loaded.
func textMonthDoc(t testing.TB, seed uint64) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	d := automerge.New()
	note := make([]byte, 500)
	for i := range 30 {
		for j := range note {
			note[j] = byte('a' + rng.IntN(26))
		}
		if err := d.RootMap().Set(fmt.Sprintf("checkin-%02d", i), automerge.NewText(string(note))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Commit("month"); err != nil {
		t.Fatal(err)
	}
	return d.Save()
}
