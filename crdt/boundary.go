package crdt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// AddBoundary proposes a boundary; the proposer's agreement is not implied.
func (s *Space) AddBoundary(ctx context.Context, text string) (string, error) {
	text, err := cleanText("the boundary text", text, MaxTextLen)
	if err != nil {
		return "", err
	}
	id := newID()
	me := s.Self().MemberID
	_, err = s.write(ctx, BoundariesDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		at := ms(s.now())
		m := automerge.NewMap()
		if err := root.Set(id, m); err != nil {
			return edit{}, err
		}
		for _, f := range []struct {
			k string
			v any
		}{
			{"text", automerge.NewText(text)},
			{"proposed_by", me},
			{"proposed_at", at.UnixMilli()},
			{"updated_at", at.UnixMilli()},
			{"updated_by", me},
			{"archived", false},
			{"agree", automerge.NewMap()},
			{"agree_at", automerge.NewMap()},
		} {
			if err := m.Set(f.k, f.v); err != nil {
				return edit{}, err
			}
		}
		return edit{action: "add", kind: KindBoundary, item: id,
			summary: "proposed the boundary " + quote(text),
			touched: []ItemRef{{KindBoundary, id}}}, nil
	})
	if err != nil {
		return "", fmt.Errorf("add boundary: %w", err)
	}
	return id, nil
}

// Boundaries lists boundaries, oldest first.
//
// A view row that cannot be decoded is written again from the boundaries
// document (see [Space.view]). When that is impossible too (the document is
// damaged), Boundaries returns every other boundary together with an error
// wrapping [trustsync.ErrDamaged] that names the damaged ones.
func (s *Space) Boundaries(ctx context.Context, opts ListOptions) ([]trustsync.Boundary, error) {
	var out []trustsync.Boundary
	list := func(skip bool, damaged *[]error) func(tx trustsync.ReadTx) error {
		return func(tx trustsync.ReadTx) error {
			p, err := loadPeople(tx)
			if err != nil {
				return err
			}
			items, err := tx.Items(KindBoundary)
			if err != nil {
				return err
			}
			out = make([]trustsync.Boundary, 0, len(items))
			for _, it := range items {
				b, err := readBoundary(it)
				if err != nil && skip {
					*damaged = append(*damaged, err)
					continue
				}
				if err != nil {
					return err
				}
				if b.Archived && !opts.All {
					continue
				}
				p.boundary(&b)
				out = append(out, b)
			}
			return nil
		}
	}
	err := s.view(ctx, list(false, nil))
	var vd *viewDamage
	var damaged []error
	if errors.As(err, &vd) && vd.item.Kind == KindBoundary {
		// The rows could not be rewritten: list the others.
		err = s.view(ctx, list(true, &damaged))
	}
	if err != nil {
		return nil, fmt.Errorf("list boundaries: %w", err)
	}
	oldestFirst(out, func(v trustsync.Boundary) (time.Time, string) { return v.ProposedAt, v.ID })
	if len(damaged) > 0 {
		return out, fmt.Errorf("list boundaries: %w", joinDamaged(damaged))
	}
	return out, nil
}

// Boundary returns one boundary; id may be an unambiguous prefix of at least
// [trustsync.MinIDPrefix] characters.
func (s *Space) Boundary(ctx context.Context, id string) (trustsync.Boundary, error) {
	var b trustsync.Boundary
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		r, err := resolve(tx, id, KindBoundary)
		if err != nil {
			return err
		}
		p, err := loadPeople(tx)
		if err != nil {
			return err
		}
		if b, err = readBoundary(r.item); err != nil {
			return err
		}
		p.boundary(&b)
		return nil
	})
	return b, err
}

// resolveItem resolves an ID argument for a write.
func (s *Space) resolveItem(ctx context.Context, id string, kinds ...string) (resolved, error) {
	var r resolved
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		var err error
		r, err = resolve(tx, id, kinds...)
		return err
	})
	return r, err
}

// itemMap returns the map of an item in a document being edited.
func itemMap(root *automerge.Map, kind, id string) (*automerge.Map, error) {
	m := getMap(root, id)
	if m == nil {
		return nil, fmt.Errorf("no %s with ID %q in its document: %w", kindName(kind), id, trustsync.ErrNotFound)
	}
	return m, nil
}

// setText makes the Text at key read s, splicing only the part that differs
// so that concurrent edits elsewhere in the text merge. A missing or non-Text
// value is replaced by a new Text. Only a text both partners edit (a
// boundary's) is a Text; a text only its author writes (a check-in's note,
// an apology, a moment, ...) is a plain string, one operation instead of
// one per character (docs/DESIGN.md, "Which texts merge by character").
func setText(m *automerge.Map, key, s string) error {
	v := getValue(m, key)
	if v == nil || v.Kind() != automerge.KindText {
		return m.Set(key, automerge.NewText(s))
	}
	t := v.Text()
	cur, err := t.Get()
	if err != nil {
		return err
	}
	// Positions are in Unicode code points.
	a, b := []rune(cur), []rune(s)
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	return t.Splice(pre, len(a)-pre-suf, string(b[pre:len(b)-suf]))
}

// EditBoundary replaces a boundary's text. Earlier agreements stop counting.
func (s *Space) EditBoundary(ctx context.Context, id, text string) error {
	text, err := cleanText("the boundary text", text, MaxTextLen)
	if err != nil {
		return err
	}
	r, err := s.resolveItem(ctx, id, KindBoundary)
	if err != nil {
		return fmt.Errorf("edit boundary: %w", err)
	}
	me := s.Self().MemberID
	_, err = s.write(ctx, r.item.Doc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m, err := itemMap(root, KindBoundary, r.id)
		if err != nil {
			return edit{}, err
		}
		if getStr(m, "text") == text {
			return edit{}, errNoChange
		}
		if err := setText(m, "text", text); err != nil {
			return edit{}, err
		}
		if err := touch(m, me, s.now()); err != nil {
			return edit{}, err
		}
		return edit{action: "edit", kind: KindBoundary, item: r.id,
			summary: "changed the text to " + quote(text),
			touched: []ItemRef{{KindBoundary, r.id}}}, nil
	})
	if err != nil {
		return fmt.Errorf("edit boundary: %w", err)
	}
	return nil
}

// touch records who changed a boundary last, and when.
func touch(m *automerge.Map, me string, at time.Time) error {
	if err := setInt(m, "updated_at", at.UnixMilli()); err != nil {
		return err
	}
	return m.Set("updated_by", me)
}

// AgreeBoundary records this member's agreement to the current text,
// whatever it is. An app that showed the words first should call
// [Space.AgreeBoundaryText] instead, so that an edit arriving in between
// is not agreed to unseen.
func (s *Space) AgreeBoundary(ctx context.Context, id string) error {
	return s.agreeBoundary(ctx, id, nil)
}

// AgreeBoundaryText records this member's agreement to the boundary only if
// its current text is exactly seen, the words the member was shown. When
// the text differs (an edit, often the partner's arriving by sync, came in
// between), nothing is recorded and the error wraps a [*TextChangedError]
// (and [ErrTextChanged]) carrying the current text. The comparison and the
// agreement happen under the document's write lock, so no edit can slip
// between them on this device.
func (s *Space) AgreeBoundaryText(ctx context.Context, id, seen string) error {
	return s.agreeBoundary(ctx, id, &seen)
}

// agreeBoundary records the agreement; seen, when not nil, is the text the
// agreement is bound to.
func (s *Space) agreeBoundary(ctx context.Context, id string, seen *string) error {
	r, err := s.resolveItem(ctx, id, KindBoundary)
	if err != nil {
		return fmt.Errorf("agree to boundary: %w", err)
	}
	me := s.Self().MemberID
	_, err = s.write(ctx, r.item.Doc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m, err := itemMap(root, KindBoundary, r.id)
		if err != nil {
			return edit{}, err
		}
		text := getStr(m, "text")
		if seen != nil && *seen != text {
			return edit{}, &TextChangedError{Kind: KindBoundary, ID: r.id, Seen: *seen, Current: text}
		}
		agree, agreeAt, err := memberMaps(m, "agree", "agree_at")
		if err != nil {
			return edit{}, err
		}
		if v := getValue(agree, me); v != nil && strOf(v) == text {
			return edit{}, errNoChange
		}
		if err := agree.Set(me, text); err != nil {
			return edit{}, err
		}
		if err := setTime(agreeAt, me, s.now()); err != nil {
			return edit{}, err
		}
		return edit{action: "agree", kind: KindBoundary, item: r.id,
			summary: "agreed to " + quote(text),
			touched: []ItemRef{{KindBoundary, r.id}}}, nil
	})
	if err != nil {
		return fmt.Errorf("agree to boundary: %w", err)
	}
	return nil
}

// memberMaps returns the two per-member maps of an item (agree and
// agree_at, acks and ack_at), creating any that a foreign client left out.
func memberMaps(m *automerge.Map, keys ...string) (*automerge.Map, *automerge.Map, error) {
	out := make([]*automerge.Map, len(keys))
	for i, k := range keys {
		out[i] = getMap(m, k)
		if out[i] == nil {
			nm := automerge.NewMap()
			if err := m.Set(k, nm); err != nil {
				return nil, nil, err
			}
			out[i] = nm
		}
	}
	return out[0], out[1], nil
}

// setArchived archives or restores an item of kind in doc.
func (s *Space) setArchived(ctx context.Context, kind, id string, archived bool) error {
	verb := "archive"
	if !archived {
		verb = "restore"
	}
	r, err := s.resolveItem(ctx, id, kind)
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, kindName(kind), err)
	}
	me := s.Self().MemberID
	_, err = s.write(ctx, r.item.Doc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m, err := itemMap(root, kind, r.id)
		if err != nil {
			return edit{}, err
		}
		if getBool(m, "archived") == archived {
			return edit{}, errNoChange
		}
		if err := m.Set("archived", archived); err != nil {
			return edit{}, err
		}
		if kind == KindBoundary {
			if err := touch(m, me, s.now()); err != nil {
				return edit{}, err
			}
		}
		return edit{action: verb, kind: kind, item: r.id,
			summary: verb + "d the " + kindName(kind),
			touched: []ItemRef{{kind, r.id}}}, nil
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, kindName(kind), err)
	}
	return nil
}

// ArchiveBoundary hides a boundary; RestoreBoundary brings it back.
func (s *Space) ArchiveBoundary(ctx context.Context, id string) error {
	return s.setArchived(ctx, KindBoundary, id, true)
}

// RestoreBoundary undoes ArchiveBoundary.
func (s *Space) RestoreBoundary(ctx context.Context, id string) error {
	return s.setArchived(ctx, KindBoundary, id, false)
}

// The view row of a boundary (see view.go for what rows leave out).

type boundaryView struct {
	Text       string         `json:"text"`
	ProposedBy personRow      `json:"proposed_by"`
	ProposedAt time.Time      `json:"proposed_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	Agreements []agreementRow `json:"agreements,omitempty"`
	Archived   bool           `json:"archived,omitempty"`
}

func boundaryRow(b trustsync.Boundary) boundaryView {
	v := boundaryView{Text: b.Text, ProposedBy: personRow{b.ProposedBy.ID}, ProposedAt: b.ProposedAt,
		UpdatedAt: b.UpdatedAt, Archived: b.Archived}
	for _, a := range b.Agreements {
		v.Agreements = append(v.Agreements, agreementRow{By: personRow{a.By.ID}, At: a.At, Current: a.Current})
	}
	return v
}

// readBoundary decodes a boundary's view row.
func readBoundary(it trustsync.Item) (trustsync.Boundary, error) {
	var b trustsync.Boundary
	if err := json.Unmarshal(it.Data, &b); err != nil {
		return b, viewDamaged(it, err)
	}
	b.ID = it.ID
	if b.Agreements == nil {
		b.Agreements = []trustsync.Agreement{}
	}
	return b, nil
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
