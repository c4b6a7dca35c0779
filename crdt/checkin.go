package crdt

// Check-ins: one partner's regular note to the other, one document per
// month ([CheckInDoc]), acknowledged by the other partner.
//
// Feelings are stored as an Automerge list of strings under "feeling_list".
// Versions before it stored them only as a JSON array inside a string,
// under "feelings"; new check-ins keep writing that string too, so that a
// device still on such a version reads them, and readers take the list
// when there is one and the string otherwise. docs/DESIGN.md, "Check-in
// feelings", says why old check-ins are not rewritten.

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

// AddCheckIn records a check-in by this member. The mood is required
// (1..5); every text field may be empty.
func (s *Space) AddCheckIn(ctx context.Context, c trustsync.NewCheckIn) (string, error) {
	if !c.Mood.Valid() {
		return "", fmt.Errorf("add check-in: mood %d is outside 1..5: %w", c.Mood, trustsync.ErrInvalid)
	}
	feelings := []string{}
	for _, f := range c.Feelings {
		f, err := optionalLine("a feeling", f, MaxNameLen)
		if err != nil {
			return "", fmt.Errorf("add check-in: %w", err)
		}
		if f != "" {
			feelings = append(feelings, f)
		}
	}
	var texts [4]string
	for i, t := range []struct{ what, s string }{
		{"the note", c.Note}, {"the needs", c.Needs}, {"the concerns", c.Concerns}, {"the appreciation", c.Appreciation},
	} {
		var err error
		if texts[i], err = optionalText(t.what, t.s, MaxNoteLen); err != nil {
			return "", fmt.Errorf("add check-in: %w", err)
		}
	}
	legacy, err := json.Marshal(feelings)
	if err != nil {
		return "", fmt.Errorf("add check-in: %w", err)
	}
	id := newID()
	me := s.Self().MemberID
	at := ms(s.now())
	_, err = s.write(ctx, CheckInDoc(at), func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m := automerge.NewMap()
		if err := root.Set(id, m); err != nil {
			return edit{}, err
		}
		if err := setFields(m,
			"author", me,
			"created_at", at.UnixMilli(),
			"mood", int64(c.Mood),
			"feelings", string(legacy), // for devices on a version before feeling_list
			"note", texts[0], // a string, not a Text: only the author writes it
			"needs", texts[1],
			"concerns", texts[2],
			"appreciation", texts[3],
			"acks", automerge.NewMap(),
			"ack_at", automerge.NewMap(),
		); err != nil {
			return edit{}, err
		}
		if err := setFeelings(m, feelings); err != nil {
			return edit{}, err
		}
		return edit{action: "add", kind: KindCheckIn, item: id,
			summary: "checked in, feeling " + c.Mood.Word(),
			touched: []ItemRef{{KindCheckIn, id}}}, nil
	})
	if err != nil {
		return "", fmt.Errorf("add check-in: %w", err)
	}
	return id, nil
}

// CheckIns lists check-ins, newest first.
func (s *Space) CheckIns(ctx context.Context) ([]trustsync.CheckIn, error) {
	var out []trustsync.CheckIn
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		p, err := loadPeople(tx)
		if err != nil {
			return err
		}
		items, err := tx.Items(KindCheckIn)
		if err != nil {
			return err
		}
		out = make([]trustsync.CheckIn, len(items))
		for i, it := range items {
			if err := readCheckIn(it, &out[i]); err != nil {
				return err
			}
			p.checkIn(&out[i])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list check-ins: %w", err)
	}
	newestFirst(out, func(v trustsync.CheckIn) (time.Time, string) { return v.CreatedAt, v.ID })
	return out, nil
}

// CheckIn returns one check-in by ID or prefix.
func (s *Space) CheckIn(ctx context.Context, id string) (trustsync.CheckIn, error) {
	var c trustsync.CheckIn
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		r, err := resolve(tx, id, KindCheckIn)
		if err != nil {
			return err
		}
		p, err := loadPeople(tx)
		if err != nil {
			return err
		}
		if err := readCheckIn(r.item, &c); err != nil {
			return err
		}
		p.checkIn(&c)
		return nil
	})
	return c, err
}

// AckCheckIn records this member's acknowledgement of a check-in, with an
// optional reply. Acknowledging again replaces the reply.
func (s *Space) AckCheckIn(ctx context.Context, id, reply string) error {
	reply, err := optionalText("the reply", reply, MaxNoteLen)
	if err != nil {
		return fmt.Errorf("acknowledge check-in: %w", err)
	}
	r, err := s.resolveItem(ctx, id, KindCheckIn)
	if err != nil {
		return fmt.Errorf("acknowledge check-in: %w", err)
	}
	me := s.Self().MemberID
	_, err = s.write(ctx, r.item.Doc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m, err := itemMap(root, KindCheckIn, r.id)
		if err != nil {
			return edit{}, err
		}
		acks, ackAt, err := memberMaps(m, "acks", "ack_at")
		if err != nil {
			return edit{}, err
		}
		if v := getValue(acks, me); v != nil && strOf(v) == reply {
			return edit{}, errNoChange
		}
		if err := acks.Set(me, reply); err != nil {
			return edit{}, err
		}
		if err := setTime(ackAt, me, s.now()); err != nil {
			return edit{}, err
		}
		summary := "acknowledged the check-in"
		if reply != "" {
			summary += " and replied " + quote(reply)
		}
		return edit{action: "ack", kind: KindCheckIn, item: r.id, summary: summary,
			touched: []ItemRef{{KindCheckIn, r.id}}}, nil
	})
	if err != nil {
		return fmt.Errorf("acknowledge check-in: %w", err)
	}
	return nil
}

// setFeelings writes a new check-in's feelings as a list of strings.
func setFeelings(m *automerge.Map, feelings []string) error {
	l := automerge.NewList()
	if err := m.Set("feeling_list", l); err != nil {
		return err
	}
	for _, f := range feelings {
		if err := l.Append(f); err != nil {
			return err
		}
	}
	return nil
}

// readFeelings reads a check-in's feelings: the list when there is one,
// else the JSON array in a string that earlier versions wrote; never nil.
// Values that are not strings, or a string that is not such an array, are
// left out.
func readFeelings(m *automerge.Map) []string {
	out := []string{}
	if v := getValue(m, "feeling_list"); v != nil && v.Kind() == automerge.KindList {
		vals, err := v.List().Values()
		if err == nil {
			for _, f := range vals {
				if f.Kind() == automerge.KindStr {
					out = append(out, f.Str())
				}
			}
			return out
		}
	}
	if f := getStr(m, "feelings"); f != "" {
		var list []string
		if json.Unmarshal([]byte(f), &list) == nil {
			out = append(out, list...)
		}
	}
	return out
}

// The view row of a check-in (see view.go for what rows leave out).

type ackRow struct {
	By    personRow `json:"by"`
	At    time.Time `json:"at"`
	Reply string    `json:"reply,omitempty"`
}

type checkInView struct {
	Author       personRow      `json:"author"`
	CreatedAt    time.Time      `json:"created_at"`
	Mood         trustsync.Mood `json:"mood"`
	Feelings     []string       `json:"feelings,omitempty"`
	Note         string         `json:"note,omitempty"`
	Needs        string         `json:"needs,omitempty"`
	Concerns     string         `json:"concerns,omitempty"`
	Appreciation string         `json:"appreciation,omitempty"`
	Acks         []ackRow       `json:"acks,omitempty"`
}

func checkInRow(c trustsync.CheckIn) checkInView {
	v := checkInView{Author: personRow{c.Author.ID}, CreatedAt: c.CreatedAt, Mood: c.Mood, Feelings: c.Feelings,
		Note: c.Note, Needs: c.Needs, Concerns: c.Concerns, Appreciation: c.Appreciation}
	for _, a := range c.Acks {
		v.Acks = append(v.Acks, ackRow{By: personRow{a.By.ID}, At: a.At, Reply: a.Reply})
	}
	return v
}

// readCheckIn decodes a check-in's view row.
func readCheckIn(it trustsync.Item, c *trustsync.CheckIn) error {
	if err := json.Unmarshal(it.Data, c); err != nil {
		return viewDamaged(it, err)
	}
	c.ID = it.ID
	if c.Feelings == nil {
		c.Feelings = []string{}
	}
	if c.Acks == nil {
		c.Acks = []trustsync.Ack{}
	}
	return nil
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
		Feelings:     readFeelings(m),
		Note:         getStr(m, "note"),
		Needs:        getStr(m, "needs"),
		Concerns:     getStr(m, "concerns"),
		Appreciation: getStr(m, "appreciation"),
		Acks:         []trustsync.Ack{},
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
