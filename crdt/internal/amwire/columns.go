package amwire

import (
	"math"
	"unicode/utf8"
)

// Column decoders. Each decodes one column of a change lazily, one value
// per operation, so that a run of a billion values written in three bytes
// costs nothing until it is read, and reading stops at the operation count.

// rleUint decodes a run-length encoded column of unsigned numbers. Runs
// are a signed count: n > 0 repeats the following value n times, -n is
// followed by n literal values, and 0 is followed by the length of a run
// of nulls.
type rleUint struct {
	r       reader
	n       uint64 // values left in the current run
	literal bool
	null    bool
	val     uint64
}

// next returns the next value; ok is false for a null. A column that has
// ended yields nulls, as Automerge writes nothing for trailing nulls.
func (d *rleUint) next() (v uint64, ok bool, err error) {
	for d.n == 0 {
		if d.r.done() {
			return 0, false, nil
		}
		c, err := d.r.sleb()
		if err != nil {
			return 0, false, err
		}
		switch {
		case c == 0:
			if d.n, err = d.r.uleb(); err != nil {
				return 0, false, err
			}
			d.null, d.literal = true, false
		case c > 0:
			d.n, _ = runLen(c)
			if d.val, err = d.r.uleb(); err != nil {
				return 0, false, err
			}
			d.null, d.literal = false, false
		default:
			d.n, _ = runLen(c)
			d.null, d.literal = false, true
		}
	}
	d.n--
	if d.null {
		return 0, false, nil
	}
	if d.literal {
		if d.val, err = d.r.uleb(); err != nil {
			return 0, false, err
		}
	}
	return d.val, true, nil
}

// rleInt decodes a run-length encoded column of signed numbers.
type rleInt struct {
	r       reader
	n       uint64
	literal bool
	null    bool
	val     int64
}

func (d *rleInt) next() (v int64, ok bool, err error) {
	for d.n == 0 {
		if d.r.done() {
			return 0, false, nil
		}
		c, err := d.r.sleb()
		if err != nil {
			return 0, false, err
		}
		switch {
		case c == 0:
			if d.n, err = d.r.uleb(); err != nil {
				return 0, false, err
			}
			d.null, d.literal = true, false
		case c > 0:
			d.n, _ = runLen(c)
			if d.val, err = d.r.sleb(); err != nil {
				return 0, false, err
			}
			d.null, d.literal = false, false
		default:
			d.n, _ = runLen(c)
			d.null, d.literal = false, true
		}
	}
	d.n--
	if d.null {
		return 0, false, nil
	}
	if d.literal {
		if d.val, err = d.r.sleb(); err != nil {
			return 0, false, err
		}
	}
	return d.val, true, nil
}

// delta decodes a delta-encoded column: a run-length encoded column of
// signed differences, each value the sum of the differences so far.
type delta struct {
	rle rleInt
	abs int64
}

func (d *delta) next() (v int64, ok bool, err error) {
	dv, ok, err := d.rle.next()
	if err != nil || !ok {
		return 0, false, err
	}
	s := d.abs + dv
	if (dv > 0 && s < d.abs) || (dv < 0 && s > d.abs) {
		return 0, false, malformed("delta overflows 64 bits")
	}
	d.abs = s
	return s, true, nil
}

// rleString decodes a run-length encoded column of UTF-8 strings, each a
// uLEB128 length and its bytes, no longer than max bytes.
type rleString struct {
	r       reader
	max     int
	n       uint64
	literal bool
	null    bool
	val     string
}

func (d *rleString) read() (string, error) {
	return d.r.str(d.max)
}

func (d *rleString) next() (v string, ok bool, err error) {
	for d.n == 0 {
		if d.r.done() {
			return "", false, nil
		}
		c, err := d.r.sleb()
		if err != nil {
			return "", false, err
		}
		switch {
		case c == 0:
			if d.n, err = d.r.uleb(); err != nil {
				return "", false, err
			}
			d.null, d.literal = true, false
		case c > 0:
			d.n, _ = runLen(c)
			if d.val, err = d.read(); err != nil {
				return "", false, err
			}
			d.null, d.literal = false, false
		default:
			d.n, _ = runLen(c)
			d.null, d.literal = false, true
		}
	}
	d.n--
	if d.null {
		return "", false, nil
	}
	if d.literal {
		if d.val, err = d.read(); err != nil {
			return "", false, err
		}
	}
	return d.val, true, nil
}

// boolean decodes a boolean column: uLEB128 run lengths of alternating
// values, the first run of false values. Make one with newBoolean.
type boolean struct {
	r   reader
	n   uint64
	val bool
}

func newBoolean(b []byte) boolean {
	// Each run read flips the value, so the first run is of false values.
	return boolean{r: reader{b: b}, val: true}
}

// next returns the next value; ended reports that the column has ended
// (and the value is false).
func (d *boolean) next() (v, ended bool, err error) {
	for d.n == 0 {
		if d.r.done() {
			return false, true, nil
		}
		n, err := d.r.uleb()
		if err != nil {
			return false, false, err
		}
		d.n, d.val = n, !d.val
	}
	d.n--
	return d.val, false, nil
}

// values decodes the value columns: a run-length encoded column of
// metadata (the length of the value's bytes shifted left by 4, or'ed with
// its type code) and the raw column holding the bytes.
type values struct {
	meta rleUint
	raw  reader
	max  int
}

func (d *values) next() (Value, error) {
	m, ok, err := d.meta.next()
	if err != nil {
		return Value{}, err
	}
	if !ok {
		if d.meta.r.done() && d.meta.n == 0 {
			return Value{}, malformed("value metadata ended before the operations")
		}
		return Value{}, malformed("null value metadata")
	}
	code, n := Kind(m&0x0f), m>>4
	if n > uint64(d.max) {
		return Value{}, overLimit("value of %d bytes exceeds the limit of %d", n, d.max)
	}
	b, err := d.raw.take(n)
	if err != nil {
		return Value{}, malformed("value bytes: %v", err)
	}
	v := Value{Kind: code}
	switch code {
	case Null:
		if n != 0 {
			return Value{}, malformed("null value with %d bytes", n)
		}
	case 1, 2: // false, true
		if n != 0 {
			return Value{}, malformed("boolean value with %d bytes", n)
		}
		v.Kind, v.Bool = Bool, code == 2
	case Uint:
		r := reader{b: b}
		if v.Uint, err = r.uleb(); err != nil || !r.done() {
			return Value{}, malformed("uint value is not one number")
		}
	case Int, Counter, Timestamp:
		r := reader{b: b}
		if v.Int, err = r.sleb(); err != nil || !r.done() {
			return Value{}, malformed("%s value is not one number", code)
		}
	case Float:
		if n != 8 {
			return Value{}, malformed("float value of %d bytes, not 8", n)
		}
		var u uint64
		for i := 7; i >= 0; i-- {
			u = u<<8 | uint64(b[i])
		}
		v.Float = math.Float64frombits(u)
	case String:
		if !utf8.Valid(b) {
			return Value{}, malformed("string value is not UTF-8")
		}
		v.Str = string(b)
	case Bytes:
		v.Bytes = append([]byte(nil), b...)
	default:
		v.Kind, v.TypeCode = Unknown, uint8(code)
		v.Bytes = append([]byte(nil), b...)
	}
	return v, nil
}
