package crdt

// The kinds of items a space holds, in one table. Everything that depends
// on a kind -- which documents a peer may send, the view rows, which items a
// received change touched, the write rules checked on receipt, the words of
// sync reports and history lines, the sections of an export and the table
// in docs/KINDS.md -- reads its row here. Adding a kind is one file (its
// type, edits, listing and fromDoc function) and one row; kinds_test.go
// fails until every derived piece exists. CONTRIBUTING.md has the checklist.

import (
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// Document IDs. Check-ins are split into one document per calendar month
// (UTC) of their creation: CheckInDoc(t).
const (
	SpaceDoc      = "space"      // members, devices, settings
	BoundariesDoc = "boundaries" // every boundary
	GoalsDoc      = "goals"      // every goal and its steps

	// The practices of rebuilding trust.
	CommitmentsDoc = "commitments" // every commitment and its kept or missed entries
	ApologiesDoc   = "apologies"   // every apology
	SetbacksDoc    = "setbacks"    // every setback, its feelings and plans
	RhythmDoc      = "rhythm"      // the check-in cadence and its agreements
	QuestionsDoc   = "questions"   // questions answered together, answers sealed
	MomentsDoc     = "moments"     // good moments and thanks

	// checkInsPrefix starts the name of every month's check-in document.
	checkInsPrefix = "checkins/"
)

// Item kinds as stored in the materialized view and named in history
// entries. [Kinds] describes each.
const (
	KindMember   = "member"
	KindDevice   = "device"
	KindBoundary = "boundary"
	KindGoal     = "goal"
	KindStep     = "step"
	KindCheckIn  = "checkin"

	KindCommitment      = "commitment"
	KindCommitmentEntry = "commitment_entry" // a kept or missed entry; its row names its commitment
	KindApology         = "apology"
	KindSetback         = "setback"
	KindRhythm          = "rhythm"
	KindQuestion        = "question"
	KindMoment          = "moment"
)

// Kind describes one kind of item: the document that holds it, what people
// call it, and where an export puts it. [Kinds] lists every kind.
type Kind struct {
	// Name is the kind as stored in the view and in history entries
	// (KindBoundary, ...).
	Name string
	// Doc is the document that holds the items. For check-ins it is
	// "checkins/": one document per month, "checkins/YYYY-MM" ([CheckInDoc]).
	Doc string
	// Parent is the kind these items belong to and are exported with (a
	// step with its goal, a kept-or-missed entry with its commitment, a
	// device with its member); "" for a kind of its own. A held item
	// without root keys of its own (a step, an entry) lives inside its
	// parent's item, and a change to it touches its parent's view row.
	Parent string
	// One and Many name one item and several, as in "1 apology" and
	// "2 apologies" in sync reports, and "apology 3f2a91c0: ..." in history
	// lines.
	One, Many string
	// Plumbing marks the kinds that make pairing and syncing work -- members
	// and devices -- rather than what the couple wrote: sync reports sum
	// them up as "changes to the devices", and a markdown export, read by
	// the couple or a counsellor, leaves their changes out of its history.
	Plumbing bool
	// Export is the key under which 'trustsync export --format json' lists
	// the items, and Section the heading of their part of the markdown
	// export. Both are "" for a kind exported inside its parent.
	Export, Section string
	// About is what the items are, in one line: the kind's row in
	// docs/KINDS.md.
	About string

	// field is, for a kind held inside its parent's item, the parent's
	// field that holds the items, keyed by ID ("steps").
	field string
	// key returns the item a root key of Doc holds; nil when every root
	// key but the schema fields is an item.
	key func(key string) (id string, ok bool)
	// put writes the view rows of the item id from its document with put;
	// nil for a held kind, whose rows its parent writes.
	put func(put putRow, root *automerge.Map, id string) error
	// rules are the write rules of the items, checked on receipt (rules.go).
	// Members and devices, in the space document, have their own checks.
	rules *unitRules
}

// putRow stores one view row: the value v of the item id of kind.
type putRow func(kind, id string, v any) error

// Count says n items of the kind in words: "1 apology", "2 apologies".
func (k Kind) Count(n int) string {
	if n == 1 {
		return "1 " + k.One
	}
	return fmt.Sprintf("%d %s", n, k.Many)
}

// Monthly reports whether the kind's items are split into one document
// per month, as check-ins are.
func (k Kind) Monthly() bool { return strings.HasSuffix(k.Doc, "/") }

// holds reports whether doc is a document of the kind.
func (k Kind) holds(doc string) bool {
	if !k.Monthly() {
		return doc == k.Doc
	}
	m, ok := strings.CutPrefix(doc, k.Doc)
	if !ok || len(m) != len("2006-01") {
		return false
	}
	_, err := time.Parse("2006-01", m)
	return err == nil
}

// kinds is the table. Its order is the order of sync reports, exports and
// docs/KINDS.md.
var kinds = []Kind{
	{
		Name: KindMember, Doc: SpaceDoc, One: "member", Many: "members", Plumbing: true,
		Export: "members",
		About:  "a partner: the name they chose, when they joined",
		key:    prefixKey("m:"),
		put:    putFrom(KindMember, memberFromDoc),
	},
	{
		Name: KindDevice, Doc: SpaceDoc, Parent: KindMember, One: "device", Many: "devices", Plumbing: true,
		About: "a device of a partner, its key and its certificates; exported with its member",
		key:   prefixKey("d:"),
		put: func(put putRow, root *automerge.Map, id string) error {
			if d, ok := deviceFromDoc(root, id); ok {
				return put(KindDevice, id, deviceRow{Device: d, Certs: recordOf(id, getMap(root, "d:"+id)).Certs})
			}
			return nil
		},
	},
	{
		Name: KindBoundary, Doc: BoundariesDoc, One: "boundary", Many: "boundaries",
		Export: "boundaries", Section: "Boundaries",
		About: "a limit or expectation, agreed when both partners agreed to its current text",
		put: func(put putRow, root *automerge.Map, id string) error {
			if b, ok := boundaryFromDoc(root, id); ok {
				return put(KindBoundary, id, boundaryRow(b))
			}
			return nil
		},
		rules: &unitRules{what: "boundary"},
	},
	{
		Name: KindGoal, Doc: GoalsDoc, One: "goal", Many: "goals",
		Export: "goals", Section: "Goals",
		About: "something to build together, with the steps that lead there",
		put: func(put putRow, root *automerge.Map, id string) error {
			g, ok := goalFromDoc(root, id)
			if !ok {
				return nil
			}
			if err := put(KindGoal, id, goalRow(g)); err != nil {
				return err
			}
			for _, st := range g.Steps {
				if err := put(KindStep, st.ID, stepView{Goal: g.ID}); err != nil {
					return err
				}
			}
			return nil
		},
		rules: &unitRules{what: "goal", subs: map[string]unitRules{"steps": {what: "step"}}},
	},
	{
		Name: KindStep, Doc: GoalsDoc, Parent: KindGoal, field: "steps", One: "goal step", Many: "goal steps",
		About: "one concrete action towards a goal; exported with its goal",
	},
	{
		Name: KindCheckIn, Doc: checkInsPrefix, One: "check-in", Many: "check-ins",
		Export: "checkins", Section: "Check-ins",
		About: "one partner's note: mood, feelings, needs, concerns, appreciation, and the other's acknowledgement",
		put: func(put putRow, root *automerge.Map, id string) error {
			if c, ok := checkInFromDoc(root, id); ok {
				return put(KindCheckIn, id, checkInRow(c))
			}
			return nil
		},
		rules: &unitRules{what: "check-in", author: "author"},
	},
	{
		Name: KindRhythm, Doc: RhythmDoc, One: "check-in rhythm", Many: "check-in rhythms",
		Export: "rhythm", Section: "Check-in rhythm",
		About: "how often the partners check in, agreed by both",
		put:   putFrom(KindRhythm, rhythmFromDoc),
		rules: &unitRules{what: "rhythm"},
	},
	{
		Name: KindCommitment, Doc: CommitmentsDoc, One: "commitment", Many: "commitments",
		Export: "commitments", Section: "Commitments",
		About: "a small promise one partner made, with the times it was kept or missed",
		put: func(put putRow, root *automerge.Map, id string) error {
			c, ok := commitmentFromDoc(root, id)
			if !ok {
				return nil
			}
			for _, e := range c.Entries {
				if err := put(KindCommitmentEntry, e.ID, entryView{Commitment: c.ID}); err != nil {
					return err
				}
			}
			return put(KindCommitment, id, c)
		},
		rules: &unitRules{what: "commitment", author: "made_by",
			subs: map[string]unitRules{"entries": {what: "commitment entry", author: "by"}}},
	},
	{
		Name: KindCommitmentEntry, Doc: CommitmentsDoc, Parent: KindCommitment, field: "entries",
		One: "kept-or-missed entry", Many: "kept-or-missed entries",
		About: "a dated note that a commitment was kept or missed, acknowledged by the other partner; exported with its commitment",
	},
	{
		Name: KindApology, Doc: ApologiesDoc, One: "apology", Many: "apologies",
		Export: "apologies", Section: "Apologies",
		About: "what happened, its impact, the responsibility taken, what will change; acknowledged when the other is ready",
		put:   putFrom(KindApology, apologyFromDoc),
		rules: &unitRules{what: "apology", author: "author"},
	},
	{
		Name: KindSetback, Doc: SetbacksDoc, One: "setback", Many: "setbacks",
		Export: "setbacks", Section: "Setbacks",
		About: "what went wrong, linked to a boundary, goal or commitment, with what each felt and the plan",
		put:   putFrom(KindSetback, setbackFromDoc),
		rules: &unitRules{what: "setback", author: "added_by",
			subs: map[string]unitRules{"plans": {what: "setback plan", author: "by"}}},
	},
	{
		Name: KindQuestion, Doc: QuestionsDoc, One: "question", Many: "questions",
		Export: "questions", Section: "Answered together",
		About: "a question both answer, each answer sealed until both have answered",
		put:   putFrom(KindQuestion, questionFromDoc),
		rules: &unitRules{what: "question", author: "asked_by"},
	},
	{
		Name: KindMoment, Doc: MomentsDoc, One: "moment", Many: "moments",
		Export: "moments", Section: "Good moments and thanks",
		About: "a good moment or a thank-you",
		put:   putFrom(KindMoment, momentFromDoc),
		rules: &unitRules{what: "moment", author: "by"},
	},
}

// kindIndex finds a row of kinds by name.
var kindIndex = func() map[string]int {
	m := make(map[string]int, len(kinds))
	for i, k := range kinds {
		m[k.Name] = i
	}
	return m
}()

// Kinds returns every kind of item a space holds, in the order of sync
// reports and exports.
func Kinds() []Kind {
	out := make([]Kind, len(kinds))
	copy(out, kinds)
	return out
}

// KindOf returns the kind named name; ok is false for a name no kind has
// (one a newer version wrote, say).
func KindOf(name string) (k Kind, ok bool) {
	i, ok := kindIndex[name]
	if !ok {
		return Kind{}, false
	}
	return kinds[i], true
}

// kindName is the word used in messages for a kind: its One word, or the
// name itself for a kind this build does not know.
func kindName(kind string) string {
	if k, ok := KindOf(kind); ok {
		return k.One
	}
	return kind
}

// ValidDoc reports whether doc names a document a space can hold: the
// document of a kind (see [Kinds]) or a month's check-ins,
// "checkins/YYYY-MM". The sync layer uses it to refuse any other name from
// a peer.
func ValidDoc(doc string) bool {
	for _, k := range kinds {
		if k.holds(doc) {
			return true
		}
	}
	return false
}

// topKinds yields the kinds whose items sit at the root of doc. It makes
// no slice: refOfKey runs it for every operation of a received change.
func topKinds(doc string) iter.Seq[*Kind] {
	return func(yield func(*Kind) bool) {
		for i := range kinds {
			k := &kinds[i]
			if k.holds(doc) && (k.Parent == "" || k.key != nil) && !yield(k) {
				return
			}
		}
	}
}

// refOfKey returns the view item a root key of doc holds.
func refOfKey(doc, key string) (ItemRef, bool) {
	if isMetaKey(key) {
		return ItemRef{}, false
	}
	for k := range topKinds(doc) {
		if k.key == nil {
			return ItemRef{k.Name, key}, true
		}
		if id, ok := k.key(key); ok {
			return ItemRef{k.Name, id}, true
		}
	}
	return ItemRef{}, false
}

// refsOf returns the view items a change message of doc names: the
// message's item, or for an item held by another (a step, an entry) the
// item holding it. Changes to the space document name none: what they
// touched is read from their operations.
func refsOf(doc string, m changeMsg) []ItemRef {
	if k, ok := KindOf(m.K); ok && k.Parent != "" && k.key == nil && m.G != "" {
		return []ItemRef{{k.Parent, m.G}}
	}
	for k := range topKinds(doc) {
		if k.key == nil {
			return []ItemRef{{k.Name, m.I}}
		}
	}
	return nil
}

// heldRef returns the held item that the path p of an operation in doc
// edits: a step under "steps" of its goal, an entry under "entries" of its
// commitment.
func heldRef(doc string, p []string) (ItemRef, bool) {
	if len(p) < 3 {
		return ItemRef{}, false
	}
	for _, k := range kinds {
		if k.field != "" && k.field == p[1] && k.holds(doc) {
			return ItemRef{k.Name, p[2]}, true
		}
	}
	return ItemRef{}, false
}

// putView writes the view rows of the item r from its document; an item
// the document does not hold, or of a kind this build does not know, is
// left alone.
func putView(put putRow, root *automerge.Map, r ItemRef) error {
	k, ok := KindOf(r.Kind)
	if !ok || k.put == nil {
		return nil
	}
	return k.put(put, root, r.ID)
}

// docRules returns the write rules of the items of a document.
func docRules(doc string) (unitRules, bool) {
	for k := range topKinds(doc) {
		if k.rules != nil {
			return *k.rules, true
		}
	}
	return unitRules{}, false
}

// prefixKey returns a key function for root keys made of prefix and the
// item's ID.
func prefixKey(prefix string) func(string) (string, bool) {
	return func(key string) (string, bool) { return strings.CutPrefix(key, prefix) }
}

// putFrom returns the put function of a kind whose view row is the value
// fromDoc reads from its document.
func putFrom[T any](kind string, fromDoc func(*automerge.Map, string) (T, bool)) func(putRow, *automerge.Map, string) error {
	return func(put putRow, root *automerge.Map, id string) error {
		if v, ok := fromDoc(root, id); ok {
			return put(kind, id, v)
		}
		return nil
	}
}

// KindsMarkdown returns the table of kinds that docs/KINDS.md holds, one
// row per kind, derived from [Kinds].
func KindsMarkdown() string {
	var b strings.Builder
	b.WriteString("| Kind | Document | Held by | In words | Export key | Export section | What it is |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, k := range kinds {
		doc := "`" + k.Doc + "`"
		if k.Monthly() {
			doc = "`" + k.Doc + "YYYY-MM`"
		}
		cell := func(s string) string {
			if s == "" {
				return "-"
			}
			return s
		}
		export := "-"
		if k.Export != "" {
			export = "`" + k.Export + "`"
		}
		parent := "-"
		if k.Parent != "" {
			parent = "`" + k.Parent + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s, %s | %s | %s | %s |\n",
			k.Name, doc, parent, k.Count(1), k.Count(2), export, cell(k.Section), k.About)
	}
	return b.String()
}

// IsPlumbing reports whether a history entry is about pairing and syncing
// rather than about what the couple wrote: a change to a member or device
// (a [Kind] marked Plumbing), or anything else written in their document,
// such as the creation of the space or the start of signing.
func IsPlumbing(c trustsync.Change) bool {
	for _, k := range kinds {
		if k.Plumbing && (k.Name == c.Kind || k.holds(c.Doc)) {
			return true
		}
	}
	return false
}
