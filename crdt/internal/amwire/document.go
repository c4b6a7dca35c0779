package amwire

import "bytes"

// DocumentLen returns the length of the document chunk that b starts
// with, as automerge.Doc.Save writes it, or 0 when b does not start with
// a whole document chunk. Save appends, after that chunk, the changes the
// document holds aside until their dependencies arrive, each as a change
// chunk of its own: b[:DocumentLen(b)] is the document without them. The
// chunk's checksum is not checked.
func DocumentLen(b []byte) int {
	if len(b) < 10 || !bytes.Equal(b[:4], magic[:]) || b[8] != chunkDocument {
		return 0
	}
	r := reader{b: b, off: 9}
	n, err := r.uleb()
	if err != nil || n > uint64(r.left()) {
		return 0
	}
	return r.off + int(n)
}
