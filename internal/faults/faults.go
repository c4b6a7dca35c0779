// Package faults holds what the fault batteries of trustsync share: the
// choice between their short and long modes, and a small file system that
// can be filled up. It is imported by tests only.
//
// # Modes
//
// The default mode is the short one, fast enough for `go test -race ./...`
// in CI. Setting the environment variable LongEnv (TRUSTSYNC_LONG=1) runs
// every battery with its long counts; HostileEnv (TRUSTSYNC_HOSTILE_N=N)
// sets the number of hostile inputs of the crdt battery on its own.
//
// # Full disks
//
// Small mounts a tmpfs of a given size when the process may (root, or a
// user namespace that allows it) and otherwise says so and returns a plain
// directory: the caller then limits the file size of its writer
// (RLIMIT_FSIZE) instead, which fails writes the same way (EFBIG instead of
// ENOSPC). Either way the writes really fail.
package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// LongEnv turns on the long mode of every fault battery.
const LongEnv = "TRUSTSYNC_LONG"

// HostileEnv sets the number of hostile inputs of the crdt battery (the
// sandbox battery reads it too).
const HostileEnv = "TRUSTSYNC_HOSTILE_N"

// NoTmpfsEnv, when set, makes Small return a plain directory as if mounting
// were refused, to run the RLIMIT_FSIZE path where mounting works.
const NoTmpfsEnv = "TRUSTSYNC_NO_TMPFS"

// Long reports whether the long batteries were asked for.
func Long() bool { return os.Getenv(LongEnv) != "" && os.Getenv(LongEnv) != "0" }

// N returns short, or long in the long mode.
func N(short, long int) int {
	if Long() {
		return long
	}
	return short
}

// EnvInt returns the integer value of the environment variable name, or def.
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// Disk is a directory whose writes can be made to fail for lack of space.
type Disk struct {
	Dir string
	// Tmpfs is true when Dir is a mounted tmpfs of the asked size; false
	// when mounting was refused and the writer must be limited with
	// RLIMIT_FSIZE (FSizeLimit).
	Tmpfs bool
	// Why says why there is no tmpfs.
	Why string
}

// Small returns a directory on a fresh tmpfs of size bytes, unmounted when
// the test ends, or, where mounting is not permitted, a plain temporary
// directory with Tmpfs false.
func Small(t testing.TB, size int) Disk {
	t.Helper()
	dir := t.TempDir()
	mnt := filepath.Join(dir, "small")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Getenv(NoTmpfsEnv) != "" {
		return Disk{Dir: mnt, Why: NoTmpfsEnv + " is set"}
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", mnt).CombinedOutput()
	if err != nil {
		return Disk{Dir: mnt, Why: fmt.Sprintf("mount -t tmpfs: %v: %s", err, out)}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return Disk{Dir: mnt, Tmpfs: true}
}

// Fill writes a file named name into dir until the file system is full and
// returns how many bytes it wrote. It fails the test unless the write
// stopped with ENOSPC.
func Fill(t testing.TB, dir, name string) int64 {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var n int64
	for {
		m, err := f.Write(buf)
		n += int64(m)
		if err != nil {
			if pe, ok := err.(*os.PathError); !ok || pe.Err != syscall.ENOSPC {
				t.Fatalf("filling %s: %v, want ENOSPC", dir, err)
			}
			return n
		}
		if n > 1<<30 {
			t.Fatalf("filled %s with a GiB and it is not full", dir)
		}
	}
}

// SetFSize sets this process's file size limit (RLIMIT_FSIZE) to n bytes,
// so that writes growing a file beyond n fail with EFBIG (Go ignores
// SIGXFSZ), and returns a function restoring the old limit.
func SetFSize(n int64) (restore func() error, err error) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		return nil, err
	}
	lim := syscall.Rlimit{Cur: uint64(n), Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		return nil, err
	}
	return func() error { return syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old) }, nil
}
