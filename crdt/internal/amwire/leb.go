package amwire

import (
	"math"
	"unicode/utf8"
)

// reader reads the primitives of the format from a byte slice.
type reader struct {
	b   []byte
	off int
}

func (r *reader) done() bool { return r.off >= len(r.b) }
func (r *reader) left() int  { return len(r.b) - r.off }

// uleb reads an unsigned LEB128 number, refusing overlong encodings and
// numbers beyond 64 bits as Automerge does.
func (r *reader) uleb() (uint64, error) {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if r.off >= len(r.b) {
			return 0, malformed("number cut short")
		}
		c := r.b[r.off]
		r.off++
		if shift == 63 && c > 1 {
			return 0, malformed("number too large for 64 bits")
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if c == 0 && shift > 0 {
				return 0, malformed("overlong number")
			}
			return v, nil
		}
	}
}

// sleb reads a signed LEB128 number, refusing overlong encodings and
// numbers beyond 64 bits.
func (r *reader) sleb() (int64, error) {
	var v int64
	var prev byte
	for shift := uint(0); ; shift += 7 {
		if r.off >= len(r.b) {
			return 0, malformed("number cut short")
		}
		c := r.b[r.off]
		r.off++
		if shift == 63 {
			// The last byte may only carry the sign: 0x00 or 0x7f.
			if c != 0 && c != 0x7f {
				return 0, malformed("number too large for 64 bits")
			}
		}
		v |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			if shift > 0 && ((c == 0 && prev&0x40 == 0) || (c == 0x7f && prev&0x40 != 0)) {
				return 0, malformed("overlong number")
			}
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return v, nil
		}
		prev = c
	}
}

// count reads an unsigned number used as a length or count and checks it
// against max.
func (r *reader) count(max int) (int, error) {
	n, err := r.uleb()
	if err != nil {
		return 0, err
	}
	if n > uint64(max) {
		return 0, malformed("count %d exceeds the %d possible", n, max)
	}
	return int(n), nil
}

// take returns the next n bytes, without copying.
func (r *reader) take(n uint64) ([]byte, error) {
	if n > uint64(r.left()) {
		return nil, malformed("%d bytes wanted, %d left", n, r.left())
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b, nil
}

// lenBytes reads a uLEB128 length and that many bytes, without copying.
func (r *reader) lenBytes() ([]byte, error) {
	n, err := r.uleb()
	if err != nil {
		return nil, err
	}
	return r.take(n)
}

// hashes reads a uLEB128 count and that many 32-byte hashes.
func (r *reader) hashes() ([]Hash, error) {
	n, err := r.count(r.left() / 32)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	hs := make([]Hash, n)
	for i := range hs {
		copy(hs[i][:], r.b[r.off:])
		r.off += 32
	}
	return hs, nil
}

// str reads a length-prefixed UTF-8 string of at most max bytes.
func (r *reader) str(max int) (string, error) {
	n, err := r.uleb()
	if err != nil {
		return "", err
	}
	if n > uint64(max) {
		return "", overLimit("string of %d bytes exceeds the limit of %d", n, max)
	}
	b, err := r.take(n)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", malformed("string is not UTF-8")
	}
	return string(b), nil
}

// ulebLen returns the length of n encoded as uLEB128.
func ulebLen(n uint64) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

func appendUleb(b []byte, n uint64) []byte {
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

// runLen turns the signed count of a run-length encoded run into its
// length and whether it is a literal run.
func runLen(c int64) (n uint64, literal bool) {
	if c < 0 {
		if c == math.MinInt64 {
			return 1 << 63, true
		}
		return uint64(-c), true
	}
	return uint64(c), false
}
