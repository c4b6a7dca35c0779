package amwire_test

import (
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
)

// A saved document holding changes set aside (their dependency missing)
// ends with them; DocumentLen finds where the document itself ends.
func TestDocumentLen(t *testing.T) {
	a := newDoc(t, actorA)
	var chs []*automerge.Change
	for i := range 3 {
		if err := a.RootMap().Set("k", i); err != nil {
			t.Fatal(err)
		}
		chs = append(chs, commit(t, a, "edit", int64(1e12+i)))
	}
	b := newDoc(t, actorB)
	if err := b.RootMap().Set("own", true); err != nil {
		t.Fatal(err)
	}
	commit(t, b, "own", 1e12)
	plain := b.Save()
	// The last two of a's changes, without the first: set aside.
	if err := b.LoadIncremental(automerge.SaveChanges(chs[1:])); err != nil {
		t.Fatal(err)
	}
	saved := b.Save()
	if len(saved) <= len(plain) {
		t.Fatalf("the saved document does not hold the changes set aside (%d bytes, %d without)", len(saved), len(plain))
	}
	n := amwire.DocumentLen(saved)
	if n != len(plain) {
		t.Fatalf("DocumentLen = %d, want %d: the document without the changes set aside", n, len(plain))
	}
	// Cut there, the document takes in the missing change and nothing
	// else.
	d, err := automerge.Load(saved[:n])
	if err != nil {
		t.Fatal(err)
	}
	if err := d.LoadIncremental(automerge.SaveChanges(chs[:1])); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Changes(); err != nil || len(got) != 2 {
		t.Fatalf("the cut document holds %d changes (%v), want 2", len(got), err)
	}

	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"a change chunk", chs[0].Save()},
		{"cut short", saved[:n-1]},
		{"empty", nil},
		{"not Automerge", []byte("not an automerge document at all")},
	} {
		if got := amwire.DocumentLen(tc.b); got != 0 {
			t.Errorf("DocumentLen(%s) = %d, want 0", tc.name, got)
		}
	}
	if got := amwire.DocumentLen(plain); got != len(plain) {
		t.Errorf("DocumentLen of a document without changes set aside = %d, want its length %d", got, len(plain))
	}
}
