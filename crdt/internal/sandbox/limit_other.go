//go:build !linux

package sandbox

// limitData does nothing where RLIMIT_DATA does not bound the memory a
// process maps (macOS ignores it for mmap): Options.MaxMemory is not
// enforced there, and the Go heap's soft limit is all that applies.
func limitData(n int64) error { return nil }
