// Package benchkit holds the whole-program sync workloads of trustsync, so
// that the benchmarks of cmd/trustsync, its short runs in the test suite
// and the side-by-side comparison in bench/sidebyside run the same code.
// It is imported by tests only.
//
// # Processes
//
// Every workload runs real trustsync processes in temporary homes on
// 127.0.0.1: [Bin] copies the running test binary to a file named
// "trustsync", and the test binary's TestMain must run [Main] when it is
// started under that name (cmd/trustsync's TestMain runs its own main, which
// does the same). [Serve] starts 'trustsync serve' on a home, [TimedSync]
// runs one 'trustsync sync' and reads the bytes it moved from its JSON
// report, and [Pair] leaves two homes as pairing does, without the network.
//
// # Workloads
//
//   - [NewFirstSyncSource] and [FirstSyncSource.Run]: a new device's first
//     sync with a home holding check-ins with ~500-character notes.
//   - [Reconnect]: one sync after edits made on both sides while apart.
//   - [Live]: edits on one serving home until the other serving home has them.
//   - [Soak]: many edits of every kind through the command line while both
//     homes serve, with the memory of every serve and its checker sampled.
//
// Each takes its size as an argument, so a test can run it short and a
// benchmark in full; a workload fails its test only on errors, never on a
// time.
//
// # Heap profiles
//
// A serve started by [Serve] with [ServeOptions.HeapDir] set writes, on
// SIGUSR1, a heap profile and a line of memory statistics into that
// directory ([HeapSnapshot]); [Main] installs the handler.
package benchkit

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/trustsync/trustsync/internal/stagetrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/cli"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/store"
	tsync "github.com/trustsync/trustsync/sync"
)

// Bin copies this test binary to DIR/trustsync, so that running it runs
// trustsync's main (see [Main]).
func Bin(tb testing.TB) string {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(tb.TempDir(), "trustsync")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		tb.Fatal(err)
	}
	return bin
}

// Run runs 'trustsync --home home args...' and returns its standard
// output; it fails tb when the command fails.
func Run(tb testing.TB, bin, home string, args ...string) string {
	tb.Helper()
	out, err := run(bin, home, args...)
	if err != nil {
		tb.Fatalf("%v\nlast serve's stderr:\n%s", err, lastServeStderr())
	}
	return out
}

func run(bin, home string, args ...string) (string, error) {
	cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
	cmd.Env = Env()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), &runError{args: args, err: err, stderr: errOut.String()}
	}
	return out.String(), nil
}

type runError struct {
	args   []string
	err    error
	stderr string
}

func (e *runError) Error() string {
	return "trustsync " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + e.stderr
}

func (e *runError) Unwrap() error { return e.err }

// Env is this process's environment without any TRUSTSYNC_ variable, for
// the trustsync processes a workload starts.
func Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRUSTSYNC_") {
			env = append(env, kv)
		}
	}
	return env
}

// Home initializes a new home named name in a temporary directory, listening
// on 127.0.0.1 only and without mDNS.
func Home(tb testing.TB, bin, name string) string {
	tb.Helper()
	home := filepath.Join(tb.TempDir(), name)
	Run(tb, bin, home, "init", "--name", name, "--device", strings.ToLower(name)+"-laptop",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	return home
}

// Open opens home's store and space in this process.
func Open(tb testing.TB, home string) (trustsync.Store, *crdt.Space) {
	tb.Helper()
	return OpenAt(tb, home, nil)
}

// OpenAt is [Open] with a clock for the space (nil: the real one).
func OpenAt(tb testing.TB, home string, now func() time.Time) (trustsync.Store, *crdt.Space) {
	tb.Helper()
	// The home's chunk key, as the command line opens it: what this
	// process writes is then known as checked when a trustsync process
	// loads it, as if a trustsync command had written it.
	key, err := os.ReadFile(filepath.Join(home, cli.ChunkKeyFile))
	if err != nil {
		tb.Fatal(err)
	}
	st, err := store.Open(home, store.Options{ChunkKey: key})
	if err != nil {
		tb.Fatal(err)
	}
	sp, err := crdt.Open(context.Background(), st, crdt.Options{Now: now})
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	return st, sp
}

// Pair does what pairing leaves behind: home hb joins home ha's space, and
// each records the other's device with its peer ID and kept addresses.
func Pair(tb testing.TB, ha, hb string) {
	tb.Helper()
	ctx := context.Background()
	type side struct {
		id  crdt.Identity
		dev trustsync.Device
	}
	check := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	read := func(dir string) side {
		// The device goes online once, as it does when it pairs, so that
		// a port 0 given at init is replaced by the port it got and kept.
		h, err := home.Open(dir, home.Options{Keeper: home.NoKeeper()})
		check(err)
		defer h.Close()
		n, err := h.StartNode(ctx, home.NodeOptions{NoMDNS: true})
		check(err)
		check(n.Close())
		pid, err := tsync.DevicePeerID(ctx, h.Store())
		check(err)
		cfg, err := h.Config(ctx)
		check(err)
		id := h.Space().Self()
		return side{id: id, dev: trustsync.Device{ID: id.DeviceID, Name: id.DeviceName,
			Owner: trustsync.Person{ID: id.MemberID, Name: id.MemberName}, PeerID: pid, Addrs: cfg.Listen}}
	}
	a, b := read(ha), read(hb)
	st, sp := Open(tb, hb)
	check(sp.Adopt(ctx, a.id.SpaceID))
	check(sp.TrustDevice(ctx, a.dev)) // what the pairing ceremony checks
	sp.Close()
	st.Close()
	st, sp = Open(tb, ha)
	check(sp.TrustDevice(ctx, b.dev))
	sp.Close()
	st.Close()
	// Each device's own records come with its space document, as pairing
	// sends it; then each vouches for the other.
	spaceOf := func(home string) []byte {
		st, sp := Open(tb, home)
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
	}{{hb, a.id.DeviceID, spaceOf(ha), a.dev}, {ha, b.id.DeviceID, spaceOf(hb), b.dev}} {
		st, sp := Open(tb, x.home)
		_, err := sp.Import(ctx, crdt.SpaceDoc, x.data, x.from)
		check(err)
		check(sp.AddDevice(ctx, x.dev))
		sp.Close()
		st.Close()
	}
}

var (
	lastServeMu  stdsync.Mutex
	lastServeErr string
)

// lastServeStderr is what the last serve started wrote to its standard
// error, shown when a command fails.
func lastServeStderr() []byte {
	lastServeMu.Lock()
	name := lastServeErr
	lastServeMu.Unlock()
	if name == "" {
		return nil
	}
	data, _ := os.ReadFile(name)
	return data
}

// ServeOptions are the options of [Serve]; the zero value works.
type ServeOptions struct {
	// HeapDir, when set, makes the serve write a heap profile into it on
	// SIGUSR1 (see [HeapSnapshot]).
	HeapDir string
	// Env is added to the serve's environment.
	Env []string
}

// Server is a running 'trustsync serve'.
type Server struct {
	cmd     *exec.Cmd
	done    chan struct{}
	once    stdsync.Once
	out     *os.File
	errFile *os.File
	heapDir string
}

// Serve starts 'trustsync serve' on home and waits until it listens; it is
// stopped when tb's test ends, or earlier by [Server.Stop].
func Serve(tb testing.TB, bin, home string) *Server {
	tb.Helper()
	return ServeWith(tb, bin, home, ServeOptions{})
}

// ServeWith is [Serve] with options.
func ServeWith(tb testing.TB, bin, home string, opts ServeOptions) *Server {
	tb.Helper()
	cmd := exec.Command(bin, "--home", home, "serve")
	cmd.Env = Env()
	if opts.HeapDir != "" {
		cmd.Env = append(cmd.Env, HeapDirEnv+"="+opts.HeapDir)
	}
	if t := os.Getenv(stagetrace.EnvVar); t != "" {
		cmd.Env = append(cmd.Env, stagetrace.EnvVar+"="+t) // the stages of a live edit (Live)
	}
	cmd.Env = append(cmd.Env, opts.Env...)
	errFile, err := os.Create(filepath.Join(tb.TempDir(), "serve.err"))
	if err != nil {
		tb.Fatal(err)
	}
	outFile := errFile.Name() + ".out"
	out, err := os.Create(outFile)
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, errFile
	lastServeMu.Lock()
	lastServeErr = errFile.Name()
	lastServeMu.Unlock()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{}), out: out, errFile: errFile, heapDir: opts.HeapDir}
	go func() { cmd.Wait(); close(s.done) }()
	tb.Cleanup(s.Stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(outFile)
		if bytes.HasPrefix(data, []byte("listening on ")) {
			return s
		}
		select {
		case <-s.done:
			e, _ := os.ReadFile(errFile.Name())
			tb.Fatalf("serve exited before it listened: %s", e)
		default:
		}
		if time.Now().After(deadline) {
			e, _ := os.ReadFile(errFile.Name())
			tb.Fatalf("serve did not listen within 30s: %s", e)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// PID is the serve's process ID.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop stops the serve with SIGINT and waits for it (SIGKILL after 30s).
// It is safe to call more than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
		s.out.Close()
		s.errFile.Close()
	})
}

// Stderr is what the serve wrote to its standard error so far.
func (s *Server) Stderr() string {
	data, _ := os.ReadFile(s.errFile.Name())
	return string(data)
}

// BoundaryIDs reads the boundaries a home's view holds now.
func BoundaryIDs(st trustsync.Store) (map[string]bool, error) {
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

type syncJSON struct {
	Synced  int `json:"synced"`
	Devices []struct {
		BytesIn  int64 `json:"bytes_in"`
		BytesOut int64 `json:"bytes_out"`
	} `json:"devices"`
}

// TimedSync runs 'trustsync sync --json' on home and returns its wall time
// (process start included) and the bytes it moved both ways, as its report
// counts them: the bytes of the sync protocol's frames on the libp2p
// stream, after compression, without libp2p's own framing and encryption.
func TimedSync(tb testing.TB, bin, home string) (time.Duration, int64) {
	tb.Helper()
	start := time.Now()
	out := Run(tb, bin, home, "sync", "--json", "--timeout", "10m")
	d := time.Since(start)
	var v syncJSON
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Synced != 1 || len(v.Devices) != 1 {
		tb.Fatalf("sync printed %q (%v)", out, err)
	}
	return d, v.Devices[0].BytesIn + v.Devices[0].BytesOut
}

// stopTimer and startTimer pause a benchmark's timer around setup; for a
// test they do nothing.
func stopTimer(tb testing.TB) {
	if b, ok := tb.(*testing.B); ok {
		b.StopTimer()
	}
}

func startTimer(tb testing.TB) {
	if b, ok := tb.(*testing.B); ok {
		b.StartTimer()
	}
}
