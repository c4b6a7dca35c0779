package sandbox

import "syscall"

// limitData sets this process's RLIMIT_DATA to n bytes, or to the hard
// limit when that is lower. Since Linux 4.7 the limit counts every private
// writable mapping (the Go heap's arenas once in use, malloc's heap and
// its mmap'ed blocks, thread stacks), not address space merely reserved:
// the Go runtime reserves far more address space than it uses (about
// 1.2 GB of it at start), so RLIMIT_AS would stop it from starting, while
// its data mappings at start are about 40 MiB. An allocation past the
// limit fails: the Go runtime then stops with "fatal error: runtime: out
// of memory", Rust's allocator with "memory allocation of N bytes failed"
// and an abort.
func limitData(n int64) error {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_DATA, &r); err != nil {
		return err
	}
	lim := uint64(n)
	if r.Max < lim {
		lim = r.Max
	}
	if r.Cur <= lim {
		return nil // already at most n
	}
	r.Cur = lim
	return syscall.Setrlimit(syscall.RLIMIT_DATA, &r)
}
