package hostile

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
)

// Magic starts every Automerge chunk.
var Magic = [4]byte{0x85, 0x6f, 0x4a, 0x83}

// Chunk types of the Automerge binary format.
const (
	TypeDocument   byte = 0
	TypeChange     byte = 1
	TypeCompressed byte = 2 // a change chunk whose body is DEFLATE-compressed
)

// A Chunk is one Automerge chunk: magic bytes, a 4-byte checksum, a type
// byte, the uLEB128 length of the body, and the body.
type Chunk struct {
	Type     byte
	Checksum [4]byte
	Body     []byte
}

// Checksum returns the checksum Automerge expects for a chunk of type typ
// and this body: the first 4 bytes of SHA-256 over the type byte, the
// uLEB128 body length and the body. (For a change chunk the whole SHA-256
// is the change hash.) For a compressed chunk it is the checksum of the
// uncompressed change.
func Checksum(typ byte, body []byte) [4]byte {
	var c [4]byte
	copy(c[:], sha256Sum(typ, body))
	return c
}

func sha256Sum(typ byte, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte{typ})
	h.Write(binary.AppendUvarint(nil, uint64(len(body))))
	h.Write(body)
	return h.Sum(nil)
}

// Encode returns the chunk's bytes with the checksum it carries.
func (c Chunk) Encode() []byte {
	out := make([]byte, 0, 9+binary.MaxVarintLen64+len(c.Body))
	out = append(out, Magic[:]...)
	out = append(out, c.Checksum[:]...)
	out = append(out, c.Type)
	out = binary.AppendUvarint(out, uint64(len(c.Body)))
	return append(out, c.Body...)
}

// Fixed returns the chunk's bytes with its checksum recomputed, as an
// attacker would. A compressed chunk's checksum is that of its
// decompressed change, when it decompresses.
func (c Chunk) Fixed() []byte {
	switch c.Type {
	case TypeCompressed:
		if body, err := inflate(c.Body); err == nil {
			c.Checksum = Checksum(TypeChange, body)
		}
	default:
		c.Checksum = Checksum(c.Type, c.Body)
	}
	return c.Encode()
}

// Build returns a chunk of type typ holding body with a valid checksum.
func Build(typ byte, body []byte) []byte { return Chunk{Type: typ, Body: body}.Fixed() }

// ErrNotChunk is returned by ParseChunk for bytes that are not a whole
// chunk.
var ErrNotChunk = errors.New("not an Automerge chunk")

// ParseChunk reads one chunk from the start of b and returns it and the
// bytes after it. It does not verify the checksum.
func ParseChunk(b []byte) (Chunk, []byte, error) {
	if len(b) < 10 || !bytes.Equal(b[:4], Magic[:]) {
		return Chunk{}, b, ErrNotChunk
	}
	var c Chunk
	copy(c.Checksum[:], b[4:8])
	c.Type = b[8]
	n, k := binary.Uvarint(b[9:])
	if k <= 0 || n > uint64(len(b)-9-k) {
		return Chunk{}, b, ErrNotChunk
	}
	start := 9 + k
	c.Body = b[start : start+int(n) : start+int(n)]
	return c, b[start+int(n):], nil
}

// SplitChunks splits b into whole chunks; rest is what follows the last
// one (nil when b is only chunks).
func SplitChunks(b []byte) (chunks []Chunk, rest []byte) {
	for len(b) > 0 {
		c, r, err := ParseChunk(b)
		if err != nil {
			return chunks, b
		}
		chunks = append(chunks, c)
		b = r
	}
	return chunks, nil
}

// Valid reports whether b is a sequence of whole chunks whose checksums
// match (compressed chunks are not verified).
func Valid(b []byte) bool {
	chunks, rest := SplitChunks(b)
	if len(chunks) == 0 || len(rest) > 0 {
		return false
	}
	for _, c := range chunks {
		if c.Type != TypeCompressed && c.Checksum != Checksum(c.Type, c.Body) {
			return false
		}
	}
	return true
}

// Decompress returns a compressed change chunk as an uncompressed one
// (type TypeChange); other chunks are returned as they are.
func Decompress(c Chunk) (Chunk, error) {
	if c.Type != TypeCompressed {
		return c, nil
	}
	body, err := inflate(c.Body)
	if err != nil {
		return c, err
	}
	return Chunk{Type: TypeChange, Checksum: c.Checksum, Body: body}, nil
}

func inflate(b []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(b))
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, 64<<20))
}

// SyncMessage is a decoded Automerge sync message: type byte 0x42, the
// sender's heads, the hashes it needs, its "have" summaries (last sync
// heads and a Bloom filter), and raw change chunks.
type SyncMessage struct {
	Heads   [][32]byte
	Need    [][32]byte
	Have    []Have
	Changes [][]byte
}

// Have is one "have" entry of a sync message.
type Have struct {
	LastSync [][32]byte
	Bloom    []byte // encoded: uLEB entries, uLEB bits per entry, uLEB probes, bits
}

// SyncMessageType is the first byte of a sync message.
const SyncMessageType = 0x42

var errBadSync = errors.New("not a sync message")

// ParseSync decodes a sync message. Bytes left after the changes are an
// error.
func ParseSync(b []byte) (SyncMessage, error) {
	var m SyncMessage
	if len(b) == 0 || b[0] != SyncMessageType {
		return m, errBadSync
	}
	r := reader{b: b[1:]}
	m.Heads = r.hashes()
	m.Need = r.hashes()
	n := r.count(2)
	for i := 0; i < n && r.err == nil; i++ {
		m.Have = append(m.Have, Have{LastSync: r.hashes(), Bloom: r.bytes()})
	}
	n = r.count(1)
	for i := 0; i < n && r.err == nil; i++ {
		m.Changes = append(m.Changes, r.bytes())
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = errBadSync
	}
	return m, r.err
}

// Encode returns the message's bytes.
func (m SyncMessage) Encode() []byte {
	out := []byte{SyncMessageType}
	out = appendHashes(out, m.Heads)
	out = appendHashes(out, m.Need)
	out = binary.AppendUvarint(out, uint64(len(m.Have)))
	for _, h := range m.Have {
		out = appendHashes(out, h.LastSync)
		out = appendBytes(out, h.Bloom)
	}
	out = binary.AppendUvarint(out, uint64(len(m.Changes)))
	for _, c := range m.Changes {
		out = appendBytes(out, c)
	}
	return out
}

func appendHashes(out []byte, hs [][32]byte) []byte {
	out = binary.AppendUvarint(out, uint64(len(hs)))
	for _, h := range hs {
		out = append(out, h[:]...)
	}
	return out
}

func appendBytes(out, p []byte) []byte {
	out = binary.AppendUvarint(out, uint64(len(p)))
	return append(out, p...)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errBadSync
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items each at least min bytes long.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.err = errBadSync
		return 0
	}
	return int(n)
}

func (r *reader) hashes() [][32]byte {
	n := r.count(32)
	if r.err != nil {
		return nil
	}
	hs := make([][32]byte, n)
	for i := range hs {
		copy(hs[i][:], r.b[:32])
		r.b = r.b[32:]
	}
	return hs
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = errBadSync
	}
	if r.err != nil {
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}
