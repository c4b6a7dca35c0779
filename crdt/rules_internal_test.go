package crdt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// rulesPair returns two paired spaces, Alex's laptop and Sam's phone, as
// the pairing of the sync package leaves them: each trusts the other's
// device first-hand and holds its records.
func rulesPair(t *testing.T) (alex, sam *Space) {
	t.Helper()
	return rulesPairOn(t, store.NewMemory(), Options{})
}

// rulesPairOn is rulesPair with Alex's store and both spaces' options
// given.
func rulesPairOn(t *testing.T, alexStore trustsync.Store, opts Options) (alex, sam *Space) {
	t.Helper()
	ctx := context.Background()
	stores := map[string]trustsync.Store{"Alex": alexStore, "Sam": store.NewMemory()}
	mk := func(member, device string) *Space {
		s, err := Create(ctx, stores[member], CreateOptions{Options: opts, MemberName: member, DeviceName: device})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	alex, sam = mk("Alex", "alex-laptop"), mk("Sam", "sam-phone")
	pairByHand(t, alex, sam)
	exchange(t, alex, sam, SpaceDoc)
	exchange(t, sam, alex, SpaceDoc)
	return alex, sam
}

// pairByHand makes b join a's space as internal/testpair's Spaces does --
// each trusts the other's key, then a and after it b takes the other's
// space document and vouches for its device -- for the tests of package
// crdt itself, which cannot import testpair (it imports crdt). It is
// their one copy of it; keep the two alike.
func pairByHand(t testing.TB, a, b *Space) {
	t.Helper()
	ctx := context.Background()
	noErr(t, b.Adopt(ctx, a.Self().SpaceID))
	devs := map[*Space]trustsync.Device{}
	for _, s := range []*Space{a, b} {
		id := s.Self()
		devs[s] = trustsync.Device{ID: id.DeviceID, Name: id.DeviceName, PeerID: must[string](t)(s.PeerID(ctx)),
			Owner: trustsync.Person{ID: id.MemberID, Name: id.MemberName}}
	}
	noErr(t, a.TrustDevice(ctx, devs[b]))
	noErr(t, b.TrustDevice(ctx, devs[a]))
	for _, x := range [][2]*Space{{a, b}, {b, a}} {
		data := must[[]byte](t)(x[1].SaveSigned(ctx, SpaceDoc))
		if _, err := x[0].Import(ctx, SpaceDoc, data, x[1].Self().DeviceID); err != nil {
			t.Fatalf("import the space document of %s: %v", x[1].Self().DeviceName, err)
		}
		noErr(t, x[0].AddDevice(ctx, devs[x[1]]))
	}
}

// exchange sends doc from one space to the other as a signed document.
func exchange(t *testing.T, from, to *Space, doc string) Received {
	t.Helper()
	ctx := context.Background()
	data, err := from.SaveSigned(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := to.Import(ctx, doc, data, from.Self().DeviceID)
	if err != nil {
		t.Fatalf("import %q: %v", doc, err)
	}
	return rec
}

// forge makes, on a copy of s's document doc, the raw edit a modified
// trustsync on s's device would make, commits it with msg and signs it
// with s's own key: the result is a validly signed document holding the
// change, which only the write rules can refuse. s's own document is left
// alone, so s's later honest changes do not depend on it.
func forge(t *testing.T, s *Space, doc, msg string, edit func(root *automerge.Map) error) []byte {
	t.Helper()
	ctx := context.Background()
	data, err := s.Save(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	d, err := loadDoc(s.mem, data)
	if err != nil {
		t.Fatal(err)
	}
	noErr(t, d.SetActorID(s.Self().DeviceID))
	noErr(t, edit(d.RootMap()))
	at := time.Now()
	if _, err := d.Commit(msg, automerge.CommitOptions{Time: &at}); err != nil {
		t.Fatal(err)
	}
	return signedSave(t, s, doc, d)
}

// state is what a user of a space can see: every listing, the history
// and the heads of every document.
func state(t *testing.T, s *Space) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	// The history in a fixed order: changes made within one millisecond
	// are listed in the order each device stored them.
	h := must[[]trustsync.Change](t)(s.History(ctx, HistoryOptions{}))
	slices.SortFunc(h, func(x, y trustsync.Change) int { return strings.Compare(x.Hash, y.Hash) })
	for _, v := range []any{
		must[[]trustsync.Boundary](t)(s.Boundaries(ctx, ListOptions{All: true})),
		must[[]trustsync.CheckIn](t)(s.CheckIns(ctx)),
		must[[]trustsync.Member](t)(s.Members(ctx)),
		h,
	} {
		j, err := json.Marshal(v)
		noErr(t, err)
		b.Write(j)
		b.WriteByte('\n')
	}
	for _, doc := range must[[]string](t)(s.Docs(ctx)) {
		fmt.Fprintf(&b, "%s %v\n", doc, must[[]string](t)(s.Heads(ctx, doc)))
	}
	return b.String()
}

func wantRefused(t *testing.T, err error, reason string) {
	t.Helper()
	var re *RefusedChangeError
	if !errors.As(err, &re) || !errors.Is(err, trustsync.ErrForged) {
		t.Fatalf("got %v, want a refused change", err)
	}
	if !strings.Contains(re.Reason, reason) {
		t.Fatalf("refused for %q, want %q", re.Reason, reason)
	}
}

func TestRules_ModifiedClientRefused(t *testing.T) {
	ctx := context.Background()
	alex, sam := rulesPair(t)
	alexID, samID := alex.Self().MemberID, sam.Self().MemberID
	bid := must[string](t)(alex.AddBoundary(ctx, "We talk before big purchases"))
	cid := must[string](t)(alex.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: "I felt heard today"}))
	cdoc := must[[]string](t)(alex.Docs(ctx))
	cdoc = slices.DeleteFunc(cdoc, func(d string) bool { return !strings.HasPrefix(d, "checkins/") })
	if len(cdoc) != 1 {
		t.Fatalf("check-in documents: %v", cdoc)
	}
	// A check-in as versions before plain-string notes wrote it: its note
	// an Automerge Text.
	oldCid := addTextNoteCheckIn(t, alex, cdoc[0], "We argued and I am still sad")
	qid := must[string](t)(alex.AskQuestion(ctx, "What made today hard?"))
	_ = must[string](t)(alex.AddMoment(ctx, "the walk", true))
	for _, doc := range []string{BoundariesDoc, cdoc[0], QuestionsDoc, MomentsDoc} {
		exchange(t, alex, sam, doc)
	}

	cases := []struct {
		name, doc, reason string
		edit              func(root *automerge.Map) error
		honest            func() error // a later honest change of Sam's, in the same document
	}{
		{"agree in Alex's name", BoundariesDoc, "agreement written in Alex's name",
			func(root *automerge.Map) error {
				return getMap(root, bid, "agree").Set(alexID, "We talk before big purchases")
			},
			func() error { return sam.AgreeBoundary(ctx, bid) }},
		{"rewrite Alex's check-in note", cdoc[0], "edits Alex's check-in",
			func(root *automerge.Map) error { return getMap(root, cid).Set("note", "You never listen") },
			func() error { return sam.AckCheckIn(ctx, cid, "thank you") }},
		{"splice Alex's older Text note", cdoc[0], "edits Alex's check-in",
			func(root *automerge.Map) error {
				return getValue(getMap(root, oldCid), "note").Text().Splice(0, 2, "You")
			},
			func() error { return sam.AckCheckIn(ctx, oldCid, "I am sorry") }},
		{"replace Alex's older Text note with a string", cdoc[0], "edits Alex's check-in",
			func(root *automerge.Map) error { return getMap(root, oldCid).Set("note", "We never argue") },
			nil},
		{"rewrite Alex's question", QuestionsDoc, "edits Alex's question",
			func(root *automerge.Map) error { return getMap(root, qid).Set("text", "Why are you always late?") },
			nil},
		{"acknowledge in Alex's name", cdoc[0], "acknowledgement written in Alex's name",
			func(root *automerge.Map) error { return getMap(root, cid, "acks").Set(alexID, "") },
			func() error { return sam.AckCheckIn(ctx, cid, "me too") }},
		{"take over a boundary's authorship", BoundariesDoc, "changes the author of a boundary",
			func(root *automerge.Map) error { return getMap(root, bid).Set("proposed_by", samID) },
			func() error { return sam.EditBoundary(ctx, bid, "We talk before purchases over 100") }},
		{"write Alex's device record", SpaceDoc, "writes device alex-laptop's record",
			func(root *automerge.Map) error {
				return getMap(root, "d:"+alex.Self().DeviceID).Set("name", "spy")
			},
			nil},
		{"rename Alex", SpaceDoc, "writes the member record of Alex",
			func(root *automerge.Map) error { return getMap(root, "m:"+alexID).Set("name", "Liar") },
			nil},
		{"answer in Alex's name", QuestionsDoc, "answer written in Alex's name",
			func(root *automerge.Map) error { return getMap(root, qid, "answer").Set(alexID, "c2VhbGVk") },
			func() error { return sam.AnswerQuestion(ctx, qid, "honesty") }},
		{"reveal in Alex's name", QuestionsDoc, "answer key written in Alex's name",
			func(root *automerge.Map) error { return getMap(root, qid, "key").Set(alexID, "a2V5") },
			nil},
		{"a moment in Alex's name", MomentsDoc, "makes Alex the author of a moment",
			func(root *automerge.Map) error {
				m := automerge.NewMap()
				if err := root.Set(newID(), m); err != nil {
					return err
				}
				return setFields(m, "text", automerge.NewText("I was wrong"), "thanks", false, "by", alexID,
					"at", time.Now().UnixMilli())
			},
			func() error { _, err := sam.AddMoment(ctx, "a good dinner", false); return err }},
		{"too many operations", MomentsDoc, "it holds 100001 operations, more than the 100000 allowed",
			func(root *automerge.Map) error {
				m := automerge.NewMap()
				if err := root.Set(newID(), m); err != nil {
					return err
				}
				for i := range MaxChangeOps {
					if err := m.Set(fmt.Sprint("f", i), int64(i)); err != nil {
						return err
					}
				}
				return nil
			},
			nil},
		{"oversized note", cdoc[0], "it writes 10001 characters into \"note\", more than the 10000 allowed",
			func(root *automerge.Map) error {
				m := automerge.NewMap()
				if err := root.Set(newID(), m); err != nil {
					return err
				}
				return setFields(m, "author", samID, "created_at", time.Now().UnixMilli(), "mood", int64(3),
					"note", strings.Repeat("x", MaxNoteLen+1))
			},
			nil},
		{"oversized Text note", cdoc[0], "more than the 10000 allowed",
			func(root *automerge.Map) error {
				m := automerge.NewMap()
				if err := root.Set(newID(), m); err != nil {
					return err
				}
				return setFields(m, "author", samID, "created_at", time.Now().UnixMilli(), "mood", int64(3),
					"note", automerge.NewText(strings.Repeat("x", MaxNoteLen+1)))
			},
			func() error {
				_, err := sam.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Note: strings.Repeat("y", MaxNoteLen)})
				return err
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := forge(t, sam, tc.doc, `{"a":"edit","k":"boundary","s":"x"}`, tc.edit)
			before := state(t, alex)
			_, err := alex.Import(ctx, tc.doc, bad, sam.Self().DeviceID)
			wantRefused(t, err, tc.reason)
			if after := state(t, alex); after != before {
				t.Fatalf("a refused change left traces:\nbefore %s\nafter  %s", before, after)
			}
			if tc.honest == nil {
				return
			}
			noErr(t, tc.honest())
			if rec := exchange(t, sam, alex, tc.doc); rec.Changes == 0 {
				t.Fatal("the honest change was not taken in")
			}
		})
	}
}

// A modified client's change refused inside a sync message: the message
// is refused whole, nothing is stored.
func TestRules_SyncMessageRefused(t *testing.T) {
	ctx := context.Background()
	alex, sam := rulesPair(t)
	bid := must[string](t)(alex.AddBoundary(ctx, "No phones at dinner"))
	exchange(t, alex, sam, BoundariesDoc)
	alexID := alex.Self().MemberID
	// Sam's own trustsync, modified: it writes Alex's agreement and signs
	// the change as its own.
	_, err := sam.write(ctx, BoundariesDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		if err := getMap(root, bid, "agree").Set(alexID, "No phones at dinner"); err != nil {
			return edit{}, err
		}
		return edit{action: "agree", kind: KindBoundary, item: bid, summary: "agreed"}, nil
	})
	noErr(t, err)
	before := state(t, alex)
	pa, pb := sam.Peer(alex.Self().DeviceID), alex.Peer(sam.Self().DeviceID)
	var refused error
	for round := 0; round < 10 && refused == nil; round++ {
		sent := false
		for _, dir := range [][2]*Peer{{pa, pb}, {pb, pa}} {
			msg, ok, err := dir[0].GenerateMessage(ctx, BoundariesDoc)
			noErr(t, err)
			if !ok {
				continue
			}
			sent = true
			if _, err := dir[1].ReceiveMessage(ctx, BoundariesDoc, msg); err != nil {
				refused = err
				break
			}
		}
		if !sent {
			break
		}
	}
	wantRefused(t, refused, "agreement written in Alex's name")
	if after := state(t, alex); after != before {
		t.Fatalf("a refused message left traces:\nbefore %s\nafter  %s", before, after)
	}
	if b := must[[]trustsync.Boundary](t)(alex.Boundaries(ctx, ListOptions{})); len(b) != 1 || b[0].Agreed {
		t.Fatalf("boundaries after the refusal: %+v", b)
	}
}

// The receiver records what the operations did: a text edit under a
// message naming another boundary refreshes the boundary it edited, and
// the history names that one, in neutral words.
func TestRules_HistoryFromOperations(t *testing.T) {
	ctx := context.Background()
	alex, sam := rulesPair(t)
	b1 := must[string](t)(alex.AddBoundary(ctx, "We sleep at home"))
	b2 := must[string](t)(alex.AddBoundary(ctx, "We share passwords"))
	exchange(t, alex, sam, BoundariesDoc)
	msg := fmt.Sprintf(`{"a":"edit","k":"boundary","i":%q,"s":"fixed a typo"}`, b2)
	bad := forge(t, sam, BoundariesDoc, msg, func(root *automerge.Map) error {
		return getValue(getMap(root, b1), "text").Text().Set("We sleep wherever we like")
	})
	if _, err := alex.Import(ctx, BoundariesDoc, bad, sam.Self().DeviceID); err != nil {
		t.Fatal(err)
	}
	if got := mustBoundary(t, alex, b1).Text; got != "We sleep wherever we like" {
		t.Fatalf("the edited boundary shows %q", got)
	}
	if got := mustBoundary(t, alex, b2).Text; got != "We share passwords" {
		t.Fatalf("the boundary the message named shows %q", got)
	}
	h := must[[]trustsync.Change](t)(alex.History(ctx, HistoryOptions{Limit: 1}))
	if len(h) != 1 || h[0].Item != b1 || h[0].Kind != KindBoundary || strings.Contains(h[0].Summary, "typo") {
		t.Fatalf("history: %+v", h)
	}

	// An honest message names what its change touched: it is kept.
	exchange(t, alex, sam, BoundariesDoc) // Sam's device takes its first change back
	noErr(t, sam.AgreeBoundary(ctx, b2))
	exchange(t, sam, alex, BoundariesDoc)
	h = must[[]trustsync.Change](t)(alex.History(ctx, HistoryOptions{Item: b2, Limit: 1}))
	if len(h) != 1 || h[0].Action != "agree" || h[0].Summary != `agreed to "We share passwords"` {
		t.Fatalf("history of an honest agreement: %+v", h)
	}

	// A change dated before the change it follows is shown at that one's time.
	prev := must[[]trustsync.Change](t)(alex.History(ctx, HistoryOptions{Limit: 1}))[0]
	early := forgeAt(t, sam, BoundariesDoc, b1, prev.At.Add(-time.Hour))
	if _, err := alex.Import(ctx, BoundariesDoc, early, sam.Self().DeviceID); err != nil {
		t.Fatal(err)
	}
	h = must[[]trustsync.Change](t)(alex.History(ctx, HistoryOptions{Item: b1, Limit: 1}))
	if len(h) != 1 || h[0].At.Before(prev.At) || !strings.Contains(h[0].Summary, "dated by its device before") {
		t.Fatalf("history of a back-dated change: %+v (the change it follows: %v)", h, prev.At)
	}
}

func mustBoundary(t *testing.T, s *Space, id string) trustsync.Boundary {
	t.Helper()
	b, err := s.Boundary(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forgeAt is forge of an honest-looking boundary edit committed at the
// time at, after s takes in what it has of the document.
func forgeAt(t *testing.T, s *Space, doc, id string, at time.Time) []byte {
	t.Helper()
	ctx := context.Background()
	data, err := s.Save(ctx, doc)
	noErr(t, err)
	d, err := loadDoc(s.mem, data)
	noErr(t, err)
	noErr(t, d.SetActorID(s.Self().DeviceID))
	m := getMap(d.RootMap(), id)
	noErr(t, m.Set("archived", true))
	noErr(t, m.Set("updated_by", s.Self().MemberID))
	msg := fmt.Sprintf(`{"a":"archive","k":"boundary","i":%q,"s":"archived it"}`, id)
	if _, err := d.Commit(msg, automerge.CommitOptions{Time: &at}); err != nil {
		t.Fatal(err)
	}
	return signedSave(t, s, doc, d)
}

// Every edit the unmodified program makes, by either partner, on either
// partner's items, passes the rules on the other device.
func TestRules_HonestFlowsPass(t *testing.T) {
	ctx := context.Background()
	// Compacting after every few chunks, so that receipts meet compacted
	// documents too.
	alex, sam := rulesPairOn(t, store.NewMemory(), Options{CompactAfter: 3})
	sync := func() {
		t.Helper()
		for _, doc := range must[[]string](t)(alex.Docs(ctx)) {
			exchange(t, alex, sam, doc)
		}
		for _, doc := range must[[]string](t)(sam.Docs(ctx)) {
			exchange(t, sam, alex, doc)
		}
	}
	type ids struct{ b, g, c, cm, ap, sb, q string }
	made := map[*Space]*ids{}
	for _, s := range []*Space{alex, sam} {
		x := &ids{}
		x.b = must[string](t)(s.AddBoundary(ctx, "boundary of "+s.Self().MemberName))
		x.g = must[string](t)(s.AddGoal(ctx, "goal", "why"))
		x.c = must[string](t)(s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: "note", Feelings: []string{"calm"}}))
		x.cm = must[string](t)(s.AddCommitment(ctx, "call when late"))
		x.ap = must[string](t)(s.WriteApology(ctx, trustsync.NewApology{Happened: "I was late", Impact: "you waited"}))
		x.sb = must[string](t)(s.AddSetback(ctx, "forgot", x.cm, "set a reminder"))
		x.q = must[string](t)(s.AskQuestion(ctx, "what helps?"))
		_ = must[string](t)(s.AddMoment(ctx, "a walk", true))
		made[s] = x
	}
	noErr(t, alex.SetRhythm(ctx, trustsync.Cadence{Every: "daily"}))
	sync()
	for _, p := range [][2]*Space{{alex, sam}, {sam, alex}} {
		s, o := p[0], made[p[1]]
		noErr(t, s.EditBoundary(ctx, o.b, "edited by "+s.Self().MemberName))
		noErr(t, s.AgreeBoundary(ctx, o.b))
		noErr(t, s.ArchiveBoundary(ctx, o.b))
		noErr(t, s.RestoreBoundary(ctx, o.b))
		title := "goal, retitled"
		noErr(t, s.EditGoal(ctx, o.g, GoalEdit{Title: &title}))
		step := must[string](t)(s.AddStep(ctx, o.g, "first step"))
		_ = must[string](t)(s.MarkDone(ctx, step))
		noErr(t, s.AckCheckIn(ctx, o.c, "heard"))
		entry := must[string](t)(s.RecordCommitment(ctx, o.cm, true, "kept it"))
		noErr(t, s.AckApology(ctx, o.ap, "thank you"))
		noErr(t, s.FeelSetback(ctx, o.sb, "sad"))
		noErr(t, s.PlanSetback(ctx, o.sb, "a calendar alarm"))
		noErr(t, s.AnswerQuestion(ctx, o.q, "time together"))
		sync()
		other := p[1]
		noErr(t, other.AckCommitmentEntry(ctx, entry, "seen"))
		noErr(t, other.AnswerQuestion(ctx, o.q, "walks"))
		sync()
	}
	noErr(t, sam.AgreeRhythm(ctx))
	noErr(t, sam.SetRhythm(ctx, trustsync.Cadence{Every: "weekly", Day: time.Sunday}))
	noErr(t, alex.AgreeRhythm(ctx))
	sync()
	noErr(t, alex.RemoveDevices(ctx, []string{sam.Self().DeviceID}, "a pause"))
	exchange(t, alex, sam, SpaceDoc)
	noErr(t, sam.NotePaired(ctx, alex.Self().DeviceID))
	exchange(t, sam, alex, SpaceDoc)
	noErr(t, alex.NotePaired(ctx, sam.Self().DeviceID))
	exchange(t, alex, sam, SpaceDoc)
	a, b := strings.Split(state(t, alex), "\n"), strings.Split(state(t, sam), "\n")
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("the two devices differ after every honest flow:\n%.400s\n%.400s", a[i], b[i])
		}
	}
}

// A home upgraded from before signing seals its history and vouches for
// the devices it knew: the partner's device takes that change in.
func TestRules_SealPasses(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	alex, sam := rulesPairOn(t, st, Options{})
	must[string](t)(alex.AddBoundary(ctx, "We keep our promises"))
	exchange(t, alex, sam, BoundariesDoc)
	// As a home from before signing looks at its first start: not sealed.
	noErr(t, st.Update(ctx, func(tx trustsync.Tx) error { return tx.Delete(sealedMeta) }))
	noErr(t, alex.Close())
	again, err := Open(ctx, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	if rec := exchange(t, again, sam, SpaceDoc); rec.Changes == 0 {
		t.Fatal("the seal was not sent")
	}
	h := must[[]trustsync.Change](t)(sam.History(ctx, HistoryOptions{Limit: 1}))
	if len(h) != 1 || h[0].Action != "seal" || h[0].DeviceID != again.Self().DeviceID {
		t.Fatalf("Sam's history after the seal: %+v", h)
	}
}

// A further device of Alex's that joined with JoinAs hands its record
// over and deletes the member its Create made; Alex's phone and Sam's
// device take that in, and then the laptop's writes in Alex's name.
func TestRules_FurtherDevicePasses(t *testing.T) {
	ctx := context.Background()
	phone, sam := rulesPair(t)
	laptop, err := Create(ctx, store.NewMemory(), CreateOptions{MemberName: "Alex", DeviceName: "alex-laptop"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { laptop.Close() })
	alex := trustsync.Person{ID: phone.Self().MemberID, Name: "Alex"}
	device := func(s *Space) trustsync.Device {
		return trustsync.Device{ID: s.Self().DeviceID, Name: s.Self().DeviceName,
			PeerID: must[string](t)(s.PeerID(ctx)), Owner: alex}
	}
	// By hand apart from pairByHand on purpose: the laptop joins as a
	// further device of Alex's (JoinAs), not as a member of its own.
	noErr(t, laptop.JoinAs(ctx, phone.Self().SpaceID, alex))
	// What a pairing does: each met the other first-hand.
	noErr(t, phone.TrustDevice(ctx, device(laptop)))
	noErr(t, laptop.TrustDevice(ctx, device(phone)))
	exchange(t, laptop, phone, SpaceDoc)
	noErr(t, phone.AddDevice(ctx, device(laptop)))
	noErr(t, phone.NotePaired(ctx, laptop.Self().DeviceID))
	exchange(t, phone, laptop, SpaceDoc)
	noErr(t, laptop.NotePaired(ctx, phone.Self().DeviceID))
	exchange(t, laptop, phone, SpaceDoc)
	exchange(t, phone, sam, SpaceDoc)
	if ms := must[[]trustsync.Member](t)(sam.Members(ctx)); len(ms) != 2 {
		t.Fatalf("Sam sees %d members: %+v", len(ms), ms)
	}
	bid := must[string](t)(laptop.AddBoundary(ctx, "We say when we need space"))
	noErr(t, laptop.AgreeBoundary(ctx, bid))
	exchange(t, laptop, sam, BoundariesDoc)
	b := mustBoundary(t, sam, bid)
	if b.ProposedBy.ID != alex.ID || len(b.Agreements) != 1 || b.Agreements[0].By.ID != alex.ID {
		t.Fatalf("Sam sees %+v", b)
	}
}

// An agreement to words older than the length limits is an agreement to
// the current words, and passes; other words that long do not.
func TestRules_AgreementToLongOldWords(t *testing.T) {
	long := strings.Repeat("w", MaxTextLen+1)
	for _, tc := range []struct {
		name, agreed string
		ok           bool
	}{
		{"the current words", long, true},
		{"other words", long + "!", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := automerge.New()
			id, member := newID(), newID()
			m := automerge.NewMap()
			noErr(t, d.RootMap().Set(id, m))
			noErr(t, setFields(m, "text", automerge.NewText(long), "proposed_by", member,
				"agree", automerge.NewMap(), "agree_at", automerge.NewMap()))
			must[automerge.ChangeHash](t)(d.Commit("add"))
			noErr(t, getMap(d.RootMap(), id, "agree").Set(member, tc.agreed))
			h := must[automerge.ChangeHash](t)(d.Commit("agree"))
			ds := &docState{id: BoundariesDoc, doc: d}
			idx := must[*objIndex](t)(objIndexOf(ds))
			tr := &trust{devices: map[string]knownDevice{d.ActorID(): {Member: member}}}
			r := &ruleCheck{doc: BoundariesDoc, root: d.RootMap(), t: tr, idx: idx, names: map[string]string{}}
			err := r.check(idx.parsed[h], d.ActorID())
			if tc.ok && err != nil || !tc.ok && (err == nil || !strings.Contains(err.Error(), "more than the 2000 allowed")) {
				t.Fatalf("agreeing to %d characters: %v", len(tc.agreed), err)
			}
		})
	}
}
