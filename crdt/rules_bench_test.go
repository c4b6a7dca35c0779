package crdt

import (
	"fmt"
	"testing"

	"github.com/automerge/automerge-go"
)

// boundariesWith returns a boundaries document made of n changes, each
// adding a boundary as AddBoundary does (a map with its text and agreement
// maps: four objects).
func boundariesWith(b *testing.B, n int) *automerge.Doc {
	b.Helper()
	d := automerge.New()
	for i := 0; i < n; i++ {
		m := automerge.NewMap()
		if err := d.RootMap().Set(newID(), m); err != nil {
			b.Fatal(err)
		}
		if err := setFields(m, "text", automerge.NewText(fmt.Sprintf("boundary number %d, in a few words", i)),
			"proposed_by", "member", "agree", automerge.NewMap(), "agree_at", automerge.NewMap()); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Commit("add"); err != nil {
			b.Fatal(err)
		}
	}
	return d
}

// BenchmarkObjIndex measures the object index of a document of 1,000
// changes: built from nothing (the first receipt after a document is
// loaded), and extended by one change (every later receipt).
func BenchmarkObjIndex(b *testing.B) {
	d := boundariesWith(b, 1000)
	b.Run("build-1000-changes", func(b *testing.B) {
		ds := &docState{id: BoundariesDoc, doc: d}
		for i := 0; i < b.N; i++ {
			ds.objs = nil
			idx, err := objIndexOf(ds)
			if err != nil || len(idx.paths) != 4000 {
				b.Fatalf("%v, %d objects", err, len(idx.paths))
			}
		}
	})
	b.Run("extend-by-1-change", func(b *testing.B) {
		ds := &docState{id: BoundariesDoc, doc: d}
		if _, err := objIndexOf(ds); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			m := automerge.NewMap()
			if err := d.RootMap().Set(newID(), m); err != nil {
				b.Fatal(err)
			}
			if err := setFields(m, "text", automerge.NewText("one more")); err != nil {
				b.Fatal(err)
			}
			if _, err := d.Commit("add"); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := objIndexOf(ds); err != nil {
				b.Fatal(err)
			}
		}
	})
}
