package benchkit

/*
#include <malloc.h>

static void benchkit_mallinfo(size_t *inuse, size_t *free, size_t *mmapped) {
	struct mallinfo2 mi = mallinfo2();
	*inuse = mi.uordblks;
	*free = mi.fordblks;
	*mmapped = mi.hblkhd;
}
*/
import "C"

// CHeap reports the C allocator's bytes in use by the program (sbrk heap
// and mmapped blocks), and the bytes it holds free, from glibc's
// mallinfo2: where Automerge's native memory lives.
func CHeap() (inuse, free int64) {
	var u, f, m C.size_t
	C.benchkit_mallinfo(&u, &f, &m)
	return int64(u) + int64(m), int64(f)
}

// CTrim returns the C allocator's free memory to the system.
func CTrim() { C.malloc_trim(0) }
