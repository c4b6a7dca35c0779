package hostile

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
)

// An Input is one hostile input and how it was made.
type Input struct {
	Kind Kind
	Op   string // the mutations applied, for reports
	Seed string // the seed it came from
	Data []byte
}

// Gen makes hostile inputs from seeds. The same seed number and seeds give
// the same inputs. A Gen is not safe for concurrent use.
type Gen struct {
	r     *rand.Rand
	seeds [numKinds][]Seed
	all   []Seed
	// MaxSize bounds the inputs it makes, apart from the "oversize" ones
	// (default 1 MiB).
	MaxSize int
	// OversizeLen is the length of "oversize" inputs (default 4 MiB).
	OversizeLen int
}

// New returns a generator drawing from seeds, deterministic from seed.
func New(seed uint64, seeds []Seed) *Gen {
	g := &Gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), all: seeds, MaxSize: 1 << 20, OversizeLen: 4 << 20}
	for _, s := range seeds {
		g.seeds[s.Kind] = append(g.seeds[s.Kind], s)
	}
	return g
}

func (g *Gen) pick(k Kind) Seed {
	s := g.seeds[k]
	if len(s) == 0 {
		s = g.all
	}
	return s[g.r.IntN(len(s))]
}

// Next returns a hostile input for k.
func (g *Gen) Next(k Kind) Input {
	s := g.pick(k)
	in := Input{Kind: k, Seed: s.Name}
	if k == Sync {
		in.Op, in.Data = g.syncInput(s.Data)
	} else {
		in.Op, in.Data = g.chunkInput(s.Data)
	}
	if len(in.Data) > g.MaxSize && in.Op != "oversize" {
		in.Data = in.Data[:g.MaxSize]
		in.Op += "+cut"
	}
	return in
}

// Session returns a mutated sync conversation: the messages of a recorded
// session duplicated, reordered, dropped, and sometimes one of them mutated.
func (g *Gen) Session() (op string, msgs [][]byte) {
	s := g.pick(Sync)
	msgs = append([][]byte(nil), s.Session...)
	if len(msgs) == 0 {
		msgs = [][]byte{s.Data}
	}
	steps := 1 + g.r.IntN(3)
	for i := 0; i < steps; i++ {
		n := len(msgs)
		switch g.r.IntN(5) {
		case 0: // duplicate one
			j := g.r.IntN(n)
			msgs = insertAt(msgs, g.r.IntN(n+1), msgs[j])
			op += "dup,"
		case 1: // swap two
			j, k := g.r.IntN(n), g.r.IntN(n)
			msgs[j], msgs[k] = msgs[k], msgs[j]
			op += "swap,"
		case 2: // drop one
			if n > 1 {
				j := g.r.IntN(n)
				msgs = append(msgs[:j:j], msgs[j+1:]...)
				op += "drop,"
			}
		case 3: // replay the whole session again
			msgs = append(msgs, msgs...)
			op += "replay,"
		case 4: // mutate one
			j := g.r.IntN(n)
			var m string
			m, msgs[j] = g.syncInput(msgs[j])
			op += "mutate(" + m + "),"
		}
	}
	return op, msgs
}

func insertAt(s [][]byte, i int, v []byte) [][]byte {
	s = append(s, nil)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// chunkInput mutates chunked bytes (documents, incremental chunks, changes).
func (g *Gen) chunkInput(data []byte) (string, []byte) {
	switch n := g.r.IntN(100); {
	case n < 5:
		return "random", g.randomBytes(g.r.IntN(512))
	case n < 10:
		// random body behind a valid header
		return "random-chunk", Build(byte(g.r.IntN(4)), g.randomBytes(g.r.IntN(512)))
	case n < 16:
		return "truncate", data[:g.r.IntN(len(data)+1)]
	case n < 22:
		return g.validPrefix(data)
	case n < 25:
		return "flip-raw", g.flipBits(append([]byte(nil), data...), 1+g.r.IntN(4))
	case n < 30:
		return g.splice(data)
	case n < 33:
		return g.oversize(data)
	default:
		// Mutate inside chunks, checksum recomputed: what gets past
		// the checksum into the decoders.
		op, out := g.mutateChunks(data, 1+g.r.IntN(3))
		return op, out
	}
}

// validPrefix returns the first chunks of data, or one chunk whose body is
// cut short and whose header (length, checksum) is made to match.
func (g *Gen) validPrefix(data []byte) (string, []byte) {
	chunks, _ := SplitChunks(data)
	if len(chunks) > 1 && g.r.IntN(2) == 0 {
		n := g.r.IntN(len(chunks))
		var out []byte
		for _, c := range chunks[:n] {
			out = append(out, c.Encode()...)
		}
		return "chunk-prefix", out
	}
	if len(chunks) == 0 {
		return "truncate", data[:g.r.IntN(len(data)+1)]
	}
	c, err := Decompress(chunks[g.r.IntN(len(chunks))])
	if err != nil {
		return "truncate", data[:g.r.IntN(len(data)+1)]
	}
	c.Body = c.Body[:g.r.IntN(len(c.Body)+1)]
	return "body-prefix", c.Fixed()
}

// mutateChunks applies steps mutations to the bodies of data's chunks and
// re-encodes them with valid lengths and checksums.
func (g *Gen) mutateChunks(data []byte, steps int) (string, []byte) {
	chunks, rest := SplitChunks(data)
	if len(chunks) == 0 {
		return "flip-raw", g.flipBits(append([]byte(nil), data...), 1+g.r.IntN(4))
	}
	for i := range chunks {
		if c, err := Decompress(chunks[i]); err == nil {
			chunks[i] = c
		}
		chunks[i].Body = append([]byte(nil), chunks[i].Body...)
	}
	op := ""
	for i := 0; i < steps; i++ {
		j := g.r.IntN(len(chunks))
		var m string
		m, chunks[j].Body = g.mutateBody(chunks[j].Body)
		if g.r.IntN(20) == 0 {
			chunks[j].Type = byte(g.r.IntN(4))
			m += "+type"
		}
		op += m + ","
	}
	var out []byte
	for _, c := range chunks {
		out = append(out, c.Fixed()...)
	}
	return "fixed:" + op, append(out, rest...)
}

// interesting are byte values that often sit at decoding edges.
var interesting = []byte{0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x40, 0x3f, 0x10, 0x20}

// mutateBody applies one mutation to a chunk body.
func (g *Gen) mutateBody(b []byte) (string, []byte) {
	if len(b) == 0 {
		return "grow", g.randomBytes(1 + g.r.IntN(16))
	}
	pos := g.r.IntN(len(b))
	switch g.r.IntN(10) {
	case 0, 1:
		return "flip", g.flipBits(b, 1+g.r.IntN(3))
	case 2:
		b[pos] = interesting[g.r.IntN(len(interesting))]
		return "set", b
	case 3:
		b[pos] += byte(g.r.IntN(9)) - 4
		return "add", b
	case 4: // insert bytes
		ins := g.randomBytes(1 + g.r.IntN(8))
		if g.r.IntN(2) == 0 {
			ins = binary.AppendUvarint(nil, g.bigNumber())
		}
		return "insert", append(b[:pos:pos], append(ins, b[pos:]...)...)
	case 5: // delete bytes
		n := 1 + g.r.IntN(min(8, len(b)-pos))
		return "delete", append(b[:pos:pos], b[pos+n:]...)
	case 6: // overwrite with a uLEB128 number
		v := binary.AppendUvarint(nil, g.bigNumber())
		out := append(b[:pos:pos], v...)
		if pos+len(v) < len(b) {
			out = append(out, b[pos+len(v):]...)
		}
		return "leb", out
	case 7: // copy a run of bytes elsewhere
		src := g.r.IntN(len(b))
		n := 1 + g.r.IntN(min(32, len(b)-src))
		run := append([]byte(nil), b[src:src+n]...)
		return "copy", append(b[:pos:pos], append(run, b[pos:]...)...)
	case 8: // duplicate a run in place
		n := 1 + g.r.IntN(min(32, len(b)-pos))
		run := append([]byte(nil), b[pos:pos+n]...)
		return "dup-run", append(b[:pos+n:pos+n], append(run, b[pos+n:]...)...)
	default: // cut the body short
		return "cut", b[:pos]
	}
}

func (g *Gen) bigNumber() uint64 {
	switch g.r.IntN(4) {
	case 0:
		return uint64(g.r.IntN(300))
	case 1:
		return 1<<uint(g.r.IntN(64)) - uint64(g.r.IntN(2))
	case 2:
		return uint64(g.r.Int64())
	}
	return 1<<32 - 1
}

// splice combines chunks of two seeds: reordered, duplicated, dropped, or
// one body made of halves of two.
func (g *Gen) splice(data []byte) (string, []byte) {
	other := g.all[g.r.IntN(len(g.all))].Data
	if len(other) > 0 && other[0] == SyncMessageType {
		if m, err := ParseSync(other); err == nil && len(m.Changes) > 0 {
			other = m.Changes[g.r.IntN(len(m.Changes))]
		}
	}
	a, _ := SplitChunks(data)
	b, _ := SplitChunks(other)
	all := append(append([]Chunk(nil), a...), b...)
	if len(all) == 0 {
		return "random", g.randomBytes(64)
	}
	var out []Chunk
	op := "splice"
	switch g.r.IntN(4) {
	case 0: // shuffle
		out = append(out, all...)
		g.r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		op += "-shuffle"
	case 1: // duplicate a chunk
		out = append(out, a...)
		out = append(out, all[g.r.IntN(len(all))])
		op += "-dup"
	case 2: // drop a chunk
		out = append(out, all...)
		i := g.r.IntN(len(out))
		out = append(out[:i], out[i+1:]...)
		op += "-drop"
	default: // cross two bodies
		x, y := all[g.r.IntN(len(all))], all[g.r.IntN(len(all))]
		x, _ = Decompress(x)
		y, _ = Decompress(y)
		body := append(append([]byte(nil), x.Body[:g.r.IntN(len(x.Body)+1)]...), y.Body[g.r.IntN(len(y.Body)+1):]...)
		out = append(out, Chunk{Type: x.Type, Body: body})
		op += "-cross"
		var enc []byte
		for _, c := range out {
			enc = append(enc, c.Fixed()...)
		}
		return op, enc
	}
	var enc []byte
	for _, c := range out {
		enc = append(enc, c.Encode()...)
	}
	return op, enc
}

// oversize makes a large input: a chunk claiming a huge body, data
// repeated, or a valid chunk with a huge body.
func (g *Gen) oversize(data []byte) (string, []byte) {
	switch g.r.IntN(3) {
	case 0: // header claims more than there is
		c := Chunk{Type: byte(g.r.IntN(3)), Body: data}
		enc := append([]byte(nil), Magic[:]...)
		enc = append(enc, c.Checksum[:]...)
		enc = append(enc, c.Type)
		enc = binary.AppendUvarint(enc, g.bigNumber()|1<<30)
		return "huge-length", append(enc, data...)
	case 1:
		var out []byte
		for len(out) < g.OversizeLen && len(data) > 0 {
			out = append(out, data...)
		}
		return "oversize", out
	}
	return "oversize", Build(byte(g.r.IntN(2)), g.randomBytes(g.OversizeLen))
}

// syncInput mutates a sync message: its fields, its changes (with their
// checksums recomputed), or its bytes.
func (g *Gen) syncInput(data []byte) (string, []byte) {
	m, err := ParseSync(data)
	if err != nil || g.r.IntN(10) == 0 {
		op, out := g.rawSync(data)
		return op, out
	}
	// Copy the slices that will be changed.
	m.Heads = append([][32]byte(nil), m.Heads...)
	m.Need = append([][32]byte(nil), m.Need...)
	m.Have = append([]Have(nil), m.Have...)
	m.Changes = append([][]byte(nil), m.Changes...)
	steps := 1 + g.r.IntN(2)
	op := ""
	for i := 0; i < steps; i++ {
		switch n := g.r.IntN(100); {
		case n < 45 && len(m.Changes) > 0: // mutate a change, checksum fixed
			j := g.r.IntN(len(m.Changes))
			var c string
			c, m.Changes[j] = g.chunkInput(m.Changes[j])
			op += "change(" + c + "),"
		case n < 55: // changes from elsewhere
			src := g.all[g.r.IntN(len(g.all))].Data
			if s, err := ParseSync(src); err == nil {
				src = nil
				if len(s.Changes) > 0 {
					src = s.Changes[g.r.IntN(len(s.Changes))]
				}
			}
			if src != nil {
				m.Changes = append(m.Changes, src)
			}
			op += "add-change,"
		case n < 62 && len(m.Changes) > 1: // reorder, duplicate or drop changes
			switch g.r.IntN(3) {
			case 0:
				g.r.Shuffle(len(m.Changes), func(i, j int) { m.Changes[i], m.Changes[j] = m.Changes[j], m.Changes[i] })
			case 1:
				m.Changes = append(m.Changes, m.Changes[g.r.IntN(len(m.Changes))])
			default:
				j := g.r.IntN(len(m.Changes))
				m.Changes = append(m.Changes[:j:j], m.Changes[j+1:]...)
			}
			op += "changes-order,"
		case n < 72: // heads and needs: random, duplicated, of real changes
			m.Heads = g.hashes(m, m.Heads)
			op += "heads,"
		case n < 80:
			m.Need = g.hashes(m, m.Need)
			op += "need,"
		case n < 92: // Bloom filters
			m.Have = g.haves(m)
			op += "have,"
		default:
			m.Changes = nil
			op += "no-changes,"
		}
	}
	return "sync:" + op, m.Encode()
}

// rawSync mutates a sync message as bytes (it has no checksum).
func (g *Gen) rawSync(data []byte) (string, []byte) {
	b := append([]byte(nil), data...)
	switch g.r.IntN(5) {
	case 0:
		return "sync-truncate", b[:g.r.IntN(len(b)+1)]
	case 1:
		return "sync-random", append([]byte{SyncMessageType}, g.randomBytes(g.r.IntN(256))...)
	case 2:
		return "sync-trailing", append(b, g.randomBytes(1+g.r.IntN(16))...)
	}
	op, out := g.mutateBody(b)
	return "sync-raw-" + op, out
}

// hashes returns a mutated list of hashes.
func (g *Gen) hashes(m SyncMessage, hs [][32]byte) [][32]byte {
	switch g.r.IntN(5) {
	case 0:
		return nil
	case 1: // random hashes
		out := make([][32]byte, 1+g.r.IntN(4))
		for i := range out {
			copy(out[i][:], g.randomBytes(32))
		}
		return out
	case 2: // hashes of changes in this message
		var out [][32]byte
		for _, c := range m.Changes {
			if ch, _, err := ParseChunk(c); err == nil {
				out = append(out, changeHash(ch))
			}
		}
		return out
	case 3: // duplicate
		if len(hs) > 0 {
			return append(hs, hs[g.r.IntN(len(hs))])
		}
		return hs
	}
	if len(hs) > 0 { // flip a bit of one
		i := g.r.IntN(len(hs))
		h := hs[i]
		h[g.r.IntN(32)] ^= 1 << g.r.IntN(8)
		hs[i] = h
	}
	return hs
}

// changeHash is the hash of a change chunk: SHA-256 over type, length and
// body (the checksum is its first 4 bytes).
func changeHash(c Chunk) [32]byte {
	c, _ = Decompress(c)
	var h [32]byte
	full := sha256Sum(c.Type, c.Body)
	copy(h[:], full)
	return h
}

// haves returns mutated "have" entries: Bloom filters with odd
// parameters, random bits, or none.
func (g *Gen) haves(m SyncMessage) []Have {
	switch g.r.IntN(4) {
	case 0:
		return nil
	case 1: // random bytes
		return []Have{{Bloom: g.randomBytes(g.r.IntN(64))}}
	}
	var bloom []byte
	entries, bits, probes := g.bigNumber()%1000, g.bigNumber()%64, g.bigNumber()%64
	if g.r.IntN(3) == 0 {
		entries, bits, probes = g.bigNumber(), g.bigNumber(), g.bigNumber()
	}
	bloom = binary.AppendUvarint(bloom, entries)
	bloom = binary.AppendUvarint(bloom, bits)
	bloom = binary.AppendUvarint(bloom, probes)
	bloom = append(bloom, g.randomBytes(g.r.IntN(64))...)
	h := Have{Bloom: bloom}
	if len(m.Heads) > 0 {
		h.LastSync = m.Heads[:g.r.IntN(len(m.Heads)+1)]
	}
	out := append([]Have(nil), m.Have...)
	return append(out, h)
}

func (g *Gen) randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g *Gen) flipBits(b []byte, n int) []byte {
	if len(b) == 0 {
		return b
	}
	for i := 0; i < n; i++ {
		b[g.r.IntN(len(b))] ^= 1 << g.r.IntN(8)
	}
	return b
}

// String describes an input briefly.
func (in Input) String() string {
	return fmt.Sprintf("%s from %s by %s (%d bytes)", in.Kind, in.Seed, in.Op, len(in.Data))
}
