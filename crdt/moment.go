package crdt

import (
	"context"
	"fmt"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// AddMoment notes a good moment, or with thanks set, an appreciation.
func (s *Space) AddMoment(ctx context.Context, text string, thanks bool) (string, error) {
	text, err := cleanText("the moment", text, MaxTextLen)
	if err != nil {
		return "", fmt.Errorf("add moment: %w", err)
	}
	id := newID()
	me := s.Self().MemberID
	_, err = s.write(ctx, MomentsDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m := automerge.NewMap()
		if err := root.Set(id, m); err != nil {
			return edit{}, err
		}
		if err := setFields(m,
			"text", text,
			"thanks", thanks,
			"by", me,
			"at", s.now().UnixMilli(),
		); err != nil {
			return edit{}, err
		}
		summary := "noted a good moment: " + quote(text)
		if thanks {
			summary = "said thank you: " + quote(text)
		}
		return edit{action: "add", kind: KindMoment, item: id, summary: summary,
			touched: []ItemRef{{KindMoment, id}}}, nil
	})
	if err != nil {
		return "", fmt.Errorf("add moment: %w", err)
	}
	return id, nil
}

// Moments lists the moments and thanks, newest first.
func (s *Space) Moments(ctx context.Context) ([]trustsync.Moment, error) {
	out, err := listRows(s, ctx, KindMoment, func(it trustsync.Item, p people) (trustsync.Moment, error) {
		var m trustsync.Moment
		if err := readRow(it, &m); err != nil {
			return m, err
		}
		m.ID = it.ID
		p.fill(&m.By)
		return m, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list moments: %w", err)
	}
	newestFirst(out, func(v trustsync.Moment) (time.Time, string) { return v.At, v.ID })
	return out, nil
}

func momentFromDoc(root *automerge.Map, id string) (trustsync.Moment, bool) {
	m := getMap(root, id)
	if m == nil {
		return trustsync.Moment{}, false
	}
	return trustsync.Moment{
		ID:     id,
		Text:   getStr(m, "text"),
		Thanks: getBool(m, "thanks"),
		By:     trustsync.Person{ID: getStr(m, "by")},
		At:     getTime(m, "at"),
	}, true
}
