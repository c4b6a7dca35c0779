package crdt_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
)

// BenchmarkLoadCheckIns times automerge-go loading saved check-in
// documents whose 500-character notes are Automerge Text (as versions
// before plain-string notes wrote them, one operation per character) or
// plain strings (one operation): one month of 30 check-ins, and five years
// of 1,825 in 60 monthly documents. Each check-in is its own change, with
// the fields AddCheckIn writes. An operation loads the whole set; it also
// reports the set's saved bytes.
func BenchmarkLoadCheckIns(b *testing.B) {
	for _, set := range []struct {
		name     string
		checkIns int
	}{{"month-30", 30}, {"all-1825", benchCheckIns}} {
		for _, text := range []bool{true, false} {
			name := set.name + "/string"
			if text {
				name = set.name + "/text"
			}
			b.Run(name, func(b *testing.B) {
				docs := checkInMonths(b, set.checkIns, text)
				size := 0
				for _, d := range docs {
					size += len(d)
				}
				for b.Loop() {
					for _, d := range docs {
						if _, err := automerge.Load(d); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(size), "save-bytes")
				b.ReportMetric(float64(len(docs)), "docs")
			})
		}
	}
}

// checkInMonths returns the saved documents of n daily check-ins from
// January 2021, one document per month, notes as Text or as strings.
func checkInMonths(b *testing.B, n int, text bool) [][]byte {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	day := time.Date(2021, 1, 1, 20, 0, 0, 0, time.UTC)
	var out [][]byte
	var d *automerge.Doc
	month := ""
	save := func() {
		if d != nil {
			out = append(out, d.Save())
		}
	}
	for i := range n {
		if m := day.Format("2006-01"); m != month {
			save()
			month = m
			d = automerge.New()
			for k, v := range map[string]any{"schema": int64(1), "schema_minor": int64(0), "kind": "checkins"} {
				if err := d.RootMap().Set(k, v); err != nil {
					b.Fatal(err)
				}
			}
		}
		m := automerge.NewMap()
		if err := d.RootMap().Set(fmt.Sprintf("c%015d", i), m); err != nil {
			b.Fatal(err)
		}
		var note any = benchSentence(rng, 500)
		if text {
			note = automerge.NewText(note.(string))
		}
		for _, f := range []struct {
			k string
			v any
		}{
			{"author", "sammembersammemb"}, {"created_at", day.UnixMilli()}, {"mood", int64(1 + rng.IntN(5))},
			{"feelings", `["calm","hopeful"]`}, {"note", note}, {"needs", benchSentence(rng, 40)},
			{"concerns", ""}, {"appreciation", ""}, {"acks", automerge.NewMap()}, {"ack_at", automerge.NewMap()},
		} {
			if err := m.Set(f.k, f.v); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := d.Commit(`{"a":"add","k":"checkin"}`, automerge.CommitOptions{Time: &day}); err != nil {
			b.Fatal(err)
		}
		day = day.Add(24 * time.Hour)
	}
	save()
	return out
}
