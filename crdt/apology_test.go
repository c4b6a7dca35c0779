package crdt_test

import (
	"context"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// An apology travels whole; the other partner acknowledges it when ready,
// from any of their devices, and the author cannot do it for them.
func TestMerge_ApologyAcknowledged(t *testing.T) {
	ctx := context.Background()
	for _, ex := range exchanges() {
		t.Run(ex.name, func(t *testing.T) {
			a, b := newPair(t)
			id := must[string](t)(a.WriteApology(ctx, trustsync.NewApology{
				Happened:       "I hid the messages from my ex",
				Impact:         "You felt foolish and alone",
				Responsibility: "I chose to hide them",
				Different:      "I show you when they write",
			}))
			wantErr(t, a.AckApology(ctx, id, ""), trustsync.ErrInvalid)
			ex.run(t, a, b)
			if ap := must[trustsync.Apology](t)(b.Apology(ctx, id[:8])); len(ap.Acks) != 0 || ap.Impact != "You felt foolish and alone" {
				t.Fatalf("on Alex's device before any acknowledgement: %+v", ap)
			}
			noErr(t, b.AckApology(ctx, id, "I read it. I need time."))
			ex.run(t, a, b)
			for _, s := range []*crdt.Space{a, b} {
				aps := must[[]trustsync.Apology](t)(s.Apologies(ctx))
				if len(aps) != 1 {
					t.Fatalf("on %s: %+v", s.Self().DeviceName, aps)
				}
				ap := aps[0]
				if ap.Author.Name != "Sam" || ap.Happened != "I hid the messages from my ex" ||
					ap.Responsibility != "I chose to hide them" || ap.Different != "I show you when they write" {
					t.Fatalf("on %s: %+v", s.Self().DeviceName, ap)
				}
				if len(ap.Acks) != 1 || ap.Acks[0].By.Name != "Alex" || ap.Acks[0].Reply != "I read it. I need time." {
					t.Fatalf("on %s, acks: %+v", s.Self().DeviceName, ap.Acks)
				}
			}
			_, err := a.WriteApology(ctx, trustsync.NewApology{Impact: "only this"})
			wantErr(t, err, trustsync.ErrInvalid)
		})
	}
}
