package crdt

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// setFields sets each field of a new item map.
func setFields(m *automerge.Map, fields ...any) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if err := m.Set(fields[i].(string), fields[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// AddGoal adds a goal.
func (s *Space) AddGoal(ctx context.Context, title, why string) (string, error) {
	title, err := cleanLine("the goal title", title, MaxTitleLen)
	if err != nil {
		return "", err
	}
	if why, err = optionalText("the why", why, MaxTextLen); err != nil {
		return "", err
	}
	id := newID()
	me := s.Self().MemberID
	_, err = s.write(ctx, GoalsDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m := automerge.NewMap()
		if err := root.Set(id, m); err != nil {
			return edit{}, err
		}
		if err := setFields(m,
			"title", title,
			"why", why,
			"created_by", me,
			"created_at", ms(s.now()).UnixMilli(),
			"done", false,
			"done_by", "",
			"done_at", int64(0),
			"archived", false,
			"steps", automerge.NewMap(),
		); err != nil {
			return edit{}, err
		}
		return edit{action: "add", kind: KindGoal, item: id,
			summary: "added the goal " + quote(title),
			touched: []ItemRef{{KindGoal, id}}}, nil
	})
	if err != nil {
		return "", fmt.Errorf("add goal: %w", err)
	}
	return id, nil
}

// EditGoal changes a goal's title or why.
func (s *Space) EditGoal(ctx context.Context, id string, e GoalEdit) error {
	var title, why string
	if e.Title != nil {
		var err error
		if title, err = cleanLine("the goal title", *e.Title, MaxTitleLen); err != nil {
			return err
		}
	}
	if e.Why != nil {
		var err error
		if why, err = optionalText("the why", *e.Why, MaxTextLen); err != nil {
			return err
		}
	}
	if e.Title == nil && e.Why == nil {
		return nil
	}
	r, err := s.resolveItem(ctx, id, KindGoal)
	if err != nil {
		return fmt.Errorf("edit goal: %w", err)
	}
	_, err = s.write(ctx, r.item.Doc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m, err := itemMap(root, KindGoal, r.id)
		if err != nil {
			return edit{}, err
		}
		var said []string
		if e.Title != nil && getStr(m, "title") != title {
			if err := m.Set("title", title); err != nil {
				return edit{}, err
			}
			said = append(said, "changed the title to "+quote(title))
		}
		if e.Why != nil && getStr(m, "why") != why {
			if err := m.Set("why", why); err != nil {
				return edit{}, err
			}
			said = append(said, "changed the why to "+quote(why))
		}
		if len(said) == 0 {
			return edit{}, errNoChange
		}
		return edit{action: "edit", kind: KindGoal, item: r.id,
			summary: strings.Join(said, " and "),
			touched: []ItemRef{{KindGoal, r.id}}}, nil
	})
	if err != nil {
		return fmt.Errorf("edit goal: %w", err)
	}
	return nil
}

// AddStep adds a step to a goal and returns the step's ID.
func (s *Space) AddStep(ctx context.Context, goalID, text string) (string, error) {
	text, err := cleanText("the step text", text, MaxTextLen)
	if err != nil {
		return "", err
	}
	r, err := s.resolveItem(ctx, goalID, KindGoal)
	if err != nil {
		return "", fmt.Errorf("add step: %w", err)
	}
	id := newID()
	me := s.Self().MemberID
	_, err = s.write(ctx, r.item.Doc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		g, err := itemMap(root, KindGoal, r.id)
		if err != nil {
			return edit{}, err
		}
		steps := getMap(g, "steps")
		if steps == nil {
			steps = automerge.NewMap()
			if err := g.Set("steps", steps); err != nil {
				return edit{}, err
			}
		}
		m := automerge.NewMap()
		if err := steps.Set(id, m); err != nil {
			return edit{}, err
		}
		if err := setFields(m,
			"text", text,
			"added_by", me,
			"added_at", ms(s.now()).UnixMilli(),
			"done", false,
			"done_by", "",
			"done_at", int64(0),
		); err != nil {
			return edit{}, err
		}
		return edit{action: "add", kind: KindStep, item: id, goal: r.id,
			summary: "added the step " + quote(text),
			touched: []ItemRef{{KindGoal, r.id}}}, nil
	})
	if err != nil {
		return "", fmt.Errorf("add step: %w", err)
	}
	return id, nil
}

// MarkDone marks a goal or a step (given either's ID or prefix) done. It
// returns the kind it marked: [KindGoal] or [KindStep].
func (s *Space) MarkDone(ctx context.Context, id string) (string, error) {
	r, err := s.resolveItem(ctx, id, KindGoal, KindStep)
	if err != nil {
		return "", fmt.Errorf("mark done: %w", err)
	}
	goalID := r.id
	if r.kind == KindStep {
		var sv stepView
		if err := json.Unmarshal(r.item.Data, &sv); err != nil {
			return "", viewDamaged(r.item, err)
		}
		goalID = sv.Goal
	}
	me := s.Self().MemberID
	_, err = s.write(ctx, r.item.Doc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		g, err := itemMap(root, KindGoal, goalID)
		if err != nil {
			return edit{}, err
		}
		m := g
		what := "the goal " + quote(getStr(g, "title"))
		e := edit{action: "done", kind: KindGoal, item: goalID, touched: []ItemRef{{KindGoal, goalID}}}
		if r.kind == KindStep {
			if m = getMap(g, "steps", r.id); m == nil {
				return edit{}, fmt.Errorf("no step with ID %q in its goal: %w", r.id, trustsync.ErrNotFound)
			}
			what = "the step " + quote(getStr(m, "text"))
			e.kind, e.item, e.goal = KindStep, r.id, goalID
		}
		if getBool(m, "done") {
			return edit{}, errNoChange
		}
		if err := setFields(m, "done", true, "done_by", me, "done_at", ms(s.now()).UnixMilli()); err != nil {
			return edit{}, err
		}
		e.summary = "marked " + what + " done"
		return e, nil
	})
	if err != nil {
		return "", fmt.Errorf("mark done: %w", err)
	}
	return r.kind, nil
}

// ArchiveGoal hides a goal; RestoreGoal brings it back.
func (s *Space) ArchiveGoal(ctx context.Context, id string) error {
	return s.setArchived(ctx, KindGoal, id, true)
}

// RestoreGoal undoes ArchiveGoal.
func (s *Space) RestoreGoal(ctx context.Context, id string) error {
	return s.setArchived(ctx, KindGoal, id, false)
}

// Goals lists goals, oldest first.
func (s *Space) Goals(ctx context.Context, opts ListOptions) ([]trustsync.Goal, error) {
	var out []trustsync.Goal
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		p, err := loadPeople(tx)
		if err != nil {
			return err
		}
		items, err := tx.Items(KindGoal)
		if err != nil {
			return err
		}
		out = make([]trustsync.Goal, 0, len(items))
		for _, it := range items {
			g, err := readGoal(it)
			if err != nil {
				return err
			}
			if g.Archived && !opts.All {
				continue
			}
			p.goal(&g)
			out = append(out, g)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list goals: %w", err)
	}
	oldestFirst(out, func(v trustsync.Goal) (time.Time, string) { return v.CreatedAt, v.ID })
	return out, nil
}

// Goal returns one goal by ID or prefix.
func (s *Space) Goal(ctx context.Context, id string) (trustsync.Goal, error) {
	var g trustsync.Goal
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		r, err := resolve(tx, id, KindGoal)
		if err != nil {
			return err
		}
		p, err := loadPeople(tx)
		if err != nil {
			return err
		}
		if g, err = readGoal(r.item); err != nil {
			return err
		}
		p.goal(&g)
		return nil
	})
	return g, err
}

// The view rows of a goal and its steps (see view.go for what rows leave out).

// stepView is a step's view row: the goal holding it. (The step itself is
// in its goal's row; rows written by earlier versions also hold the step.)
type stepView struct {
	Goal string `json:"goal"`
}

type stepRow struct {
	ID      string     `json:"id"`
	Text    string     `json:"text"`
	AddedBy personRow  `json:"added_by"`
	AddedAt time.Time  `json:"added_at"`
	Done    bool       `json:"done,omitempty"`
	DoneBy  *personRow `json:"done_by,omitempty"`
	DoneAt  time.Time  `json:"done_at,omitzero"`
}

type goalView struct {
	Title     string     `json:"title"`
	Why       string     `json:"why,omitempty"`
	CreatedBy personRow  `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	Done      bool       `json:"done,omitempty"`
	DoneBy    *personRow `json:"done_by,omitempty"`
	DoneAt    time.Time  `json:"done_at,omitzero"`
	Archived  bool       `json:"archived,omitempty"`
	Steps     []stepRow  `json:"steps,omitempty"`
}

func goalRow(g trustsync.Goal) goalView {
	v := goalView{Title: g.Title, Why: g.Why, CreatedBy: personRow{g.CreatedBy.ID}, CreatedAt: g.CreatedAt,
		Done: g.Done, DoneBy: personRowOf(g.DoneBy), DoneAt: g.DoneAt, Archived: g.Archived}
	for _, st := range g.Steps {
		v.Steps = append(v.Steps, stepRow{ID: st.ID, Text: st.Text, AddedBy: personRow{st.AddedBy.ID}, AddedAt: st.AddedAt,
			Done: st.Done, DoneBy: personRowOf(st.DoneBy), DoneAt: st.DoneAt})
	}
	return v
}

// readGoal decodes a goal's view row.
func readGoal(it trustsync.Item) (trustsync.Goal, error) {
	var g trustsync.Goal
	if err := json.Unmarshal(it.Data, &g); err != nil {
		return g, viewDamaged(it, err)
	}
	g.ID = it.ID
	if g.Steps == nil {
		g.Steps = []trustsync.Step{}
	}
	return g, nil
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
