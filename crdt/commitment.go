package crdt

// Commitments: small promises one partner makes ("I will tell you when my
// plans change"), with a plain timeline of the times it was kept or missed,
// each acknowledged by the other partner. There is no score, no streak and
// no percentage: only dated entries in words.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// entryView is a commitment entry's view row: the commitment holding it.
type entryView struct {
	Commitment string `json:"commitment"`
}

// AddCommitment records a small promise made by this member.
func (s *Space) AddCommitment(ctx context.Context, text string) (string, error) {
	text, err := cleanText("the commitment", text, MaxTextLen)
	if err != nil {
		return "", fmt.Errorf("add commitment: %w", err)
	}
	id := newID()
	me := s.Self().MemberID
	_, err = s.write(ctx, CommitmentsDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m := automerge.NewMap()
		if err := root.Set(id, m); err != nil {
			return edit{}, err
		}
		if err := setFields(m,
			"text", text,
			"made_by", me,
			"made_at", s.now().UnixMilli(),
			"entries", automerge.NewMap(),
		); err != nil {
			return edit{}, err
		}
		return edit{action: "add", kind: KindCommitment, item: id,
			summary: "committed to " + quote(text),
			touched: []ItemRef{{KindCommitment, id}}}, nil
	})
	if err != nil {
		return "", fmt.Errorf("add commitment: %w", err)
	}
	return id, nil
}

// RecordCommitment adds a dated entry to a commitment: kept, or missed, with
// an optional note. Either partner may write one; the other acknowledges it.
// It returns the entry's ID.
func (s *Space) RecordCommitment(ctx context.Context, id string, kept bool, note string) (string, error) {
	note, err := optionalText("the note", note, MaxNoteLen)
	if err != nil {
		return "", fmt.Errorf("record commitment: %w", err)
	}
	r, err := s.resolveItem(ctx, id, KindCommitment)
	if err != nil {
		return "", fmt.Errorf("record commitment: %w", err)
	}
	eid := newID()
	me := s.Self().MemberID
	_, err = s.write(ctx, CommitmentsDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m, err := itemMap(root, KindCommitment, r.id)
		if err != nil {
			return edit{}, err
		}
		entries := getMap(m, "entries")
		if entries == nil {
			entries = automerge.NewMap()
			if err := m.Set("entries", entries); err != nil {
				return edit{}, err
			}
		}
		em := automerge.NewMap()
		if err := entries.Set(eid, em); err != nil {
			return edit{}, err
		}
		outcome := "missed"
		if kept {
			outcome = "kept"
		}
		if err := setFields(em,
			"outcome", outcome,
			"note", note,
			"by", me,
			"at", s.now().UnixMilli(),
			"acks", automerge.NewMap(),
			"ack_at", automerge.NewMap(),
		); err != nil {
			return edit{}, err
		}
		summary := "noted a time the commitment " + quote(getStr(m, "text")) + " was " + outcome
		if note != "" {
			summary += ": " + quote(note)
		}
		return edit{action: outcome, kind: KindCommitmentEntry, item: eid, goal: r.id, summary: summary,
			touched: []ItemRef{{KindCommitment, r.id}}}, nil
	})
	if err != nil {
		return "", fmt.Errorf("record commitment: %w", err)
	}
	return eid, nil
}

// AckCommitmentEntry records this member's acknowledgement of an entry the
// other partner wrote, with an optional reply. Acknowledging again replaces
// the reply.
func (s *Space) AckCommitmentEntry(ctx context.Context, entryID, reply string) error {
	reply, err := optionalText("the reply", reply, MaxNoteLen)
	if err != nil {
		return fmt.Errorf("acknowledge entry: %w", err)
	}
	var cid, eid string
	err = s.view(ctx, func(tx trustsync.ReadTx) error {
		r, err := resolve(tx, entryID, KindCommitmentEntry)
		if err != nil {
			return err
		}
		var ev entryView
		if err := readRow(r.item, &ev); err != nil {
			return err
		}
		cid, eid = ev.Commitment, r.id
		return nil
	})
	if err != nil {
		return fmt.Errorf("acknowledge entry: %w", err)
	}
	me := s.Self().MemberID
	_, err = s.write(ctx, CommitmentsDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		em := getMap(root, cid, "entries", eid)
		if em == nil {
			return edit{}, fmt.Errorf("no entry with ID %q in its document: %w", eid, trustsync.ErrNotFound)
		}
		if getStr(em, "by") == me {
			return edit{}, fmt.Errorf("entry %s is your own: your partner acknowledges it: %w", short(eid), trustsync.ErrInvalid)
		}
		if err := setAck(em, me, reply, s.now()); err != nil {
			return edit{}, err
		}
		what := "that the commitment " + quote(getStr(getMap(root, cid), "text")) + " was " + getStr(em, "outcome")
		return edit{action: "ack", kind: KindCommitmentEntry, item: eid, goal: cid, summary: ackSummary(what, reply),
			touched: []ItemRef{{KindCommitment, cid}}}, nil
	})
	if err != nil {
		return fmt.Errorf("acknowledge entry: %w", err)
	}
	return nil
}

// Commitments lists commitments, oldest first, each with its entries.
func (s *Space) Commitments(ctx context.Context) ([]trustsync.Commitment, error) {
	out, err := listRows(s, ctx, KindCommitment, readCommitment)
	if err != nil {
		return nil, fmt.Errorf("list commitments: %w", err)
	}
	oldestFirst(out, func(v trustsync.Commitment) (time.Time, string) { return v.MadeAt, v.ID })
	return out, nil
}

// Commitment returns one commitment by ID or prefix.
func (s *Space) Commitment(ctx context.Context, id string) (trustsync.Commitment, error) {
	return oneRow(s, ctx, id, KindCommitment, readCommitment)
}

// CommitmentEntry returns the commitment holding an entry (given its ID or
// prefix) and the entry.
func (s *Space) CommitmentEntry(ctx context.Context, entryID string) (trustsync.Commitment, trustsync.CommitmentEntry, error) {
	var cid, eid string
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		r, err := resolve(tx, entryID, KindCommitmentEntry)
		if err != nil {
			return err
		}
		var ev entryView
		if err := readRow(r.item, &ev); err != nil {
			return err
		}
		cid, eid = ev.Commitment, r.id
		return nil
	})
	if err != nil {
		return trustsync.Commitment{}, trustsync.CommitmentEntry{}, err
	}
	c, err := s.Commitment(ctx, cid)
	if err != nil {
		return trustsync.Commitment{}, trustsync.CommitmentEntry{}, err
	}
	for _, e := range c.Entries {
		if e.ID == eid {
			return c, e, nil
		}
	}
	return trustsync.Commitment{}, trustsync.CommitmentEntry{}, fmt.Errorf("no entry with ID %q: %w", entryID, trustsync.ErrNotFound)
}

func readCommitment(it trustsync.Item, p people) (trustsync.Commitment, error) {
	var c trustsync.Commitment
	if err := readRow(it, &c); err != nil {
		return c, err
	}
	c.ID = it.ID
	p.fill(&c.MadeBy)
	if c.Entries == nil {
		c.Entries = []trustsync.CommitmentEntry{}
	}
	for i := range c.Entries {
		e := &c.Entries[i]
		p.fill(&e.By)
		if e.Acks == nil {
			e.Acks = []trustsync.Ack{}
		}
		p.acks(e.Acks)
	}
	return c, nil
}

func commitmentFromDoc(root *automerge.Map, id string) (trustsync.Commitment, bool) {
	m := getMap(root, id)
	if m == nil {
		return trustsync.Commitment{}, false
	}
	c := trustsync.Commitment{
		ID:      id,
		Text:    getStr(m, "text"),
		MadeBy:  trustsync.Person{ID: getStr(m, "made_by")},
		MadeAt:  getTime(m, "made_at"),
		Entries: []trustsync.CommitmentEntry{},
	}
	if entries := getMap(m, "entries"); entries != nil {
		vals, _ := entries.Values()
		for eid, v := range vals {
			if v.Kind() != automerge.KindMap {
				continue
			}
			em := v.Map()
			c.Entries = append(c.Entries, trustsync.CommitmentEntry{
				ID:         eid,
				Commitment: id,
				Kept:       getStr(em, "outcome") == "kept",
				Note:       getStr(em, "note"),
				By:         trustsync.Person{ID: getStr(em, "by")},
				At:         getTime(em, "at"),
				Acks:       readAcks(em, "acks", "ack_at"),
			})
		}
	}
	slices.SortFunc(c.Entries, func(x, y trustsync.CommitmentEntry) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return c, true
}
