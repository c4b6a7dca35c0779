package crdt

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
)

// Write rules, checked on receipt.
//
// A signature says which device made a change, not whether that device's
// person may make it: a modified client can sign, with its own key, a
// change that agrees to a boundary in the other person's name. So every
// signed change received from a peer is read operation by operation
// (internal/amwire), each operation is placed in the document (objindex.go),
// and the change is refused when its author's member writes what only the
// other may write. docs/DESIGN.md, "Who may write what", has the table.
// Unsigned changes from before signing, accepted under a seal, are not
// checked: they were accepted as they were before.

// memberKeyed are the maps keyed by member ID: each member writes only
// their own key.
var memberKeyed = map[string]string{
	"agree": "agreement", "agree_at": "agreement",
	"acks": "acknowledgement", "ack_at": "acknowledgement",
	"felt": "feeling", "felt_at": "feeling",
	"answer": "answer", "answer_at": "answer",
	"key": "answer key", "key_at": "answer key",
}

// creatorFields name an item's author: set once, by the change that
// creates the item, to its author's member.
var creatorFields = map[string]bool{
	"proposed_by": true, "created_by": true, "author": true, "made_by": true,
	"by": true, "added_by": true, "asked_by": true,
}

// editorFields name the member who last changed something: only ever the
// member writing (or empty).
var editorFields = map[string]bool{"updated_by": true, "done_by": true, "set_by": true}

// unitRules describe an item, or a sub-item in a container of an item.
type unitRules struct {
	what   string               // "boundary", "check-in"
	author string               // the field naming the one member who may edit it; "" when shared
	subs   map[string]unitRules // containers of sub-items, by field
}

// ruleCheck is the check of the changes of one receipt.
type ruleCheck struct {
	tx    trustsync.ReadTx
	doc   string
	root  *automerge.Map
	t     *trust
	idx   *objIndex
	names map[string]string // member ID -> name, as read
}

// changeCheck is the check of one change.
type changeCheck struct {
	*ruleCheck
	pc      *amwire.Change
	actor   string // the author device
	member  string // its member
	created map[string]bool
	founds  string // the member whose record this change founds with its own device record, if any
	inserts map[string]int
	texts   map[string][]string
}

// refusal is a write rule a change breaks, in a few words.
type refusal string

func (r *ruleCheck) name(member string) string {
	if n, ok := r.names[member]; ok {
		return n
	}
	// As this device knew the name before the change, which may rename.
	n := ""
	if r.tx != nil {
		if it, err := r.tx.Item(KindMember, member); err == nil {
			var m trustsync.Member
			if json.Unmarshal(it.Data, &m) == nil {
				n = m.Name
			}
		}
	}
	if m := getMap(r.root, "m:"+member); n == "" && m != nil && r.doc == SpaceDoc {
		n = getStr(m, "name")
	}
	if n == "" {
		n = "member " + short(member)
	}
	r.names[member] = n
	return n
}

func (r *ruleCheck) deviceName(dev string) string {
	// As this device knew it before the change, which may rename it.
	if r.tx != nil {
		if it, err := r.tx.Item(KindDevice, dev); err == nil {
			var d trustsync.Device
			if json.Unmarshal(it.Data, &d) == nil && d.Name != "" {
				return d.Name
			}
		}
	}
	if r.doc == SpaceDoc {
		if n := getStr(getMap(r.root, "d:"+dev), "name"); n != "" {
			return n
		}
	}
	return short(dev)
}

// check applies the write rules to one parsed change made by actor.
func (r *ruleCheck) check(pc *amwire.Change, actor string) error {
	if len(pc.Ops) > MaxChangeOps {
		return refusal(fmt.Sprintf("it holds %d operations, more than the %d allowed", len(pc.Ops), MaxChangeOps))
	}
	c := &changeCheck{ruleCheck: r, pc: pc, actor: actor, member: r.t.member(actor),
		created: map[string]bool{}, inserts: map[string]int{}, texts: map[string][]string{}}
	// What the change creates, and the record it founds.
	foundsDev := false
	for i := range pc.Ops {
		op := &pc.Ops[i]
		p, ok := r.idx.target(pc, op)
		if !ok {
			continue
		}
		if isMake(op.Action) && op.IsKey {
			c.created[pathKey(p)] = true
			if r.doc == SpaceDoc && len(p) == 1 && p[0] == "d:"+actor {
				foundsDev = true
			}
		}
		if r.doc == SpaceDoc && len(p) == 2 && p[0] == "d:"+actor && p[1] == "member" && op.Action == amwire.Set {
			c.founds = op.Value.Str
		}
	}
	if !foundsDev {
		c.founds = ""
	}
	for i := range pc.Ops {
		op := &pc.Ops[i]
		p, ok := r.idx.target(pc, op)
		if !ok {
			return refusal("it edits an object the document does not hold")
		}
		if err := c.limits(op, p); err != nil {
			return err
		}
		var err error
		if r.doc == SpaceDoc {
			err = c.space(op, p)
		} else {
			err = c.item(op, p)
		}
		if err != nil {
			return err
		}
	}
	return c.textLengths()
}

func (e refusal) Error() string { return string(e) }

func isMake(a amwire.Action) bool {
	return a == amwire.MakeMap || a == amwire.MakeList || a == amwire.MakeText || a == amwire.MakeTable
}

// limits checks the size of what one operation writes.
func (c *changeCheck) limits(op *amwire.Op, p []string) error {
	if !op.IsKey && op.Insert {
		k := pathKey(p)
		c.inserts[k]++
		c.texts[k] = p
	}
	if op.Action != amwire.Set || op.Value.Kind != amwire.String {
		return nil
	}
	max, what := valueLimit(p, op.IsKey)
	if len(p) >= 3 && p[len(p)-2] == "agree" && op.Value.Str == getStr(getMap(c.root, p[:len(p)-2]...), "text") {
		// An agreement to the exact current words, which may be older
		// than the length limits.
		return nil
	}
	if n := valueLen(op.Value.Str, max, what); n > max {
		return refusal(fmt.Sprintf("it writes %d %s into %s, more than the %d allowed", n, units(what), fieldWord(p), max))
	}
	return nil
}

// textLengths checks each text the change inserted into: the characters
// it inserted, and the text's length now.
func (c *changeCheck) textLengths() error {
	for k, n := range c.inserts {
		p := c.texts[k]
		max, _ := valueLimit(p, true)
		if n > max {
			return refusal(fmt.Sprintf("it inserts %d characters into %s, more than the %d allowed", n, fieldWord(p), max))
		}
		if len(p) == 0 {
			continue
		}
		m := getMap(c.root, p[:len(p)-1]...)
		if s := getStr(m, p[len(p)-1]); len(s) > max {
			if n := utf8.RuneCountInString(s); n > max {
				return refusal(fmt.Sprintf("it makes %s %d characters long, more than the %d allowed", fieldWord(p), n, max))
			}
		}
	}
	return nil
}

// valueLimit returns the longest value a field may hold, and whether it
// counts characters ("chars") or bytes.
func valueLimit(p []string, isKey bool) (int, string) {
	f := ""
	switch {
	case len(p) >= 2 && memberKeyed[p[len(p)-2]] != "":
		f = p[len(p)-2] // a member's value in a member-keyed map
	case len(p) >= 1:
		f = p[len(p)-1]
	}
	switch f {
	case "name":
		return MaxNameLen, "chars"
	case "title":
		return MaxTitleLen, "chars"
	case "text", "why", "agree":
		return MaxTextLen, "chars"
	case "note", "needs", "concerns", "appreciation", "happened", "impact", "responsibility", "different",
		"acks", "felt":
		return MaxNoteLen, "chars"
	}
	return MaxValueBytes, "bytes"
}

func valueLen(s string, max int, what string) int {
	if what == "bytes" || len(s) <= max {
		return len(s)
	}
	return utf8.RuneCountInString(s)
}

func units(what string) string {
	if what == "bytes" {
		return "bytes"
	}
	return "characters"
}

func fieldWord(p []string) string {
	if len(p) == 0 {
		return "the document"
	}
	return quote(p[len(p)-1])
}

// space checks an operation on the space document.
func (c *changeCheck) space(op *amwire.Op, p []string) error {
	if len(p) == 0 {
		return nil
	}
	key := p[0]
	switch {
	case strings.HasPrefix(key, "m:"):
		x := strings.TrimPrefix(key, "m:")
		if x == c.member || x == c.founds {
			if len(p) == 1 && op.Action != amwire.Del && c.replaces(op, p) {
				return refusal(fmt.Sprintf("it replaces the record of %s", c.name(x)))
			}
			return nil
		}
		if len(p) == 1 && op.Action == amwire.Del {
			devs, err := devicesOf(c.root, x)
			if err == nil && len(devs) == 0 {
				return nil // the handover of a device: its first member goes
			}
			return refusal(fmt.Sprintf("it deletes the record of %s, who still has a device", c.name(x)))
		}
		return refusal(fmt.Sprintf("it writes the member record of %s", c.name(x)))
	case strings.HasPrefix(key, sealPrefix):
		if strings.TrimPrefix(key, sealPrefix) != c.actor {
			return refusal(fmt.Sprintf("it writes the seal of device %s", c.deviceName(strings.TrimPrefix(key, sealPrefix))))
		}
		return nil
	case strings.HasPrefix(key, "d:"):
		return c.device(op, p, strings.TrimPrefix(key, "d:"))
	case strings.HasPrefix(key, relayPrefix):
		return c.relay(op, p)
	}
	return nil
}

// deviceMember returns the member a device belongs to: as trust knows it,
// else as this device's view of its record said before the change, else
// (a record new to this device) as the record says.
func (c *changeCheck) deviceMember(dev string) string {
	if m := c.t.member(dev); m != "" {
		return m
	}
	if c.tx != nil {
		if it, err := c.tx.Item(KindDevice, dev); err == nil {
			var d trustsync.Device
			if json.Unmarshal(it.Data, &d) == nil && d.Owner.ID != "" {
				return d.Owner.ID
			}
		}
	}
	return getStr(getMap(c.root, "d:"+dev), "member")
}

// device checks an operation on the record of device d.
func (c *changeCheck) device(op *amwire.Op, p []string, d string) error {
	own := d == c.actor
	same := own || (c.member != "" && c.deviceMember(d) == c.member)
	if len(p) == 1 {
		if op.Action != amwire.Del && c.replaces(op, p) {
			return refusal(fmt.Sprintf("it replaces the record of device %s", c.deviceName(d)))
		}
		if same {
			return nil
		}
		return refusal(fmt.Sprintf("it writes device %s's record", c.deviceName(d)))
	}
	f := p[1]
	str := op.Action == amwire.Set && op.Value.Kind == amwire.String
	switch {
	case strings.HasPrefix(f, certPrefix):
		if strings.TrimPrefix(f, certPrefix) != c.actor {
			return refusal(fmt.Sprintf("it writes a certificate in device %s's name", c.deviceName(strings.TrimPrefix(f, certPrefix))))
		}
		return nil
	case f == "removed" || f == "removed_at" || f == "paired_at":
		return nil
	case f == "removed_by" || f == "paired_by":
		if str && (op.Value.Str == c.actor || (f == "removed_by" && op.Value.Str == "")) {
			return nil
		}
		return refusal(fmt.Sprintf("it records device %s as having %s device %s",
			c.deviceName(op.Value.Str), map[string]string{"removed_by": "unpaired", "paired_by": "paired"}[f], c.deviceName(d)))
	case own || same:
		return nil
	case f == "peer_id" && str:
		// A pairing records the key it met the device with; only that
		// key counts.
		if k, ok := c.t.devices[d]; ok && op.Value.Str == PeerIDOf(k.Key) {
			return nil
		}
	}
	return refusal(fmt.Sprintf("it writes device %s's record", c.deviceName(d)))
}

// replaces reports whether a Make operation at path p takes the place of
// an object or value already there, or of another object created there.
func (c *changeCheck) replaces(op *amwire.Op, p []string) bool {
	if !isMake(op.Action) {
		return op.Action == amwire.Set && len(op.Pred) > 0
	}
	if len(op.Pred) > 0 {
		return true
	}
	return len(c.idx.made[pathKey(p)]) > 1
}

// item checks an operation on a document of items.
func (c *changeCheck) item(op *amwire.Op, p []string) error {
	rules, ok := docRules(c.doc)
	if !ok || len(p) == 0 {
		return nil
	}
	if isMetaKey(p[0]) {
		if len(p) == 1 {
			return nil
		}
		return refusal("it writes inside the document's schema fields")
	}
	unit := p[:1]
	rest := p[1:]
	for {
		if len(rest) == 0 {
			// The unit itself: created, never replaced or deleted.
			if isMake(op.Action) && !c.replaces(op, unit) {
				return nil
			}
			if op.Action == amwire.Del {
				return refusal(fmt.Sprintf("it deletes a %s", rules.what))
			}
			return refusal(fmt.Sprintf("it replaces a %s", rules.what))
		}
		sub, isContainer := rules.subs[rest[0]]
		if !isContainer || len(rest) < 2 {
			break
		}
		// Inside a container of sub-items: each sub-item has its own rules.
		rules, unit, rest = sub, p[:len(unit)+2], rest[2:]
	}
	f := rest[0]
	m := getMap(c.root, unit...)
	if sub, isContainer := rules.subs[f]; isContainer && len(rest) == 1 {
		if isMake(op.Action) && !c.replaces(op, p) {
			return nil // with its item, or when a foreign client left it out
		}
		return refusal(fmt.Sprintf("it replaces every %s of a %s", sub.what, rules.what))
	}
	if what := memberKeyed[f]; what != "" {
		if len(rest) == 1 {
			if isMake(op.Action) && !c.replaces(op, p) {
				return nil // the map, with its item or when a foreign client left it out
			}
			return refusal(fmt.Sprintf("it replaces every %s on a %s", what, rules.what))
		}
		if rest[1] != c.member {
			return refusal(fmt.Sprintf("%s written in %s's name", what, c.name(rest[1])))
		}
		return nil
	}
	if creatorFields[f] && len(rest) == 1 {
		if !c.created[pathKey(unit)] || op.Action != amwire.Set {
			return refusal(fmt.Sprintf("it changes the author of a %s", rules.what))
		}
		if op.Value.Kind != amwire.String || op.Value.Str != c.member {
			return refusal(fmt.Sprintf("it makes %s the author of a %s", c.nameOf(op.Value), rules.what))
		}
		return nil
	}
	if editorFields[f] && len(rest) == 1 {
		if op.Action == amwire.Set && op.Value.Kind == amwire.String && (op.Value.Str == c.member || op.Value.Str == "") {
			return nil
		}
		return refusal(fmt.Sprintf("it records %s as having changed a %s", c.nameOf(op.Value), rules.what))
	}
	if rules.author != "" {
		if a := getStr(m, rules.author); a != c.member {
			if c.created[pathKey(unit)] && a != "" {
				return refusal(fmt.Sprintf("it makes %s the author of a %s", c.name(a), rules.what))
			}
			who := "someone else"
			if a != "" {
				who = c.name(a)
			}
			return refusal(fmt.Sprintf("it edits %s's %s", who, rules.what))
		}
	}
	return nil
}

func (c *changeCheck) nameOf(v amwire.Value) string {
	if v.Kind != amwire.String || v.Str == "" {
		return "someone else"
	}
	return c.name(v.Str)
}

// checkWrites applies the write rules and the receipt limits to the
// signed changes among chs, received in ds.doc; legacy lists the changes
// accepted as sealed history, which are not checked. It returns what the
// receiver records of each change (receipt.go).
func (s *Space) checkWrites(tx trustsync.ReadTx, ds *docState, t *trust, chs []*automerge.Change, legacy map[automerge.ChangeHash]bool) (*receipt, error) {
	if len(chs) > MaxReceivedChanges {
		return nil, &RefusedChangeError{Doc: ds.id, Change: chs[0].Hash().String(), Author: chs[0].ActorID(),
			Reason: fmt.Sprintf("it came with %d changes at once, more than the %d allowed", len(chs), MaxReceivedChanges)}
	}
	idx, err := objIndexOf(ds)
	if err != nil {
		return nil, err
	}
	r := &ruleCheck{tx: tx, doc: ds.id, root: ds.doc.RootMap(), t: t, idx: idx, names: map[string]string{}}
	rc := &receipt{idx: idx}
	for _, ch := range chs {
		h := ch.Hash()
		refuse := func(why string) error {
			return &RefusedChangeError{Doc: ds.id, Change: h.String(), Author: ch.ActorID(), Reason: why}
		}
		pc := idx.parsed[h]
		if pc == nil {
			var perr error
			if pc, perr = amwire.ParseChange(ch.Save(), ruleParseLimits); perr != nil {
				if legacy[h] {
					rc.add(ds.id, ch, nil, nil)
					continue
				}
				if errors.Is(perr, amwire.ErrLimit) {
					return nil, refuse(fmt.Sprintf("it is larger than a change may be (%v)", perr))
				}
				return nil, refuse(fmt.Sprintf("its operations cannot be read (%v)", perr))
			}
		}
		if !legacy[h] {
			if err := r.check(pc, ch.ActorID()); err != nil {
				var why refusal
				if errors.As(err, &why) {
					return nil, refuse(string(why))
				}
				return nil, err
			}
		}
		rc.add(ds.id, ch, pc, idx)
	}
	if len(idx.paths) > MaxDocObjects {
		last := chs[len(chs)-1]
		return nil, &RefusedChangeError{Doc: ds.id, Change: last.Hash().String(), Author: last.ActorID(),
			Reason: fmt.Sprintf("the document would hold %d objects, more than the %d allowed", len(idx.paths), MaxDocObjects)}
	}
	idx.parsed = nil
	return rc, nil
}
