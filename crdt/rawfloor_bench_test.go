package crdt

// The raw automerge-go floor for the sync figures of BENCHMARKS.md: two
// documents in one process exchanging Automerge sync messages directly, with
// no network, no store, no sandbox and no trustsync schema. Whatever trustsync
// measures through real processes is compared with these.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
)

// rawSync runs the Automerge sync protocol between a and b until neither has
// anything to send, and returns the bytes of every message and their count.
func rawSync(tb testing.TB, a, b *automerge.SyncState) (bytes, msgs int) {
	tb.Helper()
	for {
		moved := false
		for _, dir := range [][2]*automerge.SyncState{{a, b}, {b, a}} {
			m, ok := dir[0].GenerateMessage()
			if !ok {
				continue
			}
			raw := m.Bytes()
			bytes += len(raw)
			msgs++
			if _, err := dir[1].ReceiveMessage(raw); err != nil {
				tb.Fatal(err)
			}
			moved = true
		}
		if !moved {
			return bytes, msgs
		}
	}
}

func rawNote(i int) string {
	words := strings.Fields("I felt heard today when we walked and talked about the week and what I need from you")
	var sb strings.Builder
	for sb.Len() < 500 {
		sb.WriteString(words[(i+sb.Len())%len(words)])
		sb.WriteByte(' ')
	}
	return sb.String()
}

// BenchmarkRawFloor_LiveEdit: one small edit on A, sync messages until B has
// it. Reports p50 and p99 over b.N edits.
func BenchmarkRawFloor_LiveEdit(b *testing.B) {
	da, db := automerge.New(), automerge.New()
	for i := 0; i < 200; i++ {
		if err := da.RootMap().Set(fmt.Sprintf("b%03d", i), fmt.Sprintf("boundary %d", i)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := da.Commit("seed"); err != nil {
		b.Fatal(err)
	}
	sa, sb := automerge.NewSyncState(da), automerge.NewSyncState(db)
	rawSync(b, sa, sb)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := da.RootMap().Set("live", fmt.Sprint(i)); err != nil {
			b.Fatal(err)
		}
		if _, err := da.Commit("edit"); err != nil {
			b.Fatal(err)
		}
		rawSync(b, sa, sb)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	v, err := db.RootMap().Get("live")
	if err != nil || v.Str() != fmt.Sprint(b.N-1) {
		b.Fatalf("B holds %v, %v", v, err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkRawFloor_Reconnect: A and B share 200 boundaries, then each makes
// 1,000 small edits apart; one sync brings them together.
func BenchmarkRawFloor_Reconnect(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		da := automerge.New()
		for j := 0; j < 200; j++ {
			if err := da.RootMap().Set(fmt.Sprintf("b%03d", j), fmt.Sprintf("boundary %d", j)); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := da.Commit("seed"); err != nil {
			b.Fatal(err)
		}
		db, err := automerge.Load(da.Save())
		if err != nil {
			b.Fatal(err)
		}
		if err := db.SetActorID(automerge.NewActorID()); err != nil {
			b.Fatal(err)
		}
		sa, sb := automerge.NewSyncState(da), automerge.NewSyncState(db)
		rawSync(b, sa, sb)
		for j := 0; j < 1000; j++ {
			for k, d := range []*automerge.Doc{da, db} {
				if err := d.RootMap().Set(fmt.Sprintf("b%03d", j%200), fmt.Sprintf("edit %d by %d", j, k)); err != nil {
					b.Fatal(err)
				}
				if _, err := d.Commit("edit"); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StartTimer()
		start := time.Now()
		bytes, msgs := rawSync(b, sa, sb)
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms")
		b.ReportMetric(float64(bytes), "wire-bytes")
		b.ReportMetric(float64(msgs), "messages")
	}
}

// BenchmarkRawFloor_FirstSync: an empty device syncs a document of 1,825
// check-ins of about 500 characters each, all in one document, each note a
// plain string as trustsync stores it.
func BenchmarkRawFloor_FirstSync(b *testing.B) {
	da := automerge.New()
	for i := 0; i < 1825; i++ {
		m := automerge.NewMap()
		if err := da.RootMap().Set(fmt.Sprintf("c%04d", i), m); err != nil {
			b.Fatal(err)
		}
		if err := m.Set("note", rawNote(i)); err != nil {
			b.Fatal(err)
		}
		if err := m.Set("mood", int64(1+i%5)); err != nil {
			b.Fatal(err)
		}
		if _, err := da.Commit("check-in"); err != nil {
			b.Fatal(err)
		}
	}
	save := len(da.Save())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db := automerge.New()
		start := time.Now()
		bytes, msgs := rawSync(b, automerge.NewSyncState(da), automerge.NewSyncState(db))
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms")
		b.ReportMetric(float64(bytes), "wire-bytes")
		b.ReportMetric(float64(save), "save-bytes")
		b.ReportMetric(float64(msgs), "messages")
		if db.RootMap().Len() != 1825 {
			b.Fatalf("B holds %d check-ins", db.RootMap().Len())
		}
	}
}
