package crdt_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// savedKind loads the bytes of s.Save(doc) with automerge-go and returns
// the kind of the value at path (an item ID, then fields).
func savedKind(t *testing.T, s *crdt.Space, doc string, path ...string) automerge.Kind {
	t.Helper()
	d, err := automerge.Load(must[[]byte](t)(s.Save(context.Background(), doc)))
	if err != nil {
		t.Fatalf("load the saved %q: %v", doc, err)
	}
	p := make([]any, len(path))
	for i, k := range path {
		p[i] = k
	}
	v, err := d.Path(p...).Get()
	if err != nil {
		t.Fatalf("%q %v: %v", doc, path, err)
	}
	return v.Kind()
}

// checkInDoc returns the one check-in document of s.
func checkInDoc(t *testing.T, s *crdt.Space) string {
	t.Helper()
	docs := slices.DeleteFunc(must[[]string](t)(s.Docs(context.Background())),
		func(d string) bool { return !strings.HasPrefix(d, "checkins/") })
	if len(docs) != 1 {
		t.Fatalf("check-in documents: %v", docs)
	}
	return docs[0]
}

// Every text that only its author writes is saved as a plain string, one
// operation; a boundary's text, which both partners edit, stays a Text.
func TestSpace_AuthorTextsAreStrings(t *testing.T) {
	ctx := context.Background()
	sam, alex := newPair(t)
	bid := must[string](t)(sam.AddBoundary(ctx, "We talk before big purchases"))
	cid := must[string](t)(sam.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Note: "I felt heard today", Needs: "a walk"}))
	com := must[string](t)(sam.AddCommitment(ctx, "I call when I am late"))
	eid := must[string](t)(sam.RecordCommitment(ctx, com, true, "called at six"))
	aid := must[string](t)(sam.WriteApology(ctx, trustsync.NewApology{Happened: "I was late", Impact: "you waited",
		Responsibility: "I lost track of time", Different: "I set an alarm"}))
	sid := must[string](t)(sam.AddSetback(ctx, "I forgot to call", com, "a reminder at five"))
	qid := must[string](t)(sam.AskQuestion(ctx, "What made today good?"))
	mid := must[string](t)(sam.AddMoment(ctx, "the tea you made", true))
	cdoc := checkInDoc(t, sam)

	for _, tc := range []struct {
		doc  string
		path []string
		want automerge.Kind
	}{
		{crdt.BoundariesDoc, []string{bid, "text"}, automerge.KindText},
		{cdoc, []string{cid, "note"}, automerge.KindStr},
		{cdoc, []string{cid, "needs"}, automerge.KindStr},
		{crdt.CommitmentsDoc, []string{com, "text"}, automerge.KindStr},
		{crdt.CommitmentsDoc, []string{com, "entries", eid, "note"}, automerge.KindStr},
		{crdt.ApologiesDoc, []string{aid, "happened"}, automerge.KindStr},
		{crdt.ApologiesDoc, []string{aid, "impact"}, automerge.KindStr},
		{crdt.ApologiesDoc, []string{aid, "responsibility"}, automerge.KindStr},
		{crdt.ApologiesDoc, []string{aid, "different"}, automerge.KindStr},
		{crdt.SetbacksDoc, []string{sid, "text"}, automerge.KindStr},
		{crdt.QuestionsDoc, []string{qid, "text"}, automerge.KindStr},
		{crdt.MomentsDoc, []string{mid, "text"}, automerge.KindStr},
	} {
		name := tc.doc
		for _, k := range tc.path[1:] {
			if k != eid {
				name += "/" + k
			}
		}
		t.Run(name, func(t *testing.T) {
			if got := savedKind(t, sam, tc.doc, tc.path...); got != tc.want {
				t.Fatalf("saved as %v, want %v", got, tc.want)
			}
		})
	}

	// The partner's device reads every one of them.
	syncAll(t, sam, alex)
	if c := must[trustsync.CheckIn](t)(alex.CheckIn(ctx, cid)); c.Note != "I felt heard today" || c.Needs != "a walk" {
		t.Errorf("Alex's device shows the check-in as %+v", c)
	}
	if c := must[[]trustsync.Commitment](t)(alex.Commitments(ctx)); len(c) != 1 || c[0].Text != "I call when I am late" ||
		len(c[0].Entries) != 1 || c[0].Entries[0].Note != "called at six" {
		t.Errorf("Alex's device shows the commitments as %+v", c)
	}
	if a := must[trustsync.Apology](t)(alex.Apology(ctx, aid)); a.Happened != "I was late" || a.Impact != "you waited" ||
		a.Responsibility != "I lost track of time" || a.Different != "I set an alarm" {
		t.Errorf("Alex's device shows the apology as %+v", a)
	}
	if sb := must[trustsync.Setback](t)(alex.Setback(ctx, sid)); sb.Text != "I forgot to call" || sb.Plan().Text != "a reminder at five" {
		t.Errorf("Alex's device shows the setback as %+v", sb)
	}
	if q := must[[]trustsync.Question](t)(alex.Questions(ctx)); len(q) != 1 || q[0].Text != "What made today good?" {
		t.Errorf("Alex's device shows the questions as %+v", q)
	}
	if m := must[[]trustsync.Moment](t)(alex.Moments(ctx)); len(m) != 1 || m[0].Text != "the tea you made" {
		t.Errorf("Alex's device shows the moments as %+v", m)
	}
}

// A check-in whose note an older version wrote as an Automerge Text still
// syncs, lists, shows, is acknowledged and keeps its history; the document
// keeps the Text beside the new plain-string notes.
func TestCheckIn_OlderTextNote(t *testing.T) {
	ctx := context.Background()
	sam, alex := newPair(t)
	newID := must[string](t)(sam.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Note: "a good day"}))
	cdoc := checkInDoc(t, sam)
	const oldID, oldNote = "oldtextnote00000", "We argued and I am still sad"
	_, err := crdt.Forge(ctx, sam, cdoc, crdt.Forgery{
		Message: fmt.Sprintf(`{"a":"add","k":%q,"i":%q,"s":"checked in, feeling low"}`, crdt.KindCheckIn, oldID),
	}, func(root *automerge.Map) error {
		// Every field as the older AddCheckIn wrote them.
		m := automerge.NewMap()
		if err := root.Set(oldID, m); err != nil {
			return err
		}
		for _, f := range []struct {
			k string
			v any
		}{
			{"author", sam.Self().MemberID}, {"created_at", int64(1_772_400_000_000)}, {"mood", int64(2)},
			{"feelings", `["sad"]`}, {"note", automerge.NewText(oldNote)}, {"needs", ""}, {"concerns", ""},
			{"appreciation", ""}, {"acks", automerge.NewMap()}, {"ack_at", automerge.NewMap()},
		} {
			if err := m.Set(f.k, f.v); err != nil {
				return err
			}
		}
		return nil
	})
	noErr(t, err)
	syncAll(t, sam, alex)

	if got := savedKind(t, alex, cdoc, oldID, "note"); got != automerge.KindText {
		t.Fatalf("the older note reached Alex's device as %v, want a Text", got)
	}
	if got := savedKind(t, alex, cdoc, newID, "note"); got != automerge.KindStr {
		t.Fatalf("the new note reached Alex's device as %v, want a string", got)
	}
	list := must[[]trustsync.CheckIn](t)(alex.CheckIns(ctx))
	i := slices.IndexFunc(list, func(c trustsync.CheckIn) bool { return c.ID == oldID })
	if len(list) != 2 || i < 0 || list[i].Note != oldNote || list[i].Author.Name != "Sam" || list[i].Mood != 2 {
		t.Fatalf("Alex's device lists %+v", list)
	}
	if c := must[trustsync.CheckIn](t)(alex.CheckIn(ctx, "oldtextnote")); c.Note != oldNote {
		t.Fatalf("Alex's device shows the older check-in's note as %q", c.Note)
	}
	h := must[[]trustsync.Change](t)(alex.History(ctx, crdt.HistoryOptions{Item: oldID}))
	if len(h) != 1 || h[0].Summary != "checked in, feeling low" || h[0].By.Name != "Sam" {
		t.Fatalf("Alex's history of the older check-in: %+v", h)
	}

	// Alex acknowledges it; the reply reaches Sam's device, which lists
	// the older check-in with it.
	noErr(t, alex.AckCheckIn(ctx, oldID, "I am sorry too"))
	syncAll(t, sam, alex)
	c := must[trustsync.CheckIn](t)(sam.CheckIn(ctx, oldID))
	if c.Note != oldNote || len(c.Acks) != 1 || c.Acks[0].Reply != "I am sorry too" {
		t.Fatalf("Sam's device shows the older check-in as %+v", c)
	}
	if got := savedKind(t, sam, cdoc, oldID, "note"); got != automerge.KindText {
		t.Fatalf("the older note is now a %v on Sam's device; history is never rewritten", got)
	}
}
