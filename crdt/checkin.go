package crdt

import (
	"context"
	"encoding/json"
	"fmt"
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
	fj, err := json.Marshal(feelings)
	if err != nil {
		return "", err
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
			"feelings", string(fj),
			"note", texts[0], // a string, not a Text: only the author writes it
			"needs", texts[1],
			"concerns", texts[2],
			"appreciation", texts[3],
			"acks", automerge.NewMap(),
			"ack_at", automerge.NewMap(),
		); err != nil {
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
