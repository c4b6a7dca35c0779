package main

// Whole-program sync benchmarks: real trustsync processes (this test
// binary, which runs the real main when called "trustsync") in temp homes
// on 127.0.0.1.
//
//	go test ./cmd/trustsync -run '^$' -bench Live -benchtime 200x
//	go test ./cmd/trustsync -run '^$' -bench 'Reconnect|FirstSync' -benchtime 3x

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/cli"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
	tsync "github.com/trustsync/trustsync/sync"
)

// benchBin copies this test binary to DIR/trustsync, so that running it
// runs main.
func benchBin(b *testing.B) string {
	b.Helper()
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(b.TempDir(), "trustsync")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		b.Fatal(err)
	}
	return bin
}

func benchRun(b *testing.B, bin, home string, args ...string) string {
	b.Helper()
	cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
	cmd.Env = benchEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		serveErr, _ := os.ReadFile(lastServeErr)
		b.Fatalf("trustsync %s: %v: %s\nlast serve's stderr:\n%s", strings.Join(args, " "), err, errOut.String(), serveErr)
	}
	return out.String()
}

func benchEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRUSTSYNC_") {
			env = append(env, kv)
		}
	}
	return env
}

func benchHome(b *testing.B, bin, name string) string {
	b.Helper()
	home := filepath.Join(b.TempDir(), name)
	benchRun(b, bin, home, "init", "--name", name, "--device", strings.ToLower(name)+"-laptop",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	return home
}

func benchOpen(b *testing.B, home string) (trustsync.Store, *crdt.Space) {
	b.Helper()
	st, err := store.Open(home, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	sp, err := crdt.Open(context.Background(), st, crdt.Options{})
	if err != nil {
		st.Close()
		b.Fatal(err)
	}
	return st, sp
}

// benchPair does what pairing leaves behind: home b joins home a's space,
// and each records the other's device with its peer ID and kept addresses.
func benchPair(b *testing.B, ha, hb string) {
	b.Helper()
	ctx := context.Background()
	type side struct {
		id    crdt.Identity
		dev   trustsync.Device
		space []byte
	}
	read := func(home string) side {
		st, sp := benchOpen(b, home)
		defer st.Close()
		defer sp.Close()
		pid, err := tsync.DevicePeerID(ctx, st)
		if err != nil {
			b.Fatal(err)
		}
		var cfg cli.Config
		if err := st.View(ctx, func(tx trustsync.ReadTx) error {
			raw, err := tx.Get(cli.ConfigKey)
			if err != nil {
				return err
			}
			return json.Unmarshal(raw, &cfg)
		}); err != nil {
			b.Fatal(err)
		}
		id := sp.Self()
		return side{id: id, dev: trustsync.Device{ID: id.DeviceID, Name: id.DeviceName,
			Owner: trustsync.Person{ID: id.MemberID, Name: id.MemberName}, PeerID: pid, Addrs: cfg.Listen}}
	}
	a, bb := read(ha), read(hb)
	st, sp := benchOpen(b, hb)
	check := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	check(sp.Adopt(ctx, a.id.SpaceID))
	check(sp.TrustDevice(ctx, a.dev)) // what the pairing ceremony checks
	sp.Close()
	st.Close()
	st, sp = benchOpen(b, ha)
	check(sp.TrustDevice(ctx, bb.dev))
	sp.Close()
	st.Close()
	// Each device's own records come with its space document, as pairing
	// sends it; then each vouches for the other.
	spaceOf := func(home string) []byte {
		st, sp := benchOpen(b, home)
		defer st.Close()
		defer sp.Close()
		data, err := sp.SaveSigned(ctx, crdt.SpaceDoc)
		check(err)
		return data
	}
	for _, x := range []struct {
		home, from string
		data       []byte
		dev        trustsync.Device
	}{{hb, a.id.DeviceID, spaceOf(ha), a.dev}, {ha, bb.id.DeviceID, spaceOf(hb), bb.dev}} {
		st, sp := benchOpen(b, x.home)
		_, err := sp.Import(ctx, crdt.SpaceDoc, x.data, x.from)
		check(err)
		check(sp.AddDevice(ctx, x.dev))
		sp.Close()
		st.Close()
	}
}

// lastServeErr is the standard error file of the last serve started, shown
// when a sync fails.
var lastServeErr string

// benchServe starts 'trustsync serve' on home and waits until it listens;
// the returned function stops it with SIGINT and waits.
func benchServe(b *testing.B, bin, home string) (stop func()) {
	b.Helper()
	cmd := exec.Command(bin, "--home", home, "serve")
	cmd.Env = benchEnv()
	errFile, err := os.Create(filepath.Join(b.TempDir(), "serve.err"))
	if err != nil {
		b.Fatal(err)
	}
	outFile := errFile.Name() + ".out"
	out, err := os.Create(outFile)
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, errFile
	lastServeErr = errFile.Name()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	var once stdsync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			out.Close()
			errFile.Close()
		})
	}
	b.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(outFile)
		if bytes.HasPrefix(data, []byte("listening on ")) {
			return stop
		}
		if time.Now().After(deadline) {
			e, _ := os.ReadFile(errFile.Name())
			b.Fatalf("serve did not listen within 30s: %s", e)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// boundaryIDs reads the boundaries a home's view holds now.
func boundaryIDs(st trustsync.Store) (map[string]bool, error) {
	ids := map[string]bool{}
	err := st.View(context.Background(), func(tx trustsync.ReadTx) error {
		items, err := tx.Items(crdt.KindBoundary)
		for _, it := range items {
			ids[it.ID] = true
		}
		return err
	})
	return ids, err
}

// BenchmarkLive measures, with 'trustsync serve' running on both homes,
// the time from an edit committed to A's store (by this process, as
// another trustsync command would) to B's store showing it, polled
// read-only every 200us. isolated: one edit at a time; burst: edits in
// groups of 10, back to back.
func BenchmarkLive(b *testing.B) {
	for _, burst := range []int{1, 10} {
		name := "isolated"
		if burst > 1 {
			name = "burst"
		}
		b.Run(name, func(b *testing.B) {
			bin := benchBin(b)
			ha, hb := benchHome(b, bin, "Alex"), benchHome(b, bin, "Sam")
			benchPair(b, ha, hb)
			benchServe(b, bin, ha)
			benchServe(b, bin, hb)
			sta, spa := benchOpen(b, ha)
			defer sta.Close()
			defer spa.Close()
			stb, err := store.Open(hb, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer stb.Close()
			ctx := context.Background()
			wait := func(ids []string, committed []time.Time, lat *[]time.Duration) {
				deadline := time.Now().Add(30 * time.Second)
				seen := make([]bool, len(ids))
				left := len(ids)
				for left > 0 {
					have, err := boundaryIDs(stb)
					if err != nil {
						b.Fatal(err)
					}
					now := time.Now()
					for i, id := range ids {
						if !seen[i] && have[id] {
							seen[i] = true
							left--
							*lat = append(*lat, now.Sub(committed[i]))
						}
					}
					if now.After(deadline) {
						b.Fatalf("%d edits did not reach B within 30s", left)
					}
					time.Sleep(200 * time.Microsecond)
				}
			}
			// Warm up: the first edit also waits for the sessions.
			id, err := spa.AddBoundary(ctx, "warm up")
			if err != nil {
				b.Fatal(err)
			}
			var warm []time.Duration
			wait([]string{id}, []time.Time{time.Now()}, &warm)

			var lat []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i += burst {
				var ids []string
				var at []time.Time
				for j := 0; j < burst && i+j < b.N; j++ {
					id, err := spa.AddBoundary(ctx, fmt.Sprintf("live edit %d", i+j))
					if err != nil {
						b.Fatal(err)
					}
					ids, at = append(ids, id), append(at, time.Now())
				}
				wait(ids, at, &lat)
				if burst == 1 {
					b.StopTimer()
					time.Sleep(20 * time.Millisecond) // apart, not back to back
					b.StartTimer()
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

type benchSyncJSON struct {
	Synced  int `json:"synced"`
	Devices []struct {
		BytesIn  int64 `json:"bytes_in"`
		BytesOut int64 `json:"bytes_out"`
	} `json:"devices"`
}

// timedSync runs 'trustsync sync --json' on home and returns its wall time
// (process start included) and the bytes it moved both ways.
func timedSync(b *testing.B, bin, home string) (time.Duration, int64) {
	b.Helper()
	start := time.Now()
	out := benchRun(b, bin, home, "sync", "--json", "--timeout", "10m")
	d := time.Since(start)
	var v benchSyncJSON
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Synced != 1 {
		b.Fatalf("sync printed %q (%v)", out, err)
	}
	return d, v.Devices[0].BytesIn + v.Devices[0].BytesOut
}

// BenchmarkReconnect: two paired homes synced once, then 1,000 boundaries
// added on each while apart; one 'trustsync sync' from B with A serving.
// The time includes starting the sync process and its node; startup-ms is
// the same sync when nothing changed, for comparison.
func BenchmarkReconnect(b *testing.B) {
	bin := benchBin(b)
	ctx := context.Background()
	var total, idle time.Duration
	var wire int64
	for range b.N {
		b.StopTimer()
		ha, hb := benchHome(b, bin, "Alex"), benchHome(b, bin, "Sam")
		benchPair(b, ha, hb)
		stop := benchServe(b, bin, ha)
		timedSync(b, bin, hb)
		d, _ := timedSync(b, bin, hb)
		idle += d
		stop()
		for _, h := range []string{ha, hb} {
			st, sp := benchOpen(b, h)
			for i := range 1000 {
				if _, err := sp.AddBoundary(ctx, fmt.Sprintf("offline edit %d", i)); err != nil {
					b.Fatal(err)
				}
			}
			sp.Close()
			st.Close()
		}
		benchServe(b, bin, ha)
		b.StartTimer()
		d, n := timedSync(b, bin, hb)
		total += d
		wire += n
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "sync-ms")
	b.ReportMetric(float64(idle.Microseconds())/1000/float64(b.N), "startup-ms")
	b.ReportMetric(float64(wire)/float64(b.N), "wire-bytes")
}

// BenchmarkFirstSync: a new device's first 'trustsync sync' with a home
// holding five years of daily check-ins (1,825 with ~500-character notes),
// serving. save-bytes is the size of Save() of every document of A.
func BenchmarkFirstSync(b *testing.B) {
	bin := benchBin(b)
	ctx := context.Background()
	ha := benchHome(b, bin, "Alex")
	st, err := store.Open(ha, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	day := time.Date(2021, 1, 1, 20, 0, 0, 0, time.UTC)
	sp, err := crdt.Open(ctx, st, crdt.Options{Now: func() time.Time { return day }})
	if err != nil {
		b.Fatal(err)
	}
	note := strings.Repeat("Today I noticed how much calmer we both were. ", 11)[:500]
	for i := range 1825 {
		if _, err := sp.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: trustsync.Mood(1 + i%5), Note: note}); err != nil {
			b.Fatal(err)
		}
		day = day.Add(24 * time.Hour)
	}
	docs, err := sp.Docs(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var saved int64
	for _, d := range docs {
		data, err := sp.Save(ctx, d)
		if err != nil {
			b.Fatal(err)
		}
		saved += int64(len(data))
	}
	sp.Close()
	st.Close()
	var total time.Duration
	var wire int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		hb := benchHome(b, bin, "Sam")
		benchPair(b, ha, hb)
		stop := benchServe(b, bin, ha)
		b.StartTimer()
		d, n := timedSync(b, bin, hb)
		b.StopTimer()
		total += d
		wire += n
		stop()
		if out := benchRun(b, bin, hb, "checkin", "list", "--json"); strings.Count(out, `"mood"`) != 1825 {
			b.Fatalf("new device has %d check-ins", strings.Count(out, `"mood"`))
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "sync-ms")
	b.ReportMetric(float64(wire)/float64(b.N), "wire-bytes")
	b.ReportMetric(float64(saved), "save-bytes")
	b.ReportMetric(float64(wire)/float64(b.N)/float64(saved), "wire/save")
}
