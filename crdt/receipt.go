package crdt

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
)

// What the receiver records of a received change is read from the change's
// operations, not taken from its message: the message is the sender's
// word, and a modified client can edit one boundary under a message that
// names another. A history entry keeps the sender's message only when it
// names an item the operations touched (with its kind); otherwise it says
// neutrally what was touched ("changed the boundary abcd1234"). Its time
// is the sender's, unless that is earlier than a change it depends on
// (the sender's clock, or its word, cannot put a change before what it
// follows): then it is the latest of those, and the entry says so. The
// view rows refreshed are those of the items the operations touched.

// receipt is what absorb records of the changes of one receipt.
type receipt struct {
	idx     *objIndex
	entries []trustsync.HistoryEntry
	refs    map[ItemRef]bool
	whole   bool // a change could not be read: refresh every row
}

// touched is an item an operation edits: the view item (top) and, for a
// step or a commitment entry, the sub-item.
type touched struct {
	top ItemRef
	sub ItemRef
}

// touchedBy returns the items the operations of pc touch, in order, each
// once.
func touchedBy(doc string, pc *amwire.Change, idx *objIndex) []touched {
	var out []touched
	seen := map[touched]bool{}
	for i := range pc.Ops {
		p, ok := idx.target(pc, &pc.Ops[i])
		if !ok || len(p) == 0 {
			continue
		}
		top, ok := refOfKey(doc, p[0])
		if !ok {
			continue
		}
		t := touched{top: top}
		if sub, ok := heldRef(doc, p); ok {
			t.sub = sub
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// add records one change: pc is its parse, nil when it could not be read
// (a sealed change from before signing), and then its message is kept and
// every view row refreshed.
func (rc *receipt) add(doc string, ch *automerge.Change, pc *amwire.Change, idx *objIndex) {
	if rc.refs == nil {
		rc.refs = map[ItemRef]bool{}
	}
	e := trustsync.HistoryEntry{Hash: ch.Hash().String(), Doc: doc, Actor: ch.ActorID(), At: changeTime(ch), Message: ch.Message()}
	if pc == nil {
		rc.whole = true
		rc.entries = append(rc.entries, e)
		return
	}
	ts := touchedBy(doc, pc, idx)
	for _, t := range ts {
		rc.refs[t.top] = true
	}
	var m changeMsg
	kept := json.Unmarshal([]byte(e.Message), &m) == nil && m.A != "" && namesTouched(doc, m, ts)
	if !kept {
		m = neutralMsg(doc, ts)
	}
	if at := idx.at[ch.Hash()]; at > e.At.UnixMilli() {
		e.At = time.UnixMilli(at).UTC()
		m.S += " (dated by its device before a change it follows; shown at that change's time)"
		kept = false
	}
	if !kept {
		if b, err := json.Marshal(m); err == nil {
			e.Message = string(b)
		}
	}
	rc.entries = append(rc.entries, e)
}

// namesTouched reports whether a change message names, with its kind, an
// item the operations touched.
func namesTouched(doc string, m changeMsg, ts []touched) bool {
	if doc == SpaceDoc && m.K == "space" && m.I == "" {
		return true // the space as a whole: its creation, a seal
	}
	for _, t := range ts {
		if (t.top.Kind == m.K && t.top.ID == m.I && m.G == "") ||
			(t.sub.Kind == m.K && t.sub.ID == m.I && (m.G == "" || m.G == t.top.ID)) {
			return true
		}
	}
	return false
}

// neutralMsg says what a change touched, in the receiver's words.
func neutralMsg(doc string, ts []touched) changeMsg {
	if len(ts) == 0 {
		return changeMsg{A: "change", K: docKind(doc), S: "changed " + docKind(doc)}
	}
	t := ts[0]
	m := changeMsg{A: "change", K: t.top.Kind, I: t.top.ID}
	if t.sub.ID != "" {
		m.K, m.I, m.G = t.sub.Kind, t.sub.ID, t.top.ID
	}
	m.S = fmt.Sprintf("changed the %s %s", strings.ReplaceAll(kindName(m.K), "_", " "), short(m.I))
	if n := len(ts) - 1; n > 0 {
		m.S += fmt.Sprintf(" and %d more", n)
	}
	return m
}

// list returns the view items to refresh, or every item of the document
// when a change could not be read.
func (rc *receipt) list(doc string, root *automerge.Map) ([]ItemRef, error) {
	if rc.whole || doc == SpaceDoc {
		return allRefs(doc, root)
	}
	out := make([]ItemRef, 0, len(rc.refs))
	for r := range rc.refs {
		out = append(out, r)
	}
	sortRefs(out)
	return out, nil
}
