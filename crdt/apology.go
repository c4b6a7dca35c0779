package crdt

import (
	"context"
	"fmt"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// WriteApology records an apology by this member.
func (s *Space) WriteApology(ctx context.Context, a trustsync.NewApology) (string, error) {
	happened, err := cleanText("what happened", a.Happened, MaxNoteLen)
	if err != nil {
		return "", fmt.Errorf("write apology: %w", err)
	}
	var texts [3]string
	for i, t := range []struct{ what, s string }{
		{"the impact", a.Impact}, {"the responsibility", a.Responsibility}, {"what you will do differently", a.Different},
	} {
		if texts[i], err = optionalText(t.what, t.s, MaxNoteLen); err != nil {
			return "", fmt.Errorf("write apology: %w", err)
		}
	}
	id := newID()
	me := s.Self().MemberID
	_, err = s.write(ctx, ApologiesDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m := automerge.NewMap()
		if err := root.Set(id, m); err != nil {
			return edit{}, err
		}
		if err := setFields(m,
			"author", me,
			"written_at", s.now().UnixMilli(),
			"happened", happened,
			"impact", texts[0],
			"responsibility", texts[1],
			"different", texts[2],
			"acks", automerge.NewMap(),
			"ack_at", automerge.NewMap(),
		); err != nil {
			return edit{}, err
		}
		return edit{action: "add", kind: KindApology, item: id,
			summary: "wrote an apology about " + quote(happened),
			touched: []ItemRef{{KindApology, id}}}, nil
	})
	if err != nil {
		return "", fmt.Errorf("write apology: %w", err)
	}
	return id, nil
}

// AckApology records that this member read the other's apology, with an
// optional reply. The author cannot acknowledge their own apology.
func (s *Space) AckApology(ctx context.Context, id, reply string) error {
	reply, err := optionalText("the reply", reply, MaxNoteLen)
	if err != nil {
		return fmt.Errorf("acknowledge apology: %w", err)
	}
	r, err := s.resolveItem(ctx, id, KindApology)
	if err != nil {
		return fmt.Errorf("acknowledge apology: %w", err)
	}
	me := s.Self().MemberID
	_, err = s.write(ctx, ApologiesDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m, err := itemMap(root, KindApology, r.id)
		if err != nil {
			return edit{}, err
		}
		if getStr(m, "author") == me {
			return edit{}, fmt.Errorf("apology %s is your own: only your partner can acknowledge it: %w", short(r.id), trustsync.ErrInvalid)
		}
		if err := setAck(m, me, reply, s.now()); err != nil {
			return edit{}, err
		}
		return edit{action: "ack", kind: KindApology, item: r.id,
			summary: ackSummary("the apology about "+quote(getStr(m, "happened")), reply),
			touched: []ItemRef{{KindApology, r.id}}}, nil
	})
	if err != nil {
		return fmt.Errorf("acknowledge apology: %w", err)
	}
	return nil
}

// Apologies lists apologies, newest first.
func (s *Space) Apologies(ctx context.Context) ([]trustsync.Apology, error) {
	out, err := listRows(s, ctx, KindApology, readApology)
	if err != nil {
		return nil, fmt.Errorf("list apologies: %w", err)
	}
	newestFirst(out, func(v trustsync.Apology) (time.Time, string) { return v.WrittenAt, v.ID })
	return out, nil
}

// Apology returns one apology by ID or prefix.
func (s *Space) Apology(ctx context.Context, id string) (trustsync.Apology, error) {
	return oneRow(s, ctx, id, KindApology, readApology)
}

func readApology(it trustsync.Item, p people) (trustsync.Apology, error) {
	var a trustsync.Apology
	if err := readRow(it, &a); err != nil {
		return a, err
	}
	a.ID = it.ID
	p.fill(&a.Author)
	if a.Acks == nil {
		a.Acks = []trustsync.Ack{}
	}
	p.acks(a.Acks)
	return a, nil
}

func apologyFromDoc(root *automerge.Map, id string) (trustsync.Apology, bool) {
	m := getMap(root, id)
	if m == nil {
		return trustsync.Apology{}, false
	}
	return trustsync.Apology{
		ID:             id,
		Author:         trustsync.Person{ID: getStr(m, "author")},
		WrittenAt:      getTime(m, "written_at"),
		Happened:       getStr(m, "happened"),
		Impact:         getStr(m, "impact"),
		Responsibility: getStr(m, "responsibility"),
		Different:      getStr(m, "different"),
		Acks:           readAcks(m, "acks", "ack_at"),
	}, true
}
