package crdt

import (
	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
)

// Changes set aside are never stored or sent.
//
// Automerge holds a received change whose dependencies it lacks aside, in
// memory, and applies it once they arrive; the signature that covers it
// waits beside it, in memory too (docState.early, verify.go). The two must
// live and die together: a set-aside change that outlives its signature is
// applied later with nothing to cover it, and refused.
//
// automerge.Doc.Save writes the set-aside changes after the document, so a
// compaction stored them without their signature, and a document sent
// whole carried them to a peer without one. After a restart (or any reload
// of the document) they were set aside again, the peer answered the
// missing dependency alone, and taking it in released them, uncovered: the
// same changes were refused at every session, for good. So every saved
// document is cut after its document chunk (saveApplied), and a stored
// snapshot written before that is read the same way (chunkDoc): what
// is set aside stays in memory only, and a peer sends it again, with its
// signature, when it is still missing.

// saveApplied returns d saved without the changes it holds aside.
func saveApplied(d *automerge.Doc) []byte {
	return appliedOnly(d.Save())
}

// appliedOnly returns a saved document without the changes set aside
// that automerge.Doc.Save wrote after it; bytes that do not start with a
// document chunk are returned as they are.
func appliedOnly(b []byte) []byte {
	if n := amwire.DocumentLen(b); n > 0 && n < len(b) {
		return b[:n]
	}
	return b
}

// chunkDoc returns what of a stored chunk is loaded: a snapshot without
// the changes set aside that a compaction before saveApplied stored.
func chunkDoc(c trustsync.Chunk) []byte {
	if c.Snapshot {
		return appliedOnly(c.Data)
	}
	return c.Data
}
