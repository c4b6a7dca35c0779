//go:build !linux

package cmem

// Heap reports the C allocator's bytes in use and free; 0 off Linux.
func Heap() (inuse, free int64) { return 0, 0 }

// Trim returns the C allocator's free memory to the system; nothing off
// Linux.
func Trim() {}
