package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"

	"github.com/trustsync/trustsync"
)

// repairHint tells a user how to recover from a damaged chunk.
const repairHint = "sync with your partner's device to set it aside and get the changes back, or restore a backup"

// DamagedChunksError is returned by Chunks, together with the intact chunks,
// when stored chunks fail their checksum. It unwraps to one
// [*trustsync.DamagedError] per damaged chunk, so both
// errors.Is(err, [trustsync.ErrDamaged]) and errors.As with a
// *trustsync.DamagedError work. Seqs lists the damaged chunks, ready for
// [trustsync.Tx.Quarantine].
type DamagedChunksError struct {
	Seqs   []int64
	Errors []*trustsync.DamagedError
}

// Error returns one line: the first damaged chunk and how many more there are.
func (e *DamagedChunksError) Error() string {
	if len(e.Errors) == 0 {
		return "no damaged chunks"
	}
	msg := e.Errors[0].Error()
	if n := len(e.Errors) - 1; n > 0 {
		msg += " (and " + strconv.Itoa(n) + " more damaged chunk"
		if n > 1 {
			msg += "s"
		}
		msg += ")"
	}
	return msg
}

// Unwrap returns the [*trustsync.DamagedError] of every damaged chunk.
func (e *DamagedChunksError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, d := range e.Errors {
		errs[i] = d
	}
	return errs
}

// DamagedSeqs returns the sequence numbers of the damaged chunks, so that a
// caller that does not import this package (crdt) can set them aside.
func (e *DamagedChunksError) DamagedSeqs() []int64 { return e.Seqs }

// add records one damaged chunk.
func (e *DamagedChunksError) add(seq int64, doc string) {
	e.Seqs = append(e.Seqs, seq)
	e.Errors = append(e.Errors, &trustsync.DamagedError{
		What: fmt.Sprintf("chunk %d of document %q", seq, doc),
		Why:  "checksum mismatch",
		Hint: repairHint,
	})
}

// errOrNil returns e, or nil when no chunk was damaged.
func (e *DamagedChunksError) errOrNil() error {
	if e == nil || len(e.Seqs) == 0 {
		return nil
	}
	return e
}

// checksum is the SHA-256 of a chunk's bytes, as stored beside them.
func checksum(data []byte) []byte {
	h := sha256.Sum256(data)
	return h[:]
}

// chunkMAC is the MAC stored with a chunk under a device's chunk key: an
// HMAC-SHA-256 of a label, the document ID (prefixed with its length), the
// snapshot flag and the bytes, so that a chunk's MAC does not verify for
// another document or kind of chunk.
func chunkMAC(key []byte, doc string, snapshot bool, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("trustsync chunk v1\x00"))
	m.Write([]byte(strconv.Itoa(len(doc)) + ":" + doc))
	if snapshot {
		m.Write([]byte{1})
	} else {
		m.Write([]byte{0})
	}
	m.Write(data)
	return m.Sum(nil)
}

// checkDoc rejects the empty document ID, which Chunks reads as "every
// document".
func checkDoc(op, doc string) error {
	if doc == "" {
		return fmt.Errorf("%s: empty document ID: %w", op, trustsync.ErrInvalid)
	}
	return nil
}

// prefixEnd returns the smallest string greater than every string that starts
// with prefix, and false when there is none (prefix is empty or all 0xff).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(strings.Clone(prefix))
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// clone copies b so that callers never share a store's bytes. It keeps nil
// as an empty slice, so that a stored value is never nil.
func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
