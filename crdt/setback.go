package crdt

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// Setback is something that went wrong, linked to the boundary, goal or
// commitment it touched, with what each partner felt and the plan as the
// couple revisited it (every revision kept, oldest first).
type Setback struct {
	ID       string           `json:"id"`
	Text     string           `json:"text"`
	About    ItemRef          `json:"about"`
	AddedBy  trustsync.Person `json:"added_by"`
	AddedAt  time.Time        `json:"added_at"`
	Feelings []Feeling        `json:"feelings"`
	Plans    []Plan           `json:"plans"`
}

// Feeling is what one partner felt about a setback, in their own words.
type Feeling struct {
	By   trustsync.Person `json:"by"`
	At   time.Time        `json:"at"`
	Text string           `json:"text"`
}

// Plan is one revision of what the couple will do after a setback.
type Plan struct {
	ID   string           `json:"id"`
	By   trustsync.Person `json:"by"`
	At   time.Time        `json:"at"`
	Text string           `json:"text"`
}

// Plan returns the current plan: the latest revision, or the zero Plan.
func (sb Setback) Plan() Plan {
	if len(sb.Plans) == 0 {
		return Plan{}
	}
	return sb.Plans[len(sb.Plans)-1]
}

// AddSetback records a setback about a boundary, goal or commitment (about
// is its ID or prefix), with an optional first plan.
func (s *Space) AddSetback(ctx context.Context, text, about, plan string) (string, error) {
	text, err := cleanText("the setback", text, MaxTextLen)
	if err != nil {
		return "", fmt.Errorf("add setback: %w", err)
	}
	if plan, err = optionalText("the plan", plan, MaxTextLen); err != nil {
		return "", fmt.Errorf("add setback: %w", err)
	}
	r, err := s.resolveItem(ctx, about, KindBoundary, KindGoal, KindCommitment)
	if err != nil {
		return "", fmt.Errorf("add setback: %w", err)
	}
	id := newID()
	me := s.Self().MemberID
	_, err = s.write(ctx, SetbacksDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m := automerge.NewMap()
		if err := root.Set(id, m); err != nil {
			return edit{}, err
		}
		at := s.now()
		plans := automerge.NewMap()
		if err := setFields(m,
			"text", text,
			"about", r.id,
			"about_kind", r.kind,
			"added_by", me,
			"added_at", at.UnixMilli(),
			"felt", automerge.NewMap(),
			"felt_at", automerge.NewMap(),
			"plans", plans,
		); err != nil {
			return edit{}, err
		}
		if plan != "" {
			if err := addPlan(plans, plan, me, at); err != nil {
				return edit{}, err
			}
		}
		return edit{action: "add", kind: KindSetback, item: id,
			summary: "noted a setback about the " + kindName(r.kind) + ": " + quote(text),
			touched: []ItemRef{{KindSetback, id}}}, nil
	})
	if err != nil {
		return "", fmt.Errorf("add setback: %w", err)
	}
	return id, nil
}

func addPlan(plans *automerge.Map, text, me string, at time.Time) error {
	pm := automerge.NewMap()
	if err := plans.Set(newID(), pm); err != nil {
		return err
	}
	return setFields(pm, "text", text, "by", me, "at", at.UnixMilli())
}

// FeelSetback records what this member felt about a setback. Writing again
// replaces their words; the partner's are never touched.
func (s *Space) FeelSetback(ctx context.Context, id, text string) error {
	text, err := cleanText("what you felt", text, MaxNoteLen)
	if err != nil {
		return fmt.Errorf("setback: %w", err)
	}
	r, err := s.resolveItem(ctx, id, KindSetback)
	if err != nil {
		return fmt.Errorf("setback: %w", err)
	}
	me := s.Self().MemberID
	_, err = s.write(ctx, SetbacksDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m, err := itemMap(root, KindSetback, r.id)
		if err != nil {
			return edit{}, err
		}
		felt, feltAt, err := memberMaps(m, "felt", "felt_at")
		if err != nil {
			return edit{}, err
		}
		if v := getValue(felt, me); v != nil && strOf(v) == text {
			return edit{}, errNoChange
		}
		if err := felt.Set(me, text); err != nil {
			return edit{}, err
		}
		if err := setTime(feltAt, me, s.now()); err != nil {
			return edit{}, err
		}
		return edit{action: "feel", kind: KindSetback, item: r.id,
			summary: "said how the setback " + quote(getStr(m, "text")) + " felt: " + quote(text),
			touched: []ItemRef{{KindSetback, r.id}}}, nil
	})
	if err != nil {
		return fmt.Errorf("setback: %w", err)
	}
	return nil
}

// PlanSetback adds a revision of the plan after a setback. Earlier
// revisions stay; concurrent revisions are both kept, the later one current.
func (s *Space) PlanSetback(ctx context.Context, id, text string) error {
	text, err := cleanText("the plan", text, MaxTextLen)
	if err != nil {
		return fmt.Errorf("setback plan: %w", err)
	}
	r, err := s.resolveItem(ctx, id, KindSetback)
	if err != nil {
		return fmt.Errorf("setback plan: %w", err)
	}
	me := s.Self().MemberID
	_, err = s.write(ctx, SetbacksDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m, err := itemMap(root, KindSetback, r.id)
		if err != nil {
			return edit{}, err
		}
		plans := getMap(m, "plans")
		if plans == nil {
			plans = automerge.NewMap()
			if err := m.Set("plans", plans); err != nil {
				return edit{}, err
			}
		}
		if sb, _ := setbackFromDoc(root, r.id); sb.Plan().Text == text {
			return edit{}, errNoChange
		}
		if err := addPlan(plans, text, me, s.now()); err != nil {
			return edit{}, err
		}
		return edit{action: "plan", kind: KindSetback, item: r.id,
			summary: "revisited the plan after " + quote(getStr(m, "text")) + ": " + quote(text),
			touched: []ItemRef{{KindSetback, r.id}}}, nil
	})
	if err != nil {
		return fmt.Errorf("setback plan: %w", err)
	}
	return nil
}

// Setbacks lists setbacks, newest first.
func (s *Space) Setbacks(ctx context.Context) ([]Setback, error) {
	out, err := listRows(s, ctx, KindSetback, readSetback)
	if err != nil {
		return nil, fmt.Errorf("list setbacks: %w", err)
	}
	newestFirst(out, func(v Setback) (time.Time, string) { return v.AddedAt, v.ID })
	return out, nil
}

// SetbacksAbout lists the setbacks linked to one boundary, goal or
// commitment (its full ID), newest first.
func (s *Space) SetbacksAbout(ctx context.Context, itemID string) ([]Setback, error) {
	all, err := s.Setbacks(ctx)
	if err != nil {
		return nil, err
	}
	out := []Setback{}
	for _, sb := range all {
		if sb.About.ID == itemID {
			out = append(out, sb)
		}
	}
	return out, nil
}

// Setback returns one setback by ID or prefix.
func (s *Space) Setback(ctx context.Context, id string) (Setback, error) {
	return oneRow(s, ctx, id, KindSetback, readSetback)
}

func readSetback(it trustsync.Item, p people) (Setback, error) {
	var sb Setback
	if err := readRow(it, &sb); err != nil {
		return sb, err
	}
	sb.ID = it.ID
	p.fill(&sb.AddedBy)
	if sb.Feelings == nil {
		sb.Feelings = []Feeling{}
	}
	if sb.Plans == nil {
		sb.Plans = []Plan{}
	}
	for i := range sb.Feelings {
		p.fill(&sb.Feelings[i].By)
	}
	for i := range sb.Plans {
		p.fill(&sb.Plans[i].By)
	}
	return sb, nil
}

func setbackFromDoc(root *automerge.Map, id string) (Setback, bool) {
	m := getMap(root, id)
	if m == nil {
		return Setback{}, false
	}
	sb := Setback{
		ID:       id,
		Text:     getStr(m, "text"),
		About:    ItemRef{Kind: getStr(m, "about_kind"), ID: getStr(m, "about")},
		AddedBy:  trustsync.Person{ID: getStr(m, "added_by")},
		AddedAt:  getTime(m, "added_at"),
		Feelings: []Feeling{},
		Plans:    []Plan{},
	}
	if felt := getMap(m, "felt"); felt != nil {
		at := getMap(m, "felt_at")
		vals, _ := felt.Values()
		for member, v := range vals {
			sb.Feelings = append(sb.Feelings, Feeling{By: trustsync.Person{ID: member}, At: getTime(at, member), Text: strOf(v)})
		}
	}
	slices.SortFunc(sb.Feelings, func(x, y Feeling) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		return strings.Compare(x.By.ID, y.By.ID)
	})
	if plans := getMap(m, "plans"); plans != nil {
		vals, _ := plans.Values()
		for pid, v := range vals {
			if v.Kind() != automerge.KindMap {
				continue
			}
			pm := v.Map()
			sb.Plans = append(sb.Plans, Plan{ID: pid, By: trustsync.Person{ID: getStr(pm, "by")},
				At: getTime(pm, "at"), Text: getStr(pm, "text")})
		}
	}
	slices.SortFunc(sb.Plans, func(x, y Plan) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return sb, true
}
