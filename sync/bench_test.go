package sync

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

// BenchmarkLiveEdit measures how long an edit on A takes to be readable on
// B, over libp2p on 127.0.0.1, and reports the 50th and 99th percentiles.
func BenchmarkLiveEdit(b *testing.B) {
	ctx := context.Background()
	da, db := newDevice(b, "Alex"), newDevice(b, "Sam")
	pairAll(b, da, db)
	na, nb := da.start(b), db.start(b)
	connect(b, nb, na)
	waitSynced(b, na, nb)
	events, stop := nb.Subscribe()
	defer stop()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		id, err := da.space.AddBoundary(ctx, fmt.Sprintf("boundary %d", i))
		if err != nil {
			b.Fatal(err)
		}
		for got := false; !got; {
			ev := <-events
			got = ev.Type == ChangesReceived && slices.Contains(ev.Received.Items, crdt.ItemRef{Kind: crdt.KindBoundary, ID: id})
		}
		if _, err := db.space.Boundary(ctx, id); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// syncOver runs sessions between a and b over a net.Pipe until both are
// synced and returns the bytes both sent.
func syncOver(b *testing.B, a, c *device) int64 {
	l := startLink(a, c)
	defer l.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := l.sa.WaitSynced(ctx); err != nil {
		b.Fatal(err)
	}
	if err := l.sb.WaitSynced(ctx); err != nil {
		b.Fatal(err)
	}
	return l.sa.Stats().BytesOut + l.sb.Stats().BytesOut
}

// BenchmarkReconnectAfterOfflineEdits: both devices make 1,000 edits while
// apart, then sync.
func BenchmarkReconnectAfterOfflineEdits(b *testing.B) {
	ctx := context.Background()
	var wire int64
	for range b.N {
		b.StopTimer()
		da, db := newDevice(b, "Alex"), newDevice(b, "Sam")
		pairAll(b, da, db)
		syncOver(b, da, db)
		for i := range 1000 {
			for _, d := range []*device{da, db} {
				if _, err := d.space.AddBoundary(ctx, fmt.Sprintf("offline edit %d", i)); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StartTimer()
		wire += syncOver(b, da, db)
	}
	b.ReportMetric(float64(wire)/float64(b.N), "wire-bytes/op")
}

// BenchmarkFirstSyncOfEmptyDevice: five years of daily check-ins (1,825, each
// with a ~500-character note) reach a newly paired device.
func BenchmarkFirstSyncOfEmptyDevice(b *testing.B) {
	ctx := context.Background()
	st := store.NewMemory()
	day := time.Date(2021, 1, 1, 20, 0, 0, 0, time.UTC)
	now := func() time.Time { return day }
	sp, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: "Alex", DeviceName: "alex-laptop", Options: crdt.Options{Now: now}})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	defer sp.Close()
	key, err := LoadOrCreateKey(ctx, st)
	must(b, err)
	id, err := peer.IDFromPrivateKey(key)
	must(b, err)
	da := &device{space: sp, st: st, key: key, id: id}
	note := strings.Repeat("Today I noticed how much calmer we both were. ", 11)[:500]
	for i := range 1825 {
		if _, err := sp.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: trustsync.Mood(1 + i%5), Note: note}); err != nil {
			b.Fatal(err)
		}
		day = day.Add(24 * time.Hour)
	}
	docs, err := sp.Docs(ctx)
	must(b, err)
	var saved int64
	for _, d := range docs {
		data, err := sp.Save(ctx, d)
		must(b, err)
		saved += int64(len(data))
	}
	var wire int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		db := newDeviceNoTB(b, "Sam")
		pairAll(b, da, db)
		b.StartTimer()
		wire += syncOver(b, da, db)
		b.StopTimer()
		cs, err := db.space.CheckIns(ctx)
		must(b, err)
		if len(cs) != 1825 {
			b.Fatalf("new device has %d check-ins", len(cs))
		}
		db.space.Close()
		db.st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(wire)/float64(b.N), "wire-bytes/op")
	b.ReportMetric(float64(saved), "save-bytes")
	b.ReportMetric(float64(wire)/float64(b.N)/float64(saved), "wire/save")
}
