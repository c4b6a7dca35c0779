// Package cmem reads the C allocator of this process: how much of the
// native memory that Automerge (through cgo) allocates is in use, and how
// much the allocator holds free. Benchmarks use it to tell where memory goes
// that the Go heap never sees.
//
// It reads glibc's mallinfo2, found at run time, and reports zeros with
// another C library or system.
package cmem

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

// The layout of glibc's struct mallinfo2 (glibc 2.33 and later). It is
// looked up at run time, so that the package builds with any C library.
struct cmem_mallinfo2 {
	size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};

static int cmem_mallinfo(size_t *inuse, size_t *free_) {
	struct cmem_mallinfo2 (*f)(void) = (struct cmem_mallinfo2 (*)(void))dlsym(RTLD_DEFAULT, "mallinfo2");
	if (f == NULL) {
		return 0;
	}
	struct cmem_mallinfo2 m = f();
	*inuse = m.uordblks + m.hblkhd;
	*free_ = m.fordblks;
	return 1;
}

static void cmem_trim(void) {
	int (*t)(size_t) = (int (*)(size_t))dlsym(RTLD_DEFAULT, "malloc_trim");
	if (t != NULL) {
		t(0);
	}
}
*/
import "C"

// Heap reports the C allocator's bytes in use by the program (its heaps
// and mmapped blocks), and the bytes it holds free, from glibc's
// mallinfo2: where Automerge's native memory lives. Both are 0 without
// glibc 2.33 or later.
func Heap() (inuse, free int64) {
	var u, f C.size_t
	if C.cmem_mallinfo(&u, &f) == 0 {
		return 0, 0
	}
	return int64(u), int64(f)
}

// Trim returns the C allocator's free memory to the system.
func Trim() { C.cmem_trim() }
