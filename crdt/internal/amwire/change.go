package amwire

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
)

// magic starts every Automerge chunk.
var magic = [4]byte{0x85, 0x6f, 0x4a, 0x83}

// Chunk types.
const (
	chunkDocument = 0
	chunkChange   = 1
	chunkDeflated = 2
	chunkBundle   = 3
)

// Column specifications of a change's operations: the column id shifted
// left by 4, or'ed with the column type (0 group, 1 actor, 2 integer,
// 3 delta, 4 boolean, 5 string, 6 value metadata, 7 value). Bit 3 marks a
// deflated column.
const (
	colObjActor  = 0<<4 | 1
	colObjCtr    = 0<<4 | 2
	colKeyActor  = 1<<4 | 1
	colKeyCtr    = 1<<4 | 3
	colKeyStr    = 1<<4 | 5
	colInsert    = 3<<4 | 4
	colAction    = 4<<4 | 2
	colValMeta   = 5<<4 | 6
	colValRaw    = 5<<4 | 7
	colPredGroup = 7<<4 | 0
	colPredActor = 7<<4 | 1
	colPredCtr   = 7<<4 | 3
	colExpand    = 9<<4 | 4
	colMarkName  = 10<<4 | 5

	colDeflate = 1 << 3
)

var colNames = map[uint32]string{
	colObjActor: "obj actor", colObjCtr: "obj counter",
	colKeyActor: "key actor", colKeyCtr: "key counter", colKeyStr: "key string",
	colInsert: "insert", colAction: "action",
	colValMeta: "value meta", colValRaw: "value",
	colPredGroup: "pred count", colPredActor: "pred actor", colPredCtr: "pred counter",
	colExpand: "expand", colMarkName: "mark name",
}

// colError names the column a decoding error came from.
func colError(col uint32, op int, err error) error {
	return fmt.Errorf("op column %q: op %d: %w", colNames[col], op, err)
}

// parser holds the limits and what one call has used of them.
type parser struct {
	lim      Limits
	inflated int
	nOps     int
	preds    int
	changes  int
	inflater io.ReadCloser
}

func newParser(lim Limits) *parser {
	return &parser{lim: lim.withDefaults()}
}

func (p *parser) checkSize(b []byte) error {
	if len(b) > p.lim.MaxBytes {
		return overLimit("input of %d bytes exceeds the limit of %d", len(b), p.lim.MaxBytes)
	}
	return nil
}

// ParseChange parses one change chunk, a change (type 1) or a deflated
// change (type 2), as automerge.Change.Save returns it. It checks the
// checksum and computes the hash as Automerge does, over the inflated form
// of a deflated change.
func ParseChange(b []byte, lim Limits) (*Change, error) {
	p := newParser(lim)
	if err := p.checkSize(b); err != nil {
		return nil, fmt.Errorf("amwire: change: %w", err)
	}
	c, n, err := p.chunk(b)
	if err != nil {
		return nil, fmt.Errorf("amwire: change: %w", err)
	}
	if n != len(b) {
		return nil, fmt.Errorf("amwire: change: %w", malformed("%d bytes after the chunk", len(b)-n))
	}
	return c, nil
}

// ParseChanges parses concatenated change chunks, as automerge.SaveChanges
// returns them. An empty input gives no changes.
func ParseChanges(b []byte, lim Limits) ([]*Change, error) {
	p := newParser(lim)
	if err := p.checkSize(b); err != nil {
		return nil, fmt.Errorf("amwire: changes: %w", err)
	}
	var cs []*Change
	for off := 0; off < len(b); {
		if err := p.countChange(); err != nil {
			return nil, fmt.Errorf("amwire: change %d: %w", len(cs), err)
		}
		c, n, err := p.chunk(b[off:])
		if err != nil {
			return nil, fmt.Errorf("amwire: change %d (at byte %d): %w", len(cs), off, err)
		}
		cs = append(cs, c)
		off += n
	}
	return cs, nil
}

func (p *parser) countChange() error {
	if p.changes >= p.lim.MaxChanges {
		return overLimit("more than the limit of %d changes", p.lim.MaxChanges)
	}
	p.changes++
	return nil
}

// chunk parses the change chunk at the start of b and returns it and the
// chunk's length.
func (p *parser) chunk(b []byte) (*Change, int, error) {
	if p.lim.OpsPerChange {
		p.nOps, p.preds = 0, 0
	}
	if len(b) < 10 {
		return nil, 0, malformed("chunk header cut short (%d bytes)", len(b))
	}
	if !bytes.Equal(b[:4], magic[:]) {
		return nil, 0, malformed("not an Automerge chunk (magic bytes % x)", b[:4])
	}
	r := reader{b: b, off: 9}
	n, err := r.uleb()
	if err != nil {
		return nil, 0, fmt.Errorf("chunk length: %w", err)
	}
	body, err := r.take(n)
	if err != nil {
		return nil, 0, fmt.Errorf("chunk body: %w", err)
	}
	end := r.off
	c := &Change{Size: end}
	switch t := b[8]; t {
	case chunkChange:
		c.Hash = sha256.Sum256(b[8:end])
	case chunkDeflated:
		if body, err = p.inflate(body); err != nil {
			return nil, 0, err
		}
		h := sha256.New()
		h.Write(appendUleb([]byte{chunkChange}, uint64(len(body))))
		h.Write(body)
		h.Sum(c.Hash[:0])
		c.Deflated = true
	case chunkDocument:
		return nil, 0, unsupported("a document chunk, not a change")
	case chunkBundle:
		return nil, 0, unsupported("a bundle chunk, not a change")
	default:
		return nil, 0, unsupported("unknown chunk type %d", t)
	}
	if !bytes.Equal(c.Hash[:4], b[4:8]) {
		return nil, 0, &kindError{ErrChecksum, fmt.Sprintf("checksum % x does not match the contents (% x)", b[4:8], c.Hash[:4])}
	}
	if err := p.body(body, c); err != nil {
		return nil, 0, err
	}
	return c, end, nil
}

// inflate inflates a deflated change's body, stopping at what is left of
// MaxDecompressed.
func (p *parser) inflate(body []byte) ([]byte, error) {
	budget := p.lim.MaxDecompressed - p.inflated
	src := bytes.NewReader(body)
	if p.inflater == nil {
		p.inflater = flate.NewReader(src)
	} else if err := p.inflater.(flate.Resetter).Reset(src, nil); err != nil {
		return nil, malformed("inflate: %v", err)
	}
	var out bytes.Buffer
	out.Grow(min(budget+1, 4*len(body)+64))
	n, err := io.Copy(&out, io.LimitReader(p.inflater, int64(budget)+1))
	if n > int64(budget) {
		return nil, overLimit("inflated change exceeds the limit of %d bytes", p.lim.MaxDecompressed)
	}
	if err != nil {
		return nil, malformed("inflate: %v", err)
	}
	if src.Len() != 0 {
		return nil, malformed("%d bytes after the deflated data", src.Len())
	}
	p.inflated += int(n)
	return out.Bytes(), nil
}

// body parses a change's body into c.
func (p *parser) body(body []byte, c *Change) error {
	r := reader{b: body}
	var err error
	if c.Deps, err = r.hashes(); err != nil {
		return fmt.Errorf("dependencies: %w", err)
	}
	actor, err := r.lenBytes()
	if err != nil {
		return fmt.Errorf("actor: %w", err)
	}
	if c.Seq, err = r.uleb(); err != nil {
		return fmt.Errorf("seq: %w", err)
	}
	if c.StartOp, err = r.uleb(); err != nil {
		return fmt.Errorf("start op: %w", err)
	}
	if c.StartOp == 0 || c.StartOp > maxCounter {
		return fmt.Errorf("start op: %w", malformed("%d is out of range", c.StartOp))
	}
	if c.Time, err = r.sleb(); err != nil {
		return fmt.Errorf("time: %w", err)
	}
	if c.Message, err = r.str(len(body)); err != nil {
		return fmt.Errorf("message: %w", err)
	}
	nOther, err := r.count(r.left())
	if err != nil {
		return fmt.Errorf("actors: %w", err)
	}
	if nOther >= p.lim.MaxActors {
		return fmt.Errorf("actors: %w", overLimit("%d actors exceed the limit of %d", nOther+1, p.lim.MaxActors))
	}
	c.Actors = make([][]byte, 1, nOther+1)
	c.Actors[0] = bytes.Clone(actor)
	if c.Actors[0] == nil {
		c.Actors[0] = []byte{}
	}
	c.Actor = c.Actors[0]
	for i := 0; i < nOther; i++ {
		a, err := r.lenBytes()
		if err != nil {
			return fmt.Errorf("actor %d: %w", i+1, err)
		}
		c.Actors = append(c.Actors, append([]byte{}, a...))
	}
	cols, err := p.columns(&r)
	if err != nil {
		return err
	}
	// What follows the columns is extra data Automerge keeps but does not
	// interpret.
	return p.ops(cols, c)
}

// columns reads the column metadata and data of a change's operations and
// returns the data of the known columns, indexed by specification.
func (p *parser) columns(r *reader) (map[uint32][]byte, error) {
	n, err := r.count(r.left() / 2)
	if err != nil {
		return nil, fmt.Errorf("op columns: %w", err)
	}
	// A first pass checks the metadata and finds where the data starts; a
	// second reads the metadata again to hand out the data. Nothing is
	// allocated for the column count.
	meta := *r
	var total, prev uint64
	for i := range n {
		s, err := r.uleb()
		if err != nil {
			return nil, fmt.Errorf("op column %d: %w", i, err)
		}
		if s > math.MaxUint32 {
			return nil, fmt.Errorf("op column %d: %w", i, malformed("specification %d exceeds 32 bits", s))
		}
		if s&colDeflate != 0 {
			return nil, fmt.Errorf("op column %d: %w", i, unsupported("deflated column (specification %d) in a change", s))
		}
		if i > 0 && s <= prev {
			return nil, fmt.Errorf("op column %d: %w", i, malformed("specification %d not after %d", s, prev))
		}
		if s&7 == 7 && (i == 0 || prev != s-1) {
			// Automerge pairs a raw value column with the metadata column
			// of the same id just before it, for any id.
			return nil, fmt.Errorf("op column %d: %w", i, malformed("value column (specification %d) without its metadata column", s))
		}
		if s>>4 == colPredGroup>>4 && s != colPredGroup && s != colPredActor && s != colPredCtr {
			return nil, fmt.Errorf("op column %d: %w", i, malformed("unexpected column (specification %d) in the pred group", s))
		}
		prev = s
		l, err := r.uleb()
		if err != nil {
			return nil, fmt.Errorf("op column %d: %w", i, err)
		}
		if l > uint64(r.left()) || total+l > uint64(r.left()) {
			return nil, fmt.Errorf("op column %d: %w", i, malformed("length %d exceeds the %d bytes left", l, uint64(r.left())-total))
		}
		total += l
	}
	cols := make(map[uint32][]byte, len(colNames))
	for range n {
		s, _ := meta.uleb() // checked above
		l, _ := meta.uleb()
		data, _ := r.take(l)
		if _, known := colNames[uint32(s)]; known && len(data) > 0 {
			cols[uint32(s)] = data
		}
	}
	// Columns that belong together.
	if cols[colValRaw] != nil && cols[colValMeta] == nil {
		return nil, malformed("op column %q without %q", colNames[colValRaw], colNames[colValMeta])
	}
	if (cols[colPredActor] != nil || cols[colPredCtr] != nil) && cols[colPredGroup] == nil {
		return nil, malformed("op column %q without %q", colNames[colPredActor], colNames[colPredGroup])
	}
	if (cols[colPredActor] == nil) != (cols[colPredCtr] == nil) {
		return nil, malformed("op columns %q and %q must come together", colNames[colPredActor], colNames[colPredCtr])
	}
	return cols, nil
}

// countOps counts the operations in the action column, checking each
// action, without allocating.
func (p *parser) countOps(data []byte) (int, error) {
	r := reader{b: data}
	budget := uint64(p.lim.MaxOps - p.nOps)
	var n uint64
	checkAction := func() error {
		a, err := r.uleb()
		if err != nil {
			return err
		}
		if a > uint64(Mark) {
			return unsupported("unknown action %d", a)
		}
		return nil
	}
	for !r.done() {
		c, err := r.sleb()
		if err != nil {
			return 0, err
		}
		run, literal := runLen(c)
		switch {
		case c == 0:
			nulls, err := r.uleb()
			if err != nil {
				return 0, err
			}
			if nulls > 0 {
				return 0, malformed("null action")
			}
			continue
		case run > budget-n:
			return 0, overLimit("more than the limit of %d operations", p.lim.MaxOps)
		case literal:
			for range run {
				if err := checkAction(); err != nil {
					return 0, err
				}
			}
		default:
			if err := checkAction(); err != nil {
				return 0, err
			}
		}
		n += run
	}
	return int(n), nil
}

// ops decodes the operations of c from its columns.
func (p *parser) ops(cols map[uint32][]byte, c *Change) error {
	n, err := p.countOps(cols[colAction])
	if err != nil {
		return fmt.Errorf("op column %q: %w", colNames[colAction], err)
	}
	p.nOps += n
	if n == 0 {
		return nil
	}
	var (
		objActor  = rleUint{r: reader{b: cols[colObjActor]}}
		objCtr    = rleUint{r: reader{b: cols[colObjCtr]}}
		keyActor  = rleUint{r: reader{b: cols[colKeyActor]}}
		keyCtr    = delta{rle: rleInt{r: reader{b: cols[colKeyCtr]}}}
		keyStr    = rleString{r: reader{b: cols[colKeyStr]}, max: p.lim.MaxValueBytes}
		insert    = newBoolean(cols[colInsert])
		action    = rleUint{r: reader{b: cols[colAction]}}
		vals      = values{meta: rleUint{r: reader{b: cols[colValMeta]}}, raw: reader{b: cols[colValRaw]}, max: p.lim.MaxValueBytes}
		predGroup = rleUint{r: reader{b: cols[colPredGroup]}}
		predActor = rleUint{r: reader{b: cols[colPredActor]}}
		predCtr   = delta{rle: rleInt{r: reader{b: cols[colPredCtr]}}}
		expand    = newBoolean(cols[colExpand])
		markName  = rleString{r: reader{b: cols[colMarkName]}, max: p.lim.MaxValueBytes}
	)
	nActors := uint64(len(c.Actors))
	actorIndex := func(col uint32, i int, a uint64) (int, error) {
		if a >= nActors {
			return 0, colError(col, i, malformed("actor index %d, but the change has %d actors", a, nActors))
		}
		return int(a), nil
	}
	c.Ops = make([]Op, n)
	var preds []OpID
	for i := range c.Ops {
		op := &c.Ops[i]
		op.ID = OpID{Counter: c.StartOp + uint64(i)}

		// The object: both columns null (or a counter of 0) is the root.
		oa, oaOK, err := objActor.next()
		if err != nil {
			return colError(colObjActor, i, err)
		}
		oc, ocOK, err := objCtr.next()
		if err != nil {
			return colError(colObjCtr, i, err)
		}
		switch {
		case ocOK && oc == 0, !oaOK && !ocOK:
		case !ocOK:
			return colError(colObjCtr, i, malformed("object has an actor but no counter"))
		case !oaOK:
			return colError(colObjActor, i, malformed("object has a counter but no actor"))
		default:
			if op.Obj.Actor, err = actorIndex(colObjActor, i, oa); err != nil {
				return err
			}
			op.Obj.Counter = oc
		}

		// The key: a string for a map, else an element id.
		ka, kaOK, err := keyActor.next()
		if err != nil {
			return colError(colKeyActor, i, err)
		}
		kc, kcOK, err := keyCtr.next()
		if err != nil {
			return colError(colKeyCtr, i, err)
		}
		ks, ksOK, err := keyStr.next()
		if err != nil {
			return colError(colKeyStr, i, err)
		}
		switch {
		case ksOK && (kaOK || kcOK):
			return colError(colKeyStr, i, malformed("key is both a string and an element"))
		case ksOK:
			op.Key, op.IsKey = ks, true
		case !kcOK:
			if kaOK {
				return colError(colKeyCtr, i, malformed("element has an actor but no counter"))
			}
			return colError(colKeyStr, i, malformed("operation has no key"))
		case kc < 0:
			return colError(colKeyCtr, i, malformed("negative element counter %d", kc))
		case kc == 0 && !kaOK: // the head of the list
		case !kaOK:
			return colError(colKeyActor, i, malformed("element has a counter but no actor"))
		default:
			if op.Elem.Actor, err = actorIndex(colKeyActor, i, ka); err != nil {
				return err
			}
			op.Elem.Counter = uint64(kc)
		}

		// Automerge writes an insert flag for every operation and refuses a
		// change without one.
		ins, ended, err := insert.next()
		if err != nil {
			return colError(colInsert, i, err)
		}
		if ended {
			return colError(colInsert, i, malformed("no insert flag"))
		}
		op.Insert = ins
		a, aOK, err := action.next()
		if err != nil || !aOK { // checked by countOps
			return colError(colAction, i, malformed("no action"))
		}
		op.Action = Action(a)
		if op.Value, err = vals.next(); err != nil {
			return colError(colValMeta, i, err)
		}
		if op.Action == Inc && op.Value.Kind != Int && op.Value.Kind != Uint {
			return colError(colValMeta, i, malformed("increment by a %s value", op.Value.Kind))
		}

		np, npOK, err := predGroup.next()
		if err != nil {
			return colError(colPredGroup, i, err)
		}
		if !npOK {
			return colError(colPredGroup, i, malformed("no predecessor count"))
		}
		if np > uint64(p.lim.MaxOps-p.preds) {
			return colError(colPredGroup, i, overLimit("more than the limit of %d predecessors", p.lim.MaxOps))
		}
		p.preds += int(np)
		start := len(preds)
		for range np {
			pa, paOK, err := predActor.next()
			if err != nil {
				return colError(colPredActor, i, err)
			}
			pc, pcOK, err := predCtr.next()
			if err != nil {
				return colError(colPredCtr, i, err)
			}
			if !paOK || !pcOK {
				return colError(colPredActor, i, malformed("predecessor %d missing", len(preds)-start))
			}
			if pc < 0 {
				return colError(colPredCtr, i, malformed("negative predecessor counter %d", pc))
			}
			ai, err := actorIndex(colPredActor, i, pa)
			if err != nil {
				return err
			}
			preds = append(preds, OpID{Counter: uint64(pc), Actor: ai})
		}
		if np > 0 {
			op.Pred = preds[start:len(preds):len(preds)]
		}

		if op.Expand, _, err = expand.next(); err != nil {
			return colError(colExpand, i, err)
		}
		if op.MarkName, _, err = markName.next(); err != nil {
			return colError(colMarkName, i, err)
		}
	}
	return nil
}
