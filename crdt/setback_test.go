package crdt_test

import (
	"context"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// A setback linked to a goal shows on the goal on both devices; what each
// partner felt, written at the same time, is kept for both; concurrent
// revisions of the plan are both kept, the later one current.
func TestMerge_SetbackOnGoal(t *testing.T) {
	ctx := context.Background()
	for _, ex := range exchanges() {
		t.Run(ex.name, func(t *testing.T) {
			a, b := newPair(t)
			g := must[string](t)(a.AddGoal(ctx, "A weekly walk together", ""))
			other := must[string](t)(a.AddBoundary(ctx, "Phones away at dinner"))
			ex.run(t, a, b)
			sb := must[string](t)(b.AddSetback(ctx, "We skipped the walk and argued instead", g[:8], "Walk on Monday instead"))
			ex.run(t, a, b)
			noErr(t, a.FeelSetback(ctx, sb, "hurt and tired"))
			noErr(t, b.FeelSetback(ctx, sb[:6], "ashamed"))
			noErr(t, a.PlanSetback(ctx, sb, "Keep Sunday, but shorter"))
			noErr(t, b.PlanSetback(ctx, sb, "Keep Sunday, and talk first"))
			ex.run(t, a, b)
			for _, s := range []*crdt.Space{a, b} {
				on := must[[]trustsync.Setback](t)(s.SetbacksAbout(ctx, g))
				if len(on) != 1 || on[0].ID != sb || on[0].About != (trustsync.ItemRef{Kind: crdt.KindGoal, ID: g}) {
					t.Fatalf("on %s, setbacks of the goal: %+v", s.Self().DeviceName, on)
				}
				if none := must[[]trustsync.Setback](t)(s.SetbacksAbout(ctx, other)); len(none) != 0 {
					t.Fatalf("on %s, the boundary shows the goal's setback: %+v", s.Self().DeviceName, none)
				}
				got := on[0]
				if got.Text != "We skipped the walk and argued instead" || got.AddedBy.Name != "Alex" {
					t.Fatalf("on %s: %+v", s.Self().DeviceName, got)
				}
				felt := map[string]string{}
				for _, f := range got.Feelings {
					felt[f.By.Name] = f.Text
				}
				if len(felt) != 2 || felt["Sam"] != "hurt and tired" || felt["Alex"] != "ashamed" {
					t.Fatalf("on %s, feelings: %+v", s.Self().DeviceName, got.Feelings)
				}
				if len(got.Plans) != 3 || got.Plans[0].Text != "Walk on Monday instead" ||
					got.Plan().Text != "Keep Sunday, and talk first" || got.Plan().By.Name != "Alex" {
					t.Fatalf("on %s, plans: %+v", s.Self().DeviceName, got.Plans)
				}
			}
		})
	}
}

func TestSpace_SetbackRefusals(t *testing.T) {
	ctx := context.Background()
	a, _ := newPair(t)
	ci := must[string](t)(a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3}))
	_, err := a.AddSetback(ctx, "something", ci, "")
	wantErr(t, err, trustsync.ErrNotFound) // a check-in is not what setbacks are about
	_, err = a.AddSetback(ctx, "something", "", "")
	wantErr(t, err, trustsync.ErrInvalid)
	c := must[string](t)(a.AddCommitment(ctx, "I call when I am late"))
	_, err = a.AddSetback(ctx, "", c, "")
	wantErr(t, err, trustsync.ErrInvalid)
	sb := must[string](t)(a.AddSetback(ctx, "Late without a call", c, ""))
	if got := must[trustsync.Setback](t)(a.Setback(ctx, sb)); got.About.Kind != crdt.KindCommitment || got.Plan().Text != "" {
		t.Fatalf("%+v", got)
	}
	wantErr(t, a.FeelSetback(ctx, sb, ""), trustsync.ErrInvalid)
	wantErr(t, a.PlanSetback(ctx, "zzzzzzzz", "x"), trustsync.ErrNotFound)
}
