//go:build !linux

package benchkit

// CHeap reports the C allocator's bytes in use and free; 0 off Linux.
func CHeap() (inuse, free int64) { return 0, 0 }

// CTrim returns the C allocator's free memory to the system; nothing off
// Linux.
func CTrim() {}
