package crdt

import (
	"compress/flate"
	"io"
	"slices"

	"github.com/automerge/automerge-go"
)

// A document sent whole when it is smaller.
//
// A sync message lists its changes one by one, each with its dependencies'
// 32-byte hashes, its actor, time and message; the session deflates it on
// the wire. A saved document stores the same history column by column,
// already compressed, and is often several times smaller than the message
// carrying many of its changes: after a long time apart, the two devices'
// offline edits travel in fewer bytes as the whole document. GenerateMessage
// compares the two for a message of at least wholeMinBytes and, when the
// document is the smaller, answers [ErrWholeSmaller] instead: the session
// sends the document whole ([Space.SaveSigned]) and the peer imports it
// ([Space.Import]). A smaller message never pays for saving the document.
//
// The sync state with the peer starts over from what both sides were known
// to share, as for every whole send: its next message carries the heads and
// a Bloom filter of the changes since, and no change, so the exchange that
// follows an import is small and never sends the document whole again.

// wholeMinBytes is the size of a sync message (before the wire's
// compression) from which GenerateMessage considers sending the document
// whole instead.
const wholeMinBytes = 32 << 10

// ErrWholeSmaller is returned by [Peer.GenerateMessage] when the next sync
// message for a document would be larger on the wire than the whole
// document: send the document whole instead, as for [ErrSendWhole], which
// errors.Is also matches.
var ErrWholeSmaller error = wholeSmallerError{}

type wholeSmallerError struct{}

func (wholeSmallerError) Error() string {
	return "send the whole document: it is smaller than the sync message"
}

// Is makes errors.Is(err, ErrSendWhole) true: the caller does the same.
func (wholeSmallerError) Is(target error) bool { return target == ErrSendWhole }

// wholeSmaller tells whether the document ds, saved, is smaller than msg
// deflated as the session sends it. ds.mu must be held and ds.doc loaded.
func wholeSmaller(ds *docState, msg []byte) bool {
	if len(msg) < wholeMinBytes {
		return false
	}
	data := saveApplied(ds.doc)
	if len(data) >= deflatedSize(msg) {
		return false
	}
	ds.saved = &savedDoc{gen: ds.gen, heads: ds.doc.Heads(), data: data}
	return true
}

// savedDoc is a document saved at heads, while loaded as generation gen.
type savedDoc struct {
	gen   uint64
	heads []automerge.ChangeHash
	data  []byte
}

// save returns ds.doc saved: the bytes wholeSmaller kept when the document
// is still at the same heads, which saves the document once per whole send.
// It forgets those bytes. ds.mu must be held and ds.doc loaded.
func (ds *docState) save() []byte {
	w := ds.saved
	ds.saved = nil
	if w != nil && w.gen == ds.gen && slices.Equal(w.heads, ds.doc.Heads()) {
		return w.data
	}
	return saveApplied(ds.doc)
}

// deflatedSize returns the length of b compressed as the session
// compresses sync messages (deflate, default level).
func deflatedSize(b []byte) int {
	var n countWriter
	w, err := flate.NewWriter(&n, flate.DefaultCompression)
	if err != nil {
		return len(b)
	}
	if _, err := w.Write(b); err != nil {
		return len(b)
	}
	if err := w.Close(); err != nil {
		return len(b)
	}
	return int(n)
}

// countWriter counts the bytes written to it.
type countWriter int

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

var _ io.Writer = (*countWriter)(nil)
