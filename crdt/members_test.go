package crdt_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// secondDevice builds the couple of the bug report: Alex's phone and Sam's
// laptop are paired, and Alex's laptop -- initialised as Alex, so with a
// member of its own -- joins as a further device of Alex through the phone.
func secondDevice(t *testing.T) (phone, sam, laptop *crdt.Space, laptopStore trustsync.Store) {
	t.Helper()
	c := newClock()
	phone, _ = newSpaceAt(t, c, "Alex", "alex-phone")
	sam, _ = newSpaceAt(t, c, "Sam", "sam-laptop")
	laptop, laptopStore = newSpaceAt(t, c, "Alex", "alex-laptop")
	joinLikePairing(t, phone, sam, nil)
	alex := phone.Self()
	joinLikePairing(t, phone, laptop, &trustsync.Person{ID: alex.MemberID, Name: alex.MemberName})
	syncAll(t, phone, sam)
	syncAll(t, phone, laptop)
	return phone, sam, laptop, laptopStore
}

// memberRows returns the member rows of a store's view.
func memberRows(t *testing.T, st trustsync.Store) []trustsync.Item {
	t.Helper()
	var items []trustsync.Item
	noErr(t, st.View(context.Background(), func(tx trustsync.ReadTx) error {
		var err error
		items, err = tx.Items(crdt.KindMember)
		return err
	}))
	return items
}

// checkBothAgreed checks, on every space, what a user of that device
// sees: two members, the boundary and the rhythm agreed by both, the
// rhythm due, and a question answered by both.
func checkBothAgreed(t *testing.T, boundary, question string, spaces ...*crdt.Space) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	for _, s := range spaces {
		name := s.Self().DeviceName
		if ms := must[[]trustsync.Member](t)(s.Members(ctx)); len(ms) != 2 {
			t.Errorf("%s: %d members: %+v", name, len(ms), ms)
		}
		if b := mustBoundary(t, s, boundary); !b.Agreed || len(b.Agreements) != 2 {
			t.Errorf("%s: boundary agreed by both is not agreed: %+v", name, b)
		}
		if r := must[trustsync.Rhythm](t)(s.Rhythm(ctx)); !r.Agreed {
			t.Errorf("%s: rhythm agreed by both is not agreed: %+v", name, r)
		}
		if d := must[crdt.Due](t)(s.Due(ctx, at)); d.Next.IsZero() {
			t.Errorf("%s: due sees no agreed rhythm: %+v", name, d)
		}
		if q := must[trustsync.Question](t)(s.Question(ctx, question)); !q.Both {
			t.Errorf("%s: question answered by both is not: %+v", name, q)
		}
	}
}

// A further device of a person shows what both partners agreed as agreed:
// joining leaves no third member, in the space document or in the view.
func TestSpace_JoinAs_TwoMembersOnEveryDevice(t *testing.T) {
	ctx := context.Background()
	phone, sam, laptop, laptopStore := secondDevice(t)

	b := must[string](t)(phone.AddBoundary(ctx, "We say when we need a pause."))
	noErr(t, phone.AgreeBoundary(ctx, b))
	noErr(t, phone.SetRhythm(ctx, weekly(t, "sunday")))
	noErr(t, phone.AgreeRhythm(ctx))
	q := must[string](t)(phone.AskQuestion(ctx, "What helped you most this month?"))
	noErr(t, phone.AnswerQuestion(ctx, q, "Walking together."))
	syncAll(t, phone, sam)
	noErr(t, sam.AgreeBoundary(ctx, b))
	noErr(t, sam.AgreeRhythm(ctx))
	noErr(t, sam.AnswerQuestion(ctx, q, "Your notes."))
	syncAll(t, phone, sam)
	syncAll(t, phone, laptop)

	checkBothAgreed(t, b, q, phone, sam, laptop)
	if rows := memberRows(t, laptopStore); len(rows) != 2 {
		t.Errorf("the laptop's view holds %d member rows, want 2: %s", len(rows), rows)
	}
	// Sam waits for nothing from the laptop that is not Alex's; the laptop
	// sees Sam's check-in as Alex's to acknowledge.
	ci := must[string](t)(sam.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Note: "Good week."}))
	syncAll(t, phone, sam)
	syncAll(t, phone, laptop)
	d := must[crdt.Due](t)(laptop.Due(ctx, time.Now()))
	if len(d.Waiting) != 1 || d.Waiting[0].ID != ci {
		t.Errorf("laptop: waiting %+v, want Sam's check-in %s", d.Waiting, ci)
	}
}

// A home joined by an earlier version still holds the view row of the
// member it was initialised with. Reading ignores that row at once; the
// next change of the space document deletes it.
func TestSpace_JoinAs_StrayRowOfEarlierVersions(t *testing.T) {
	ctx := context.Background()
	phone, sam, laptop, laptopStore := secondDevice(t)
	b := must[string](t)(phone.AddBoundary(ctx, "We say when we need a pause."))
	noErr(t, phone.AgreeBoundary(ctx, b))
	noErr(t, phone.SetRhythm(ctx, weekly(t, "sunday")))
	noErr(t, phone.AgreeRhythm(ctx))
	q := must[string](t)(phone.AskQuestion(ctx, "What helped you most this month?"))
	noErr(t, phone.AnswerQuestion(ctx, q, "Walking together."))
	syncAll(t, phone, sam)
	noErr(t, sam.AgreeBoundary(ctx, b))
	noErr(t, sam.AgreeRhythm(ctx))
	noErr(t, sam.AnswerQuestion(ctx, q, "Your notes."))
	syncAll(t, phone, sam)
	syncAll(t, phone, laptop)

	// What the earlier JoinAs left: the member row Create wrote.
	stray, _ := json.Marshal(trustsync.Member{Person: trustsync.Person{ID: "0123456789abcdef0123456789abcdef", Name: "Alex"},
		JoinedAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)})
	noErr(t, laptopStore.Update(ctx, func(tx trustsync.Tx) error {
		return tx.PutItem(trustsync.Item{Kind: crdt.KindMember, ID: "0123456789abcdef0123456789abcdef", Doc: crdt.SpaceDoc, Data: stray})
	}))
	noErr(t, laptop.Close())
	upgraded, err := crdt.Open(ctx, laptopStore, crdt.Options{})
	noErr(t, err)
	t.Cleanup(func() { upgraded.Close() })
	if rows := memberRows(t, laptopStore); len(rows) != 3 {
		t.Fatalf("the stray row was not put back: %d rows", len(rows))
	}
	checkBothAgreed(t, b, q, upgraded)

	noErr(t, upgraded.SetDevicePeer(ctx, "peerL"))
	if rows := memberRows(t, laptopStore); len(rows) != 2 {
		t.Errorf("after a change of the space document the view holds %d member rows, want 2", len(rows))
	}
	checkBothAgreed(t, b, q, upgraded)
}

// A member row or an answer under an ID that is not a member of the space
// never makes a rule of both partners hold.
func TestSpace_BothCountsMembersByID(t *testing.T) {
	ctx := context.Background()
	sam, alex := newPair(t)
	solo, soloStore := newSpace(t, "Robin", "robin-laptop")
	b := must[string](t)(solo.AddBoundary(ctx, "alone"))
	noErr(t, solo.AgreeBoundary(ctx, b))
	// A second member row without a device: not a partner.
	row, _ := json.Marshal(trustsync.Member{Person: trustsync.Person{ID: "fedcba9876543210fedcba9876543210", Name: "Ghost"}})
	noErr(t, soloStore.Update(ctx, func(tx trustsync.Tx) error {
		return tx.PutItem(trustsync.Item{Kind: crdt.KindMember, ID: "fedcba9876543210fedcba9876543210", Doc: crdt.SpaceDoc, Data: row})
	}))
	if got := mustBoundary(t, solo, b); got.Agreed {
		t.Errorf("agreed with one member and a row with no device: %+v", got)
	}
	if ms := must[[]trustsync.Member](t)(solo.Members(ctx)); len(ms) != 1 {
		t.Errorf("%d members, want 1", len(ms))
	}

	// Both partners agree: agreed on both devices.
	b = must[string](t)(sam.AddBoundary(ctx, "together"))
	noErr(t, sam.AgreeBoundary(ctx, b))
	syncAll(t, sam, alex)
	if got := mustBoundary(t, alex, b); got.Agreed {
		t.Fatalf("agreed by one partner only: %+v", got)
	}
	noErr(t, alex.AgreeBoundary(ctx, b))
	syncAll(t, sam, alex)
	for _, s := range []*crdt.Space{sam, alex} {
		if got := mustBoundary(t, s, b); !got.Agreed {
			t.Errorf("%s: not agreed: %+v", s.Self().DeviceName, got)
		}
	}
}
