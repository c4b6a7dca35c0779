package amwire_test

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
)

// Actor ids of the test documents, and the names ops are described with.
const (
	actorA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	actorB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

var actorNames = map[string]string{actorA: "A", actorB: "B"}

func newDoc(t testing.TB, actor string) *automerge.Doc {
	t.Helper()
	d := automerge.New()
	if err := d.SetActorID(actor); err != nil {
		t.Fatal(err)
	}
	return d
}

// commit commits d at the given Unix time in milliseconds and returns the
// new change.
func commit(t testing.TB, d *automerge.Doc, msg string, ms int64) *automerge.Change {
	t.Helper()
	at := time.UnixMilli(ms)
	h, err := d.Commit(msg, automerge.CommitOptions{Time: &at})
	if err != nil {
		t.Fatalf("commit %q: %v", msg, err)
	}
	ch, err := d.Change(h)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// parse parses ch's saved bytes and checks what both parsers report.
func parse(t testing.TB, ch *automerge.Change) *amwire.Change {
	t.Helper()
	c, err := amwire.ParseChange(ch.Save(), amwire.Limits{})
	if err != nil {
		t.Fatalf("ParseChange: %v", err)
	}
	checkMeta(t, c, ch)
	return c
}

// checkMeta compares c with what automerge-go reports for the same change.
func checkMeta(t testing.TB, c *amwire.Change, ch *automerge.Change) {
	t.Helper()
	if c.Hash != amwire.Hash(ch.Hash()) || c.Hash.String() != ch.Hash().String() {
		t.Errorf("Hash = %s, automerge-go says %s", c.Hash, ch.Hash())
	}
	if c.ActorHex() != ch.ActorID() {
		t.Errorf("ActorHex = %s, automerge-go says %s", c.ActorHex(), ch.ActorID())
	}
	if !bytes.Equal(c.Actors[0], c.Actor) {
		t.Errorf("Actors[0] = %x, Actor = %x", c.Actors[0], c.Actor)
	}
	if c.Seq != ch.ActorSeq() {
		t.Errorf("Seq = %d, automerge-go says %d", c.Seq, ch.ActorSeq())
	}
	if c.Message != ch.Message() {
		t.Errorf("Message = %q, automerge-go says %q", c.Message, ch.Message())
	}
	if !time.UnixMilli(c.Time).Equal(ch.Timestamp()) {
		t.Errorf("Time = %d, automerge-go says %v", c.Time, ch.Timestamp())
	}
	deps := ch.Dependencies()
	if len(c.Deps) != len(deps) {
		t.Fatalf("%d deps, automerge-go says %d", len(c.Deps), len(deps))
	}
	for i := range deps {
		if c.Deps[i] != amwire.Hash(deps[i]) {
			t.Errorf("Deps[%d] = %s, automerge-go says %s", i, c.Deps[i], deps[i])
		}
	}
}

// gid is an operation id independent of the change it appears in.
type gid struct {
	ctr   uint64
	actor string
}

func global(c *amwire.Change, id amwire.OpID) gid {
	return gid{id.Counter, hex.EncodeToString(c.Actors[id.Actor])}
}

func (g gid) String() string {
	if g.ctr == 0 {
		return "root"
	}
	name := actorNames[g.actor]
	if name == "" {
		name = g.actor
	}
	return fmt.Sprintf("%d@%s", g.ctr, name)
}

// describe renders op in a compact form for comparing with expectations:
// "Set root.name = \"x\"", "Set 4@A[2@A] insert = \"h\"", "Del root.age pred 2@A".
func describe(c *amwire.Change, op amwire.Op) string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s %s", op.Action, global(c, op.Obj))
	if op.IsKey {
		fmt.Fprintf(&s, ".%s", op.Key)
	} else if op.Elem.Counter == 0 {
		s.WriteString("[head]")
	} else {
		fmt.Fprintf(&s, "[%s]", global(c, op.Elem))
	}
	if op.Insert {
		s.WriteString(" insert")
	}
	if op.Action == amwire.Set || op.Action == amwire.Inc {
		fmt.Fprintf(&s, " = %s", op.Value)
	}
	if len(op.Pred) > 0 {
		s.WriteString(" pred")
		for _, p := range op.Pred {
			fmt.Fprintf(&s, " %s", global(c, p))
		}
	}
	return s.String()
}

func describeAll(c *amwire.Change) []string {
	out := make([]string, len(c.Ops))
	for i, op := range c.Ops {
		out[i] = describe(c, op)
	}
	return out
}

// ---- Building chunks by hand, for tampered input ----

// chunk frames body as a chunk of the given type with a correct checksum
// (for a deflated change, the checksum of its inflated form).
func chunk(typ byte, body []byte) []byte {
	sumBody := body
	if typ == 2 {
		sumBody = inflate(body)
	}
	h := sha256.Sum256(append(uleb([]byte{1}, uint64(len(sumBody))), sumBody...))
	if typ != 2 {
		h = sha256.Sum256(append(uleb([]byte{typ}, uint64(len(body))), body...))
	}
	out := []byte{0x85, 0x6f, 0x4a, 0x83, h[0], h[1], h[2], h[3], typ}
	out = uleb(out, uint64(len(body)))
	return append(out, body...)
}

// deflateChange turns a change chunk into the deflated chunk Automerge
// writes for it: type 2, the same checksum, the body deflated.
func deflateChange(t testing.TB, b []byte) []byte {
	t.Helper()
	if b[8] != 1 {
		t.Fatalf("not a change chunk: type %d", b[8])
	}
	r := 9
	n := uint64(0)
	for shift := 0; ; shift += 7 {
		n |= uint64(b[r]&0x7f) << shift
		r++
		if b[r-1]&0x80 == 0 {
			break
		}
	}
	body := deflate(b[r : r+int(n)])
	out := append([]byte{}, b[:8]...)
	out = append(out, 2)
	out = uleb(out, uint64(len(body)))
	return append(out, body...)
}

func deflate(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func inflate(b []byte) []byte {
	var buf bytes.Buffer
	buf.ReadFrom(flate.NewReader(bytes.NewReader(b)))
	return buf.Bytes()
}

func uleb(b []byte, n uint64) []byte {
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

func sleb(b []byte, n int64) []byte {
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if (n == 0 && c&0x40 == 0) || (n == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// col is one column of a hand-built change.
type col struct {
	spec uint64
	data []byte
}

// change is the header of a hand-built change.
type change struct {
	deps    int // number of zero hashes
	depsN   uint64
	actor   []byte
	others  [][]byte
	othersN uint64 // when set, the written count of other actors
	startOp uint64
	cols    []col
	colsN   uint64 // when set, the written count of columns
}

func (c change) body() []byte {
	b := uleb(nil, max(c.depsN, uint64(c.deps)))
	b = append(b, make([]byte, 32*c.deps)...)
	actor := c.actor
	if actor == nil {
		actor = []byte{0xaa, 0xaa}
	}
	b = uleb(b, uint64(len(actor)))
	b = append(b, actor...)
	b = uleb(b, 1) // seq
	b = uleb(b, max(c.startOp, 1))
	b = sleb(b, 1700000000000)
	b = uleb(b, 0) // message
	b = uleb(b, max(c.othersN, uint64(len(c.others))))
	for _, o := range c.others {
		b = uleb(b, uint64(len(o)))
		b = append(b, o...)
	}
	b = uleb(b, max(c.colsN, uint64(len(c.cols))))
	for _, cl := range c.cols {
		b = uleb(b, cl.spec)
		b = uleb(b, uint64(len(cl.data)))
	}
	for _, cl := range c.cols {
		b = append(b, cl.data...)
	}
	return b
}

func (c change) chunk() []byte { return chunk(1, c.body()) }

// Column specifications, as Automerge numbers them.
const (
	specObjActor  = 0<<4 | 1
	specObjCtr    = 0<<4 | 2
	specKeyActor  = 1<<4 | 1
	specKeyCtr    = 1<<4 | 3
	specKeyStr    = 1<<4 | 5
	specInsert    = 3<<4 | 4
	specAction    = 4<<4 | 2
	specValMeta   = 5<<4 | 6
	specValRaw    = 5<<4 | 7
	specPredGroup = 7<<4 | 0
	specPredActor = 7<<4 | 1
	specPredCtr   = 7<<4 | 3
)

// rle encodes values as one literal run (or nothing for no values).
func rleLiteral(vals ...uint64) []byte {
	if len(vals) == 0 {
		return nil
	}
	b := sleb(nil, -int64(len(vals)))
	for _, v := range vals {
		b = uleb(b, v)
	}
	return b
}

// rleRun encodes one run of n copies of v.
func rleRun(n int64, v uint64) []byte { return uleb(sleb(nil, n), v) }

// rleStrings encodes strings as one literal run.
func rleStrings(vals ...string) []byte {
	b := sleb(nil, -int64(len(vals)))
	for _, v := range vals {
		b = uleb(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// setKeys returns the columns of ops that set root map keys to string
// values.
func setKeys(kv ...string) []col {
	var keys, vals []string
	var meta []uint64
	var raw []byte
	for i := 0; i < len(kv); i += 2 {
		keys = append(keys, kv[i])
		vals = append(vals, kv[i+1])
		meta = append(meta, uint64(len(kv[i+1]))<<4|6)
		raw = append(raw, kv[i+1]...)
	}
	n := int64(len(keys))
	return []col{
		{specKeyStr, rleStrings(keys...)},
		{specInsert, uleb(nil, uint64(n))},
		{specAction, rleRun(n, 1)},
		{specValMeta, rleLiteral(meta...)},
		{specValRaw, raw},
		{specPredGroup, rleRun(n, 0)},
	}
}
