package crdt

// The materialized view: every item's current value as JSON of the root
// package's types, kept in the store next to the chunks so that reading never
// loads an Automerge document. Person names are left out of the view and
// resolved from the member items when read, so a rename shows everywhere;
// so are the item's ID, empty fields and what is derived when read (see
// boundaryView).

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// Root keys that are not items.
func isMetaKey(k string) bool {
	return k == "schema" || k == "schema_minor" || k == "kind"
}

// allRefs lists every item of a document.
func allRefs(doc string, root *automerge.Map) ([]ItemRef, error) {
	keys, err := root.Keys()
	if err != nil {
		return nil, err
	}
	var refs []ItemRef
	for _, k := range keys {
		if r, ok := refOfKey(doc, k); ok {
			refs = append(refs, r)
		}
	}
	sortRefs(refs)
	return refs, nil
}

func sortRefs(refs []ItemRef) {
	slices.SortFunc(refs, func(a, b ItemRef) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// putViews recomputes the view rows of refs from the document and stores
// them. An item missing from the document is left alone.
func putViews(tx trustsync.Tx, doc string, root *automerge.Map, refs []ItemRef) error {
	put := func(kind, id string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return tx.PutItem(trustsync.Item{Kind: kind, ID: id, Doc: doc, Data: b})
	}
	for _, r := range refs {
		err := putView(put, root, r)
		if err != nil {
			return fmt.Errorf("update view of %s %s: %w", r.Kind, r.ID, err)
		}
	}
	if doc == SpaceDoc {
		if err := putSeals(tx, root); err != nil {
			return err
		}
		return sweepMembers(tx, root)
	}
	return nil
}

// putSeals copies the legacy seals of the space document into meta, where
// the checks of the other documents' changes read them (trust.go).
func putSeals(tx trustsync.Tx, root *automerge.Map) error {
	_, seals, err := recordsFromDoc(root)
	if err != nil {
		return err
	}
	b, err := json.Marshal(seals)
	if err != nil {
		return err
	}
	return tx.Put(sealsMeta, b)
}

// sweepMembers deletes the view rows of members the space document no
// longer holds: the member that [Create] made on a device that then joined
// as a further device of an existing member ([Space.Admit],
// [Space.JoinSpace], [Space.JoinAs]). Other items
// are never deleted from their documents (archived instead), so members
// are the only rows to sweep.
func sweepMembers(tx trustsync.Tx, root *automerge.Map) error {
	ids, err := tx.ItemIDs(KindMember, "")
	if err != nil {
		return err
	}
	for _, id := range ids {
		if getMap(root, "m:"+id) == nil {
			if err := tx.DeleteItem(KindMember, id); err != nil {
				return fmt.Errorf("delete the view of member %s: %w", id, err)
			}
		}
	}
	return nil
}

// The stored rows of boundaries, goals and check-ins (in their files). They use the JSON
// names of the root package's types, so a row decodes into them, but leave
// out what is known without them: the item's ID (the row's key), names
// (resolved from the members when read), whether a boundary is agreed
// (derived from its agreements when read), and empty or false fields.
// Rows written before this layout, with every field, decode the same way.

type personRow struct {
	ID string `json:"id,omitempty"`
}

func personRowOf(p *trustsync.Person) *personRow {
	if p == nil {
		return nil
	}
	return &personRow{ID: p.ID}
}

type agreementRow struct {
	By      personRow `json:"by"`
	At      time.Time `json:"at"`
	Current bool      `json:"current,omitempty"`
}

func strOf(v *automerge.Value) string {
	if v == nil {
		return ""
	}
	switch v.Kind() {
	case automerge.KindStr:
		return v.Str()
	case automerge.KindText:
		s, _ := v.Text().Get()
		return s
	}
	return ""
}

// personPtr returns a *Person for a member ID, nil for none.
func personPtr(id string) *trustsync.Person {
	if id == "" {
		return nil
	}
	return &trustsync.Person{ID: id}
}

func memberFromDoc(root *automerge.Map, id string) (trustsync.Member, bool) {
	m := getMap(root, "m:"+id)
	if m == nil {
		return trustsync.Member{}, false
	}
	return trustsync.Member{
		Person:   trustsync.Person{ID: id, Name: getStr(m, "name")},
		JoinedAt: getTime(m, "joined_at"),
	}, true
}

func deviceFromDoc(root *automerge.Map, id string) (trustsync.Device, bool) {
	m := getMap(root, "d:"+id)
	if m == nil {
		return trustsync.Device{}, false
	}
	d := trustsync.Device{
		ID:        id,
		Name:      getStr(m, "name"),
		Owner:     trustsync.Person{ID: getStr(m, "member")},
		PeerID:    getStr(m, "peer_id"),
		AddedAt:   getTime(m, "added_at"),
		Removed:   getBool(m, "removed"),
		RemovedAt: getTime(m, "removed_at"),
	}
	if a := getStr(m, "addrs"); a != "" {
		_ = json.Unmarshal([]byte(a), &d.Addrs)
	}
	return d, true
}

// people resolves member IDs to names when reading the view, and knows
// who the members of the space are.
type people struct {
	names map[string]string
	// members holds the IDs of the members the space really has (see
	// readMembers): every rule that needs both partners -- an agreement,
	// both answers -- counts these, never names or member rows.
	members map[string]bool
}

func loadPeople(tx trustsync.ReadTx) (people, error) {
	items, err := tx.Items(KindMember)
	if err != nil {
		return people{}, err
	}
	p := people{names: make(map[string]string, len(items)), members: map[string]bool{}}
	for _, it := range items {
		var m trustsync.Member
		if err := json.Unmarshal(it.Data, &m); err != nil {
			return people{}, viewDamaged(it, err)
		}
		p.names[m.ID] = m.Name
	}
	ms, err := readMembers(tx)
	if err != nil {
		return people{}, err
	}
	for _, m := range ms {
		p.members[m.ID] = true
	}
	return p, nil
}

// both reports whether the space has its two partners and has holds for
// each of them, by member ID.
func (p people) both(has func(id string) bool) bool {
	if len(p.members) != 2 {
		return false
	}
	for id := range p.members {
		if !has(id) {
			return false
		}
	}
	return true
}

// agreedByBoth reports whether both partners agree to the current version.
func (p people) agreedByBoth(as []trustsync.Agreement) bool {
	return p.both(func(id string) bool {
		return slices.ContainsFunc(as, func(a trustsync.Agreement) bool { return a.By.ID == id && a.Current })
	})
}

func (p people) fill(ps *trustsync.Person) {
	if ps != nil && ps.ID != "" {
		ps.Name = p.names[ps.ID]
	}
}

func (p people) boundary(b *trustsync.Boundary) {
	p.fill(&b.ProposedBy)
	for i := range b.Agreements {
		p.fill(&b.Agreements[i].By)
	}
	b.Agreed = p.agreedByBoth(b.Agreements)
}

func (p people) goal(g *trustsync.Goal) {
	p.fill(&g.CreatedBy)
	p.fill(g.DoneBy)
	for i := range g.Steps {
		p.fill(&g.Steps[i].AddedBy)
		p.fill(g.Steps[i].DoneBy)
	}
}

func (p people) checkIn(c *trustsync.CheckIn) {
	p.fill(&c.Author)
	for i := range c.Acks {
		p.fill(&c.Acks[i].By)
	}
}

func viewDamaged(it trustsync.Item, err error) error {
	return &viewDamage{item: it, de: &trustsync.DamagedError{
		What: fmt.Sprintf("the stored view of %s %s", kindName(it.Kind), it.ID),
		Why:  err.Error(),
		Hint: "sync with your partner's device or edit the item to rewrite it",
	}}
}

// viewDamage is the error of a view row that cannot be decoded: the
// [*trustsync.DamagedError] the user sees, and the row, so that
// [Space.view] can write the rows of its document again from the document.
type viewDamage struct {
	item trustsync.Item
	de   *trustsync.DamagedError
}

func (e *viewDamage) Error() string { return e.de.Error() }

// Unwrap returns the *trustsync.DamagedError.
func (e *viewDamage) Unwrap() error { return e.de }

// unrepaired is e once writing the row again from its document failed: the
// document is damaged (or gone) too, and the hint says what can still help.
// Rows of members and devices come from the space document, which the hello
// of a sync is checked against through these very rows: while they cannot
// be read, no sync can restore them.
func (e *viewDamage) unrepaired() *viewDamage {
	de := *e.de
	de.Hint = "its document cannot be read either: sync with your partner's device to restore the document, which writes the row again, or restore a backup"
	if e.item.Kind == KindMember || e.item.Kind == KindDevice {
		de.Hint = "the space document it is written from cannot be read either, and a sync needs it to know the paired devices: restore a backup, or make a new home and pair again"
	}
	return &viewDamage{item: e.item, de: &de}
}

// hexHeads returns heads as sorted hex strings.
func hexHeads(hs []automerge.ChangeHash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h[:])
	}
	slices.Sort(out)
	return out
}

func equalHeads(a, b []automerge.ChangeHash) bool {
	return slices.Equal(hexHeads(a), hexHeads(b))
}

// quoteMax is how many characters of a text a history summary quotes. Every
// change carries its summary, in the Automerge document and in the store's
// history, so quoting whole texts would store each of them twice more.
const quoteMax = 40

// quote shortens s for a history summary.
func quote(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > quoteMax {
		s = string(r[:quoteMax-1]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// ms is t rounded to what documents store.
func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// oldestFirst orders items by the time key gives, then by ID, so that every
// device lists items made in the same millisecond in the same order.
func oldestFirst[T any](items []T, key func(T) (time.Time, string)) {
	slices.SortFunc(items, func(a, b T) int {
		ta, ia := key(a)
		tb, ib := key(b)
		if c := ta.Compare(tb); c != 0 {
			return c
		}
		return strings.Compare(ia, ib)
	})
}

// newestFirst is oldestFirst reversed.
func newestFirst[T any](items []T, key func(T) (time.Time, string)) {
	oldestFirst(items, key)
	slices.Reverse(items)
}

// joinDamaged makes one error of the damage of several view rows: the first
// one's words, and how many more there are.
func joinDamaged(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	var de *trustsync.DamagedError
	if !errors.As(errs[0], &de) {
		return errors.Join(errs...)
	}
	more := *de
	more.What = fmt.Sprintf("%s (and %d more view rows)", de.What, len(errs)-1)
	return &more
}
