package crdt

// The materialized view: every item's current value as JSON of the root
// package's types, kept in the store next to the chunks so that reading never
// loads an Automerge document. Person names are left empty in the view and
// resolved from the member items when read, so a rename shows everywhere.

import (
	"encoding/hex"
	"encoding/json"
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

// stepView is a step's view row: the step and the goal holding it.
type stepView struct {
	trustsync.Step
	Goal string `json:"goal"`
}

// refOfKey returns the view item a root key of doc holds.
func refOfKey(doc, key string) (ItemRef, bool) {
	if isMetaKey(key) {
		return ItemRef{}, false
	}
	switch {
	case doc == SpaceDoc:
		if id, ok := strings.CutPrefix(key, "m:"); ok {
			return ItemRef{KindMember, id}, true
		}
		if id, ok := strings.CutPrefix(key, "d:"); ok {
			return ItemRef{KindDevice, id}, true
		}
		return ItemRef{}, false
	case doc == BoundariesDoc:
		return ItemRef{KindBoundary, key}, true
	case doc == GoalsDoc:
		return ItemRef{KindGoal, key}, true
	case strings.HasPrefix(doc, "checkins/"):
		return ItemRef{KindCheckIn, key}, true
	}
	return ItemRef{}, false
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

// refsOf returns the view items a change message names.
func refsOf(doc string, m changeMsg) []ItemRef {
	if m.K == KindStep && m.G != "" {
		return []ItemRef{{KindGoal, m.G}}
	}
	switch {
	case doc == BoundariesDoc:
		return []ItemRef{{KindBoundary, m.I}}
	case doc == GoalsDoc:
		return []ItemRef{{KindGoal, m.I}}
	case strings.HasPrefix(doc, "checkins/"):
		return []ItemRef{{KindCheckIn, m.I}}
	}
	return nil
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
		var err error
		switch r.Kind {
		case KindBoundary:
			if b, ok := boundaryFromDoc(root, r.ID); ok {
				err = put(KindBoundary, r.ID, b)
			}
		case KindGoal:
			if g, ok := goalFromDoc(root, r.ID); ok {
				if err = put(KindGoal, r.ID, g); err == nil {
					for _, st := range g.Steps {
						if err = put(KindStep, st.ID, stepView{Step: st, Goal: g.ID}); err != nil {
							break
						}
					}
				}
			}
		case KindCheckIn:
			if c, ok := checkInFromDoc(root, r.ID); ok {
				err = put(KindCheckIn, r.ID, c)
			}
		case KindMember:
			if m, ok := memberFromDoc(root, r.ID); ok {
				err = put(KindMember, r.ID, m)
			}
		case KindDevice:
			if d, ok := deviceFromDoc(root, r.ID); ok {
				err = put(KindDevice, r.ID, d)
			}
		}
		if err != nil {
			return fmt.Errorf("update view of %s %s: %w", r.Kind, r.ID, err)
		}
	}
	return nil
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

func boundaryFromDoc(root *automerge.Map, id string) (trustsync.Boundary, bool) {
	m := getMap(root, id)
	if m == nil {
		return trustsync.Boundary{}, false
	}
	text := getStr(m, "text")
	b := trustsync.Boundary{
		ID:         id,
		Text:       text,
		ProposedBy: trustsync.Person{ID: getStr(m, "proposed_by")},
		ProposedAt: getTime(m, "proposed_at"),
		UpdatedAt:  getTime(m, "updated_at"),
		Archived:   getBool(m, "archived"),
		Agreements: []trustsync.Agreement{},
	}
	if agree := getMap(m, "agree"); agree != nil {
		at := getMap(m, "agree_at")
		vals, _ := agree.Values()
		for member, v := range vals {
			b.Agreements = append(b.Agreements, trustsync.Agreement{
				By:      trustsync.Person{ID: member},
				At:      getTime(at, member),
				Current: strOf(v) == text,
			})
		}
	}
	slices.SortFunc(b.Agreements, func(x, y trustsync.Agreement) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		return strings.Compare(x.By.ID, y.By.ID)
	})
	return b, true
}

func goalFromDoc(root *automerge.Map, id string) (trustsync.Goal, bool) {
	m := getMap(root, id)
	if m == nil {
		return trustsync.Goal{}, false
	}
	g := trustsync.Goal{
		ID:        id,
		Title:     getStr(m, "title"),
		Why:       getStr(m, "why"),
		CreatedBy: trustsync.Person{ID: getStr(m, "created_by")},
		CreatedAt: getTime(m, "created_at"),
		Done:      getBool(m, "done"),
		DoneBy:    personPtr(getStr(m, "done_by")),
		DoneAt:    getTime(m, "done_at"),
		Archived:  getBool(m, "archived"),
		Steps:     []trustsync.Step{},
	}
	if steps := getMap(m, "steps"); steps != nil {
		vals, _ := steps.Values()
		for sid, v := range vals {
			if v.Kind() != automerge.KindMap {
				continue
			}
			sm := v.Map()
			g.Steps = append(g.Steps, trustsync.Step{
				ID:      sid,
				Text:    getStr(sm, "text"),
				AddedBy: trustsync.Person{ID: getStr(sm, "added_by")},
				AddedAt: getTime(sm, "added_at"),
				Done:    getBool(sm, "done"),
				DoneBy:  personPtr(getStr(sm, "done_by")),
				DoneAt:  getTime(sm, "done_at"),
			})
		}
	}
	slices.SortFunc(g.Steps, func(x, y trustsync.Step) int {
		if c := x.AddedAt.Compare(y.AddedAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return g, true
}

func checkInFromDoc(root *automerge.Map, id string) (trustsync.CheckIn, bool) {
	m := getMap(root, id)
	if m == nil {
		return trustsync.CheckIn{}, false
	}
	mood, _ := getInt(m, "mood")
	c := trustsync.CheckIn{
		ID:           id,
		Author:       trustsync.Person{ID: getStr(m, "author")},
		CreatedAt:    getTime(m, "created_at"),
		Mood:         trustsync.Mood(mood),
		Feelings:     []string{},
		Note:         getStr(m, "note"),
		Needs:        getStr(m, "needs"),
		Concerns:     getStr(m, "concerns"),
		Appreciation: getStr(m, "appreciation"),
		Acks:         []trustsync.Ack{},
	}
	if f := getStr(m, "feelings"); f != "" {
		var list []string
		if json.Unmarshal([]byte(f), &list) == nil {
			c.Feelings = list
		}
	}
	if acks := getMap(m, "acks"); acks != nil {
		at := getMap(m, "ack_at")
		vals, _ := acks.Values()
		for member, v := range vals {
			c.Acks = append(c.Acks, trustsync.Ack{
				By:    trustsync.Person{ID: member},
				At:    getTime(at, member),
				Reply: strOf(v),
			})
		}
	}
	slices.SortFunc(c.Acks, func(x, y trustsync.Ack) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		return strings.Compare(x.By.ID, y.By.ID)
	})
	return c, true
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

// people resolves member IDs to names when reading the view.
type people struct {
	names map[string]string
}

func loadPeople(tx trustsync.ReadTx) (people, error) {
	items, err := tx.Items(KindMember)
	if err != nil {
		return people{}, err
	}
	p := people{names: make(map[string]string, len(items))}
	for _, it := range items {
		var m trustsync.Member
		if err := json.Unmarshal(it.Data, &m); err != nil {
			return people{}, viewDamaged(it, err)
		}
		p.names[m.ID] = m.Name
	}
	return p, nil
}

func (p people) fill(ps *trustsync.Person) {
	if ps != nil && ps.ID != "" {
		ps.Name = p.names[ps.ID]
	}
}

func (p people) boundary(b *trustsync.Boundary) {
	p.fill(&b.ProposedBy)
	current := 0
	for i := range b.Agreements {
		a := &b.Agreements[i]
		p.fill(&a.By)
		if _, member := p.names[a.By.ID]; member && a.Current {
			current++
		}
	}
	b.Agreed = len(p.names) == 2 && current == 2
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
	return &trustsync.DamagedError{
		What: fmt.Sprintf("the stored view of %s %s", kindName(it.Kind), it.ID),
		Why:  err.Error(),
		Hint: "sync with your partner's device or edit the item to rewrite it",
	}
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

// quote shortens s for a history summary.
func quote(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 80 {
		s = string(r[:79]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// ms is t rounded to what documents store.
func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }
