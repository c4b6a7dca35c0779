package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/automerge/automerge-go"
)

// The parent and the child talk in frames: a 4-byte big-endian length, then
// that many bytes. A request frame starts with an op byte; a reply frame with
// a status byte. Fields are uvarints and length-prefixed byte strings.

// Ops (parent to child).
const (
	opPing    byte = 1 // -> stOK
	opSync    byte = 2 // key, mode, base heads, data, want heads: bring a mirror to the parent's state (trusted bytes)
	opMessage byte = 3 // key, expect heads, sync state, message: apply an untrusted sync message to a mirror
	opLoad    byte = 4 // key, expect heads, whole, data: load untrusted saved bytes (whole 1: Load on a scratch document first, 2: the same unless the mirror is empty; then LoadIncremental into the mirror)
	opChanges byte = 5 // data: decode untrusted change bytes (LoadChanges)
	opForget  byte = 6 // key: drop a mirror
)

// Sync modes of opSync.
const (
	modeDelta byte = 1 // data holds the changes the mirror lacks; the mirror must be at the base heads
	modeFull  byte = 2 // data is a whole saved document (or empty for an empty one); the mirror is replaced
)

// Reply statuses (child to parent). A reply carries a status, a text and the
// mirror's heads after the op.
const (
	stOK         byte = 0
	stRejected   byte = 1 // automerge returned an error, or Go code panicked, on the untrusted input
	stOutOfStep  byte = 2 // the mirror is missing or not at the heads the parent expected
	stProtoError byte = 3 // the request could not be decoded
)

// maxFrame bounds any frame either side reads. Untrusted inputs are bounded
// further by Options.MaxInput before they are sent.
const maxFrame = 1 << 30

var errFrameTooBig = errors.New("sandbox: frame too large")

func writeFrame(w io.Writer, p []byte) error {
	if len(p) > maxFrame {
		return errFrameTooBig
	}
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], uint32(len(p)))
	// One write for small frames: fewer syscalls per check.
	if len(p) <= 64<<10 {
		buf := make([]byte, 0, 4+len(p))
		buf = append(append(buf, h[:]...), p...)
		_, err := w.Write(buf)
		return err
	}
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n > maxFrame {
		return nil, errFrameTooBig
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return p, nil
}

type encoder struct{ b []byte }

func (e *encoder) byte(v byte) { e.b = append(e.b, v) }
func (e *encoder) bytes(p []byte) {
	e.b = binary.AppendUvarint(e.b, uint64(len(p)))
	e.b = append(e.b, p...)
}
func (e *encoder) str(s string) { e.bytes([]byte(s)) }
func (e *encoder) heads(hs []automerge.ChangeHash) {
	e.b = binary.AppendUvarint(e.b, uint64(len(hs)))
	for _, h := range hs {
		e.b = append(e.b, h[:]...)
	}
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("sandbox: malformed frame (%s)", what)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail("bytes")
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) heads() []automerge.ChangeHash {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b))/32 {
		d.fail("heads")
		return nil
	}
	hs := make([]automerge.ChangeHash, n)
	for i := range hs {
		copy(hs[i][:], d.b[:32])
		d.b = d.b[32:]
	}
	return hs
}

// reply is a decoded reply frame.
type reply struct {
	status byte
	text   string
	heads  []automerge.ChangeHash
	// mem is the native memory the child's C allocator had in use after
	// the op, where Automerge's documents live; 0 where it cannot be read.
	mem int64
}

func encodeReply(r reply) []byte {
	var e encoder
	e.byte(r.status)
	e.str(r.text)
	e.heads(r.heads)
	e.b = binary.AppendUvarint(e.b, uint64(max(r.mem, 0)))
	return e.b
}

func decodeReply(p []byte) (reply, error) {
	d := decoder{b: p}
	r := reply{status: d.byte(), text: d.str(), heads: d.heads()}
	r.mem = int64(min(d.uvarint(), 1<<62))
	return r, d.err
}

func equalHeads(a, b []automerge.ChangeHash) bool {
	if len(a) != len(b) {
		return false
	}
	// Heads come sorted from automerge; compare as sets to be safe.
	seen := make(map[automerge.ChangeHash]int, len(a))
	for _, h := range a {
		seen[h]++
	}
	for _, h := range b {
		if seen[h] == 0 {
			return false
		}
		seen[h]--
	}
	return true
}
