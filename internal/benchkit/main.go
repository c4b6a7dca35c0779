package benchkit

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/trustsync/trustsync/cli"
	"github.com/trustsync/trustsync/internal/cmem"
)

// HeapDirEnv names the directory a serve started with
// [ServeOptions.HeapDir] writes its heap snapshots into.
const HeapDirEnv = "BENCHKIT_HEAP_DIR"

// Main runs trustsync's command line as cmd/trustsync's main does and
// returns its exit code, after [HandleHeapSignal]; a test binary's
// TestMain calls it (and exits with its code) when the binary runs as
// "trustsync". cmd/trustsync's own TestMain runs its real main instead,
// after HandleHeapSignal.
func Main() int {
	HandleHeapSignal()
	defer StartCPUProfile()()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := cli.NewFactory(cli.System())
	return cli.Execute(ctx, f, cli.NewCmdRoot(f), os.Args[1:])
}

// CPUDirEnv names a directory into which every trustsync process run from
// the test binary writes a CPU profile of its whole run,
// cpu-COMMAND-PID.pprof (the sandbox checker child is not profiled).
const CPUDirEnv = "BENCHKIT_CPU_DIR"

// StartCPUProfile starts a CPU profile of this process when CPUDirEnv is
// set and returns the function that ends it; without CPUDirEnv both do
// nothing.
func StartCPUProfile() (stop func()) {
	dir := os.Getenv(CPUDirEnv)
	if dir == "" {
		return func() {}
	}
	cmd := "trustsync"
	for _, a := range os.Args[1:] {
		if a != "" && a[0] != '-' && !filepath.IsAbs(a) {
			cmd = a
			break
		}
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%s-%d.pprof", cmd, os.Getpid())))
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// HandleHeapSignal makes this process write a [HeapSnapshot] into the
// directory HeapDirEnv names on every SIGUSR1; without HeapDirEnv it does
// nothing.
func HandleHeapSignal() {
	dir := os.Getenv(HeapDirEnv)
	if dir == "" {
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		for range ch {
			writeHeapSnapshot(dir)
		}
	}()
}

// HeapSnapshot is the line of memory statistics a serve writes on
// SIGUSR1 next to its heap profile, heap-N.pb.gz (N counts from 1), as
// heap-N.json. The profile is taken after the collections, so it shows
// what is still reachable.
type HeapSnapshot struct {
	N int
	// RSSBefore is the process's VmRSS before any forced collection;
	// RSSAfterGC after two runtime.GC() calls with a pause for finalizers
	// between them (automerge-go frees a document's native memory only in
	// its finalizer, so the difference is native memory that was waiting
	// for one).
	RSSBefore, RSSAfterGC int64
	// Go runtime statistics, before and after the collections.
	HeapAllocBefore, HeapAllocAfter int64
	SysBefore, SysAfter             int64
	NumGCBefore                     uint32
	// CgoCalls is the number of cgo calls so far.
	CgoCalls int64
	// The C allocator's bytes in use and held free (glibc's mallinfo2;
	// Automerge's documents live there), after the collections, and the
	// RSS after malloc_trim gave the free bytes back. Zero off Linux.
	CInUse, CFree int64
	RSSAfterTrim  int64
}

var heapN int

func writeHeapSnapshot(dir string) {
	heapN++
	snap := HeapSnapshot{N: heapN, CgoCalls: runtime.NumCgoCall()}
	var ms runtime.MemStats
	snap.RSSBefore = ProcRSS(os.Getpid())
	runtime.ReadMemStats(&ms)
	snap.HeapAllocBefore, snap.SysBefore, snap.NumGCBefore = int64(ms.HeapAlloc), int64(ms.Sys), ms.NumGC
	runtime.GC()
	time.Sleep(100 * time.Millisecond) // finalizers run on their own goroutine
	runtime.GC()
	time.Sleep(100 * time.Millisecond)
	runtime.ReadMemStats(&ms)
	snap.HeapAllocAfter, snap.SysAfter = int64(ms.HeapAlloc), int64(ms.Sys)
	snap.RSSAfterGC = ProcRSS(os.Getpid())
	snap.CInUse, snap.CFree = cmem.Heap()
	cmem.Trim()
	snap.RSSAfterTrim = ProcRSS(os.Getpid())
	name := filepath.Join(dir, fmt.Sprintf("heap-%d", heapN))
	if f, err := os.Create(name + ".pb.gz"); err == nil {
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	if data, err := json.Marshal(snap); err == nil {
		os.WriteFile(name+".json", data, 0o644)
	}
}
