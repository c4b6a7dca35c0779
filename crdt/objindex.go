package crdt

import (
	"fmt"
	"strings"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
)

// The object index of a document: where in the document each Automerge
// object lives. An operation names the object it edits only by the ID of
// the operation that created it; the write rules (rules.go) need its
// place: the root key (an item ID, or a record "m:<id>", "d:<id>",
// "seal:<id>"), then the field, then any sub-key. The index is built once
// per loaded document from all its changes and extended with the changes
// that arrive later, so a received message costs the parse of its own
// changes plus those written here since the last receipt.

// objID names an object by the operation that made it: the raw actor
// bytes and the counter.
type objID struct {
	actor string
	ctr   uint64
}

// objIndex maps each object of a document to its path from the root.
type objIndex struct {
	gen   uint64                 // the docState generation it was built for
	heads []automerge.ChangeHash // the changes it covers: these and their ancestors
	paths map[objID][]string
	// made lists, per path (joined with "\x00"), the objects created
	// there: more than one means two maps were created under one key.
	made map[string][]objID
	// at is each change's effective time in Unix milliseconds: its own,
	// or its latest dependency's when that is later (history.go).
	at map[automerge.ChangeHash]int64
	// parsed keeps the parse of the changes indexed by the last extend
	// that are not yet checked, for verifyReceived to reuse.
	parsed map[automerge.ChangeHash]*amwire.Change
}

// ruleParseLimits bounds the parse of one stored or received change.
var ruleParseLimits = amwire.Limits{MaxOps: MaxChangeOps + 1, MaxChanges: 1}

func pathKey(p []string) string { return strings.Join(p, "\x00") }

// objIndexOf returns ds's object index, brought up to date with every
// change of ds.doc. ds.mu must be held. The index is cached on ds and
// rebuilt whenever the document was reloaded or dropped.
func objIndexOf(ds *docState) (*objIndex, error) {
	idx := ds.objs
	if idx == nil || idx.gen != ds.gen {
		idx = &objIndex{gen: ds.gen, paths: map[objID][]string{}, made: map[string][]objID{},
			at: map[automerge.ChangeHash]int64{}}
		ds.objs = nil
	}
	chs, err := ds.doc.Changes(idx.heads...)
	if err != nil {
		return nil, fmt.Errorf("index the objects of %q: %w", ds.id, err)
	}
	idx.parsed = make(map[automerge.ChangeHash]*amwire.Change, len(chs))
	for _, c := range chs {
		pc, err := amwire.ParseChange(c.Save(), ruleParseLimits)
		if err != nil {
			// Kept out of the index; verifyReceived refuses such a
			// change when it is a received one.
			idx.at[c.Hash()] = changeTime(c).UnixMilli()
			continue
		}
		idx.parsed[c.Hash()] = pc
		idx.add(pc)
	}
	if len(idx.paths) > MaxDocObjects {
		ds.objs = nil
		return idx, nil
	}
	idx.heads = ds.doc.Heads()
	ds.objs = idx
	return idx, nil
}

// add indexes the objects one change creates and its effective time.
func (idx *objIndex) add(pc *amwire.Change) {
	at := rawChangeTime(pc.Time).UnixMilli()
	if pc.Time == 0 {
		at = 0
	}
	for _, d := range pc.Deps {
		if t := idx.at[automerge.ChangeHash(d)]; t > at {
			at = t
		}
	}
	idx.at[automerge.ChangeHash(pc.Hash)] = at
	for i := range pc.Ops {
		op := &pc.Ops[i]
		switch op.Action {
		case amwire.MakeMap, amwire.MakeList, amwire.MakeText, amwire.MakeTable:
		default:
			continue
		}
		p, ok := idx.target(pc, op)
		if !ok {
			continue
		}
		id := idx.id(pc, op.ID)
		idx.paths[id] = p
		k := pathKey(p)
		idx.made[k] = append(idx.made[k], id)
	}
}

// id turns an operation ID of pc into an objID.
func (idx *objIndex) id(pc *amwire.Change, o amwire.OpID) objID {
	if o.Actor < 0 || o.Actor >= len(pc.Actors) {
		return objID{ctr: o.Counter}
	}
	return objID{actor: string(pc.Actors[o.Actor]), ctr: o.Counter}
}

// obj returns the path of the object an operation of pc edits; false when
// the index does not know it.
func (idx *objIndex) obj(pc *amwire.Change, o amwire.OpID) ([]string, bool) {
	if o.IsRoot() {
		return nil, true
	}
	p, ok := idx.paths[idx.id(pc, o)]
	return p, ok
}

// target returns the path an operation writes: its object's path and the
// map key, or, for a list or text element, the object's own path (an edit
// of a text resolves to its field).
func (idx *objIndex) target(pc *amwire.Change, op *amwire.Op) ([]string, bool) {
	p, ok := idx.obj(pc, op.Obj)
	if !ok {
		return nil, false
	}
	if !op.IsKey {
		return p, true
	}
	out := make([]string, len(p)+1)
	copy(out, p)
	out[len(p)] = op.Key
	return out, true
}
