package crdt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// ParseCadence reads a cadence as a person writes it: every is "daily" or
// "weekly"; day names the weekday of a weekly rhythm ("sunday", "sun") and
// must be empty for a daily one.
func ParseCadence(every, day string) (trustsync.Cadence, error) {
	every = strings.ToLower(strings.TrimSpace(every))
	day = strings.ToLower(strings.TrimSpace(day))
	switch every {
	case "daily":
		if day != "" {
			return trustsync.Cadence{}, fmt.Errorf("a daily rhythm has no day: %w", trustsync.ErrInvalid)
		}
		return trustsync.Cadence{Every: "daily"}, nil
	case "weekly":
		if day == "" {
			return trustsync.Cadence{}, fmt.Errorf("a weekly rhythm needs a day, such as sunday: %w", trustsync.ErrInvalid)
		}
		for d := time.Sunday; d <= time.Saturday; d++ {
			name := strings.ToLower(d.String())
			if day == name || (len(day) >= 3 && strings.HasPrefix(name, day)) {
				return trustsync.Cadence{Every: "weekly", Day: d}, nil
			}
		}
		return trustsync.Cadence{}, fmt.Errorf("%q is not a day of the week: %w", day, trustsync.ErrInvalid)
	}
	return trustsync.Cadence{}, fmt.Errorf("%q is not a rhythm: use daily or weekly: %w", every, trustsync.ErrInvalid)
}

// cadenceKey is the cadence as stored, and as agreed to: "daily",
// "weekly:sunday".
func cadenceKey(c trustsync.Cadence) string {
	if c.Every == "weekly" {
		return "weekly:" + strings.ToLower(c.Day.String())
	}
	return c.Every
}

// cadenceOf reads a stored cadence; ok is false for one this build does
// not know (written by a newer version).
func cadenceOf(key string) (trustsync.Cadence, bool) {
	every, day, _ := strings.Cut(key, ":")
	c, err := ParseCadence(every, day)
	return c, err == nil
}

// currentRhythm returns the key of the rhythm item in effect in the rhythm
// document: the one set most recently. Two devices that set a rhythm before
// ever syncing create two items; every device picks the same one.
func currentRhythm(root *automerge.Map) string {
	keys, _ := root.Keys()
	best, bestAt := "", int64(-1)
	for _, k := range keys {
		m := getMap(root, k)
		if isMetaKey(k) || m == nil {
			continue
		}
		at, _ := getInt(m, "set_at")
		if at > bestAt || (at == bestAt && k > best) {
			best, bestAt = k, at
		}
	}
	return best
}

// SetRhythm proposes a check-in cadence, or changes the one in effect.
// Setting it is not agreeing to it: each partner agrees with AgreeRhythm,
// and a change asks both again.
func (s *Space) SetRhythm(ctx context.Context, c trustsync.Cadence) error {
	c, err := ParseCadence(c.Every, dayName(c))
	if err != nil {
		return fmt.Errorf("set rhythm: %w", err)
	}
	me := s.Self().MemberID
	_, err = s.write(ctx, RhythmDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		at := s.now()
		id := currentRhythm(root)
		if id == "" {
			id = newID()
			m := automerge.NewMap()
			if err := root.Set(id, m); err != nil {
				return edit{}, err
			}
			if err := setFields(m,
				"cadence", cadenceKey(c),
				"set_by", me,
				"set_at", at.UnixMilli(),
				"agree", automerge.NewMap(),
				"agree_at", automerge.NewMap(),
			); err != nil {
				return edit{}, err
			}
		} else {
			m := getMap(root, id)
			if getStr(m, "cadence") == cadenceKey(c) {
				return edit{}, errNoChange
			}
			if err := setFields(m, "cadence", cadenceKey(c), "set_by", me, "set_at", at.UnixMilli()); err != nil {
				return edit{}, err
			}
		}
		return edit{action: "set", kind: KindRhythm, item: id,
			summary: "proposed checking in " + c.String(),
			touched: []ItemRef{{KindRhythm, id}}}, nil
	})
	if err != nil {
		return fmt.Errorf("set rhythm: %w", err)
	}
	return nil
}

func dayName(c trustsync.Cadence) string {
	if c.Every == "weekly" {
		return c.Day.String()
	}
	return ""
}

// AgreeRhythm records this member's agreement to the cadence in effect,
// whatever it is. An app that showed the cadence first should call
// [Space.AgreeRhythmCadence] instead.
func (s *Space) AgreeRhythm(ctx context.Context) error {
	return s.agreeRhythm(ctx, nil)
}

// AgreeRhythmCadence records this member's agreement to the rhythm only if
// the cadence in effect is seen, the one the member was shown. Otherwise
// nothing is recorded and the error wraps a [*TextChangedError] (and
// [ErrTextChanged]) whose Current is the cadence in effect, in words.
func (s *Space) AgreeRhythmCadence(ctx context.Context, seen trustsync.Cadence) error {
	return s.agreeRhythm(ctx, &seen)
}

// agreeRhythm records the agreement; seen, when not nil, is the cadence
// the agreement is bound to.
func (s *Space) agreeRhythm(ctx context.Context, seen *trustsync.Cadence) error {
	me := s.Self().MemberID
	_, err := s.write(ctx, RhythmDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		id := currentRhythm(root)
		if id == "" {
			return edit{}, fmt.Errorf("no check-in rhythm is set yet: %w", trustsync.ErrNotFound)
		}
		m := getMap(root, id)
		key := getStr(m, "cadence")
		if seen != nil && cadenceKey(*seen) != key {
			now := key
			if c, ok := cadenceOf(key); ok {
				now = c.String()
			}
			return edit{}, &TextChangedError{Kind: KindRhythm, ID: id, Seen: seen.String(), Current: now}
		}
		agree, agreeAt, err := memberMaps(m, "agree", "agree_at")
		if err != nil {
			return edit{}, err
		}
		if v := getValue(agree, me); v != nil && strOf(v) == key {
			return edit{}, errNoChange
		}
		if err := agree.Set(me, key); err != nil {
			return edit{}, err
		}
		if err := setTime(agreeAt, me, s.now()); err != nil {
			return edit{}, err
		}
		words := key
		if c, ok := cadenceOf(key); ok {
			words = c.String()
		}
		return edit{action: "agree", kind: KindRhythm, item: id,
			summary: "agreed to check in " + words,
			touched: []ItemRef{{KindRhythm, id}}}, nil
	})
	if err != nil {
		return fmt.Errorf("agree to rhythm: %w", err)
	}
	return nil
}

// Rhythm returns the check-in rhythm in effect, or an error wrapping
// trustsync.ErrNotFound when none was set.
func (s *Space) Rhythm(ctx context.Context) (trustsync.Rhythm, error) {
	var out trustsync.Rhythm
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		p, err := loadPeople(tx)
		if err != nil {
			return err
		}
		items, err := tx.Items(KindRhythm)
		if err != nil {
			return err
		}
		found := false
		for _, it := range items {
			var r trustsync.Rhythm
			if err := readRow(it, &r); err != nil {
				return err
			}
			r.ID = it.ID
			if !found || r.SetAt.After(out.SetAt) || (r.SetAt.Equal(out.SetAt) && r.ID > out.ID) {
				out, found = r, true
			}
		}
		if !found {
			return fmt.Errorf("no check-in rhythm is set yet: %w", trustsync.ErrNotFound)
		}
		p.fill(&out.SetBy)
		for i := range out.Agreements {
			p.fill(&out.Agreements[i].By)
		}
		out.Agreed = p.agreedByBoth(out.Agreements)
		return nil
	})
	return out, err
}

func rhythmFromDoc(root *automerge.Map, id string) (trustsync.Rhythm, bool) {
	m := getMap(root, id)
	if m == nil {
		return trustsync.Rhythm{}, false
	}
	key := getStr(m, "cadence")
	c, _ := cadenceOf(key)
	r := trustsync.Rhythm{
		ID:         id,
		Cadence:    c,
		Stored:     key,
		SetBy:      trustsync.Person{ID: getStr(m, "set_by")},
		SetAt:      getTime(m, "set_at"),
		Agreements: []trustsync.Agreement{},
	}
	if agree := getMap(m, "agree"); agree != nil {
		at := getMap(m, "agree_at")
		vals, _ := agree.Values()
		for member, v := range vals {
			r.Agreements = append(r.Agreements, trustsync.Agreement{
				By: trustsync.Person{ID: member}, At: getTime(at, member), Current: strOf(v) == key,
			})
		}
	}
	slices.SortFunc(r.Agreements, func(x, y trustsync.Agreement) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		return strings.Compare(x.By.ID, y.By.ID)
	})
	return r, true
}

// Due says where this member stands with the agreed rhythm at a moment,
// computed on this device alone from what it holds: no network, no server.
type Due struct {
	// Rhythm is the rhythm in effect; HasRhythm is false when none was set.
	Rhythm    trustsync.Rhythm
	HasRhythm bool
	// Next is the start of the day (in the location of the time given to
	// Space.Due) when this member's next check-in is due. Zero while the
	// rhythm is not agreed by both.
	Next time.Time
	// Now is set when a check-in is due today or has been since Next.
	Now bool
	// Last is when this member last checked in, zero for never.
	Last time.Time
	// Waiting holds the partner's check-ins this member has not
	// acknowledged yet, newest first.
	Waiting []trustsync.CheckIn
}

// Due computes, at the moment at and in its location, when this member's
// next check-in is due under the agreed rhythm, and which of the partner's
// check-ins wait for this member's acknowledgement. It never fails for want
// of a rhythm: without an agreed one, Next is zero.
//
// The days of a rhythm are its occasions: every day, or every week on its
// day, from midnight. A check-in is due from the latest occasion on or
// before at, unless this member checked in since then, or the rhythm was
// agreed only after it; then the next occasion is when it is due.
func (s *Space) Due(ctx context.Context, at time.Time) (Due, error) {
	var d Due
	r, err := s.Rhythm(ctx)
	switch {
	case err == nil:
		d.Rhythm, d.HasRhythm = r, true
	case !errors.Is(err, trustsync.ErrNotFound):
		return Due{}, fmt.Errorf("due: %w", err)
	}
	cs, err := s.CheckIns(ctx)
	if err != nil {
		return Due{}, fmt.Errorf("due: %w", err)
	}
	members, err := s.memberIDs(ctx)
	if err != nil {
		return Due{}, fmt.Errorf("due: %w", err)
	}
	me := s.Self().MemberID
	d.Waiting = []trustsync.CheckIn{}
	for _, c := range cs {
		if c.Author.ID == me {
			if c.CreatedAt.After(d.Last) {
				d.Last = c.CreatedAt
			}
			continue
		}
		if !members[c.Author.ID] {
			continue // not the partner's
		}
		acked := false
		for _, a := range c.Acks {
			acked = acked || a.By.ID == me
		}
		if !acked {
			d.Waiting = append(d.Waiting, c)
		}
	}
	if !d.HasRhythm || !r.Agreed || r.Cadence.Every == "" {
		return d, nil
	}
	loc := at.Location()
	midnight := func(t time.Time) time.Time {
		t = t.In(loc)
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	}
	days := 1
	occ := midnight(at)
	if r.Cadence.Every == "weekly" {
		days = 7
		back := (int(occ.Weekday()) - int(r.Cadence.Day) + 7) % 7
		occ = occ.AddDate(0, 0, -back)
	}
	var agreed time.Time
	for _, a := range r.Agreements {
		if a.Current && a.At.After(agreed) {
			agreed = a.At
		}
	}
	if occ.Before(midnight(agreed)) || !d.Last.Before(occ) {
		d.Next = occ.AddDate(0, 0, days)
		return d, nil
	}
	d.Next, d.Now = occ, true
	return d, nil
}
