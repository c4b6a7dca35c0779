package crdt_test

import (
	"context"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// Moments and thanks written on both devices at once all end up on both,
// newest first.
func TestMerge_MomentsFromBoth(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	m1 := must[string](t)(a.AddMoment(ctx, "Pancakes on Saturday", false))
	m2 := must[string](t)(b.AddMoment(ctx, "Thank you for picking me up", true))
	syncAll(t, a, b)
	for _, s := range []*crdt.Space{a, b} {
		ms := must[[]trustsync.Moment](t)(s.Moments(ctx))
		if len(ms) != 2 || ms[0].ID != m2 || !ms[0].Thanks || ms[0].By.Name != "Alex" ||
			ms[1].ID != m1 || ms[1].Thanks || ms[1].Text != "Pancakes on Saturday" {
			t.Fatalf("on %s: %+v", s.Self().DeviceName, ms)
		}
	}
	_, err := a.AddMoment(ctx, "", true)
	wantErr(t, err, trustsync.ErrInvalid)
}
