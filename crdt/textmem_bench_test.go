package crdt_test

// What a loaded document holds in native memory when its notes are
// Automerge text (one operation per character) or plain string values,
// for BENCHMARKS.md ("Soak"):
//
//	go test ./crdt -run '^$' -bench TextMemory -benchtime 1x

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/internal/cmem"
)

// BenchmarkTextMemory builds a document of n check-ins with a
// 500-character note each, as text or as a string, saves it, loads it five
// times, and reports the C heap each loaded copy holds (native-MiB), its
// ratio to the Save() size, and what 20 save-and-reload checks of it leave
// in the C heap before the next collection runs their finalizers
// (reload-garbage-MiB).
func BenchmarkTextMemory(b *testing.B) {
	note := strings.Repeat("Today I noticed how much calmer we both were. ", 11)[:500]
	collect := func() {
		for range 2 {
			runtime.GC()
			time.Sleep(50 * time.Millisecond) // finalizers run on their own goroutine
		}
	}
	for _, n := range []int{83, 166} {
		for _, text := range []bool{true, false} {
			kind := "string"
			if text {
				kind = "text"
			}
			b.Run(fmt.Sprintf("%s/%d", kind, n), func(b *testing.B) {
				d := automerge.New()
				for i := range n {
					m := automerge.NewMap()
					if err := d.Path("checkins").Map().Set(fmt.Sprintf("c%d", i), m); err != nil {
						b.Fatal(err)
					}
					var err error
					if text {
						err = m.Set("note", automerge.NewText(note))
					} else {
						err = m.Set("note", note)
					}
					if err != nil {
						b.Fatal(err)
					}
					if _, err := d.Commit(fmt.Sprintf("check-in %d", i)); err != nil {
						b.Fatal(err)
					}
				}
				data := d.Save()
				d = nil
				var perDoc, garbage float64
				for range b.N {
					collect()
					before, _ := cmem.Heap()
					var docs []*automerge.Doc
					for range 5 {
						x, err := automerge.Load(data)
						if err != nil {
							b.Fatal(err)
						}
						docs = append(docs, x)
					}
					collect()
					loaded, _ := cmem.Heap()
					if loaded == 0 {
						b.Fatal("cannot read the C allocator here: it needs glibc 2.33 or later")
					}
					perDoc = float64(loaded-before) / 5
					for range 20 {
						if _, err := automerge.Load(docs[0].Save()); err != nil {
							b.Fatal(err)
						}
					}
					after, _ := cmem.Heap()
					garbage = float64(after - loaded)
					runtime.KeepAlive(docs)
				}
				b.ReportMetric(perDoc/(1<<20), "native-MiB")
				b.ReportMetric(perDoc/float64(len(data)), "native/save")
				b.ReportMetric(float64(len(data)), "save-bytes")
				b.ReportMetric(garbage/(1<<20), "reload-garbage-MiB")
			})
		}
	}
}
