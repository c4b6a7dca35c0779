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
func (s *Space) Setbacks(ctx context.Context) ([]trustsync.Setback, error) {
	out, err := listRows(s, ctx, KindSetback, readSetback)
	if err != nil {
		return nil, fmt.Errorf("list setbacks: %w", err)
	}
	newestFirst(out, func(v trustsync.Setback) (time.Time, string) { return v.AddedAt, v.ID })
	return out, nil
}

// SetbacksAbout lists the setbacks linked to one boundary, goal or
// commitment (its full ID), newest first.
func (s *Space) SetbacksAbout(ctx context.Context, itemID string) ([]trustsync.Setback, error) {
	all, err := s.Setbacks(ctx)
	if err != nil {
		return nil, err
	}
	out := []trustsync.Setback{}
	for _, sb := range all {
		if sb.About.ID == itemID {
			out = append(out, sb)
		}
	}
	return out, nil
}

// Setback returns one setback by ID or prefix.
func (s *Space) Setback(ctx context.Context, id string) (trustsync.Setback, error) {
	return oneRow(s, ctx, id, KindSetback, readSetback)
}

func readSetback(it trustsync.Item, p people) (trustsync.Setback, error) {
	var sb trustsync.Setback
	if err := readRow(it, &sb); err != nil {
		return sb, err
	}
	sb.ID = it.ID
	p.fill(&sb.AddedBy)
	if sb.Feelings == nil {
		sb.Feelings = []trustsync.Feeling{}
	}
	if sb.Plans == nil {
		sb.Plans = []trustsync.Plan{}
	}
	for i := range sb.Feelings {
		p.fill(&sb.Feelings[i].By)
	}
	for i := range sb.Plans {
		p.fill(&sb.Plans[i].By)
	}
	return sb, nil
}

func setbackFromDoc(root *automerge.Map, id string) (trustsync.Setback, bool) {
	m := getMap(root, id)
	if m == nil {
		return trustsync.Setback{}, false
	}
	sb := trustsync.Setback{
		ID:       id,
		Text:     getStr(m, "text"),
		About:    trustsync.ItemRef{Kind: getStr(m, "about_kind"), ID: getStr(m, "about")},
		AddedBy:  trustsync.Person{ID: getStr(m, "added_by")},
		AddedAt:  getTime(m, "added_at"),
		Feelings: []trustsync.Feeling{},
		Plans:    []trustsync.Plan{},
	}
	if felt := getMap(m, "felt"); felt != nil {
		at := getMap(m, "felt_at")
		vals, _ := felt.Values()
		for member, v := range vals {
			sb.Feelings = append(sb.Feelings, trustsync.Feeling{By: trustsync.Person{ID: member}, At: getTime(at, member), Text: strOf(v)})
		}
	}
	slices.SortFunc(sb.Feelings, func(x, y trustsync.Feeling) int {
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
			sb.Plans = append(sb.Plans, trustsync.Plan{ID: pid, By: trustsync.Person{ID: getStr(pm, "by")},
				At: getTime(pm, "at"), Text: getStr(pm, "text")})
		}
	}
	slices.SortFunc(sb.Plans, func(x, y trustsync.Plan) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return sb, true
}
