package crdt_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// The merge semantics of DESIGN.md, each checked across two devices, once
// syncing with Peer messages and once exchanging whole documents.

type exchange struct {
	name string
	run  func(t *testing.T, a, b *crdt.Space)
}

func exchanges() []exchange {
	return []exchange{
		{"sync", func(t *testing.T, a, b *crdt.Space) { syncAll(t, a, b) }},
		{"import", func(t *testing.T, a, b *crdt.Space) { importAll(t, a, b); importAll(t, b, a) }},
	}
}

func TestMerge_ConcurrentTextEditsBothSurvive(t *testing.T) {
	ctx := context.Background()
	for _, ex := range exchanges() {
		t.Run(ex.name, func(t *testing.T) {
			a, b := newPair(t)
			id := must[string](t)(a.AddBoundary(ctx, "We talk every evening"))
			ex.run(t, a, b)
			noErr(t, a.EditBoundary(ctx, id, "We talk every evening, calmly"))
			noErr(t, b.EditBoundary(ctx, id, "Always: We talk every evening"))
			ex.run(t, a, b)
			want := "Always: We talk every evening, calmly"
			for _, s := range []*crdt.Space{a, b} {
				if got := mustBoundary(t, s, id).Text; got != want {
					t.Fatalf("on %s: %q, want %q", s.Self().DeviceName, got, want)
				}
			}
		})
	}
}

func TestMerge_ConcurrentAgreementsBothCount(t *testing.T) {
	ctx := context.Background()
	for _, ex := range exchanges() {
		t.Run(ex.name, func(t *testing.T) {
			a, b := newPair(t)
			id := must[string](t)(a.AddBoundary(ctx, "No secrets about money"))
			ex.run(t, a, b)
			noErr(t, a.AgreeBoundary(ctx, id))
			noErr(t, b.AgreeBoundary(ctx, id))
			ex.run(t, a, b)
			for _, s := range []*crdt.Space{a, b} {
				got := mustBoundary(t, s, id)
				if !got.Agreed || len(got.Agreements) != 2 {
					t.Fatalf("on %s: %+v", s.Self().DeviceName, got)
				}
			}
		})
	}
}

func TestMerge_AgreementConcurrentWithEditAsksAgain(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	id := must[string](t)(a.AddBoundary(ctx, "Phones away at dinner"))
	noErr(t, a.AgreeBoundary(ctx, id))
	syncAll(t, a, b)
	noErr(t, b.AgreeBoundary(ctx, id))               // agrees to the old text...
	noErr(t, a.EditBoundary(ctx, id, "Phones away")) // ...while it changes
	syncAll(t, a, b)
	for _, s := range []*crdt.Space{a, b} {
		got := mustBoundary(t, s, id)
		if got.Agreed || got.Text != "Phones away" {
			t.Fatalf("on %s: %+v", s.Self().DeviceName, got)
		}
	}
}

func TestMerge_EditConcurrentWithArchiveIsKept(t *testing.T) {
	ctx := context.Background()
	for _, ex := range exchanges() {
		t.Run(ex.name, func(t *testing.T) {
			a, b := newPair(t)
			id := must[string](t)(a.AddBoundary(ctx, "Check in on Sundays"))
			ex.run(t, a, b)
			noErr(t, a.ArchiveBoundary(ctx, id))
			noErr(t, b.EditBoundary(ctx, id, "Check in on Sundays and Wednesdays"))
			ex.run(t, a, b)
			for _, s := range []*crdt.Space{a, b} {
				if list := must[[]trustsync.Boundary](t)(s.Boundaries(ctx, crdt.ListOptions{})); len(list) != 0 {
					t.Fatalf("archived boundary listed on %s", s.Self().DeviceName)
				}
			}
			noErr(t, b.RestoreBoundary(ctx, id))
			ex.run(t, a, b)
			for _, s := range []*crdt.Space{a, b} {
				list := must[[]trustsync.Boundary](t)(s.Boundaries(ctx, crdt.ListOptions{}))
				if len(list) != 1 || list[0].Text != "Check in on Sundays and Wednesdays" {
					t.Fatalf("on %s after restore: %+v", s.Self().DeviceName, list)
				}
			}
		})
	}
}

func TestMerge_ConcurrentGoalTitlesConverge(t *testing.T) {
	ctx := context.Background()
	for _, ex := range exchanges() {
		t.Run(ex.name, func(t *testing.T) {
			a, b := newPair(t)
			id := must[string](t)(a.AddGoal(ctx, "Walks", ""))
			ex.run(t, a, b)
			ta, tb := "Weekly walks", "Daily walks"
			noErr(t, a.EditGoal(ctx, id, crdt.GoalEdit{Title: &ta}))
			noErr(t, b.EditGoal(ctx, id, crdt.GoalEdit{Title: &tb}))
			ex.run(t, a, b)
			ga, gb := mustGoal(t, a, id), mustGoal(t, b, id)
			if ga.Title != gb.Title || (ga.Title != ta && ga.Title != tb) {
				t.Fatalf("titles %q and %q", ga.Title, gb.Title)
			}
			for _, s := range []*crdt.Space{a, b} {
				h := must[[]trustsync.Change](t)(s.History(ctx, crdt.HistoryOptions{Item: id}))
				var got []string
				for _, c := range h {
					got = append(got, c.By.Name+": "+c.Summary)
				}
				for _, want := range []string{`Sam: changed the title to "Weekly walks"`, `Alex: changed the title to "Daily walks"`} {
					if !slices.Contains(got, want) {
						t.Fatalf("history on %s lacks %q: %q", s.Self().DeviceName, want, got)
					}
				}
			}
		})
	}
}

func TestMerge_EverythingConverges(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	must[string](t)(a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: "ok"}))
	must[string](t)(b.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 5, Note: "great"}))
	g := must[string](t)(b.AddGoal(ctx, "Trip", ""))
	must[string](t)(b.AddStep(ctx, g, "Book"))
	syncAll(t, a, b)
	for _, doc := range docsOf(t, a, b) {
		ha := strings.Join(must[[]string](t)(a.Heads(ctx, doc)), ",")
		hb := strings.Join(must[[]string](t)(b.Heads(ctx, doc)), ",")
		if ha != hb || ha == "" {
			t.Fatalf("%s: heads %q vs %q", doc, ha, hb)
		}
	}
	ca := must[[]trustsync.CheckIn](t)(a.CheckIns(ctx))
	cb := must[[]trustsync.CheckIn](t)(b.CheckIns(ctx))
	if len(ca) != 2 || len(cb) != 2 || ca[0].ID != cb[0].ID {
		t.Fatalf("check-ins %d vs %d", len(ca), len(cb))
	}
	if len(mustGoal(t, a, g).Steps) != 1 {
		t.Fatal("step not synced")
	}
}
