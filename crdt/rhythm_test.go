package crdt_test

import (
	"context"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

func weekly(t *testing.T, day string) trustsync.Cadence {
	t.Helper()
	c, err := crdt.ParseCadence("weekly", day)
	noErr(t, err)
	return c
}

// A cadence agreed on one device and changed on the other at the same time:
// the agreement was to the old cadence and no longer counts; both agree
// again to the new one.
func TestMerge_RhythmChangedWhileAgreed(t *testing.T) {
	ctx := context.Background()
	for _, ex := range exchanges() {
		t.Run(ex.name, func(t *testing.T) {
			a, b := newPair(t)
			noErr(t, a.SetRhythm(ctx, weekly(t, "sunday")))
			noErr(t, a.AgreeRhythm(ctx))
			ex.run(t, a, b)
			noErr(t, b.AgreeRhythm(ctx))                    // Alex agrees to Sunday...
			noErr(t, a.SetRhythm(ctx, weekly(t, "monday"))) // ...while Sam changes it
			ex.run(t, a, b)
			for _, s := range []*crdt.Space{a, b} {
				r := must[trustsync.Rhythm](t)(s.Rhythm(ctx))
				if r.Agreed || r.Cadence.String() != "weekly on Monday" || len(r.Agreements) != 2 {
					t.Fatalf("on %s: %+v", s.Self().DeviceName, r)
				}
				for _, ag := range r.Agreements {
					if ag.Current {
						t.Fatalf("on %s: an agreement to Sunday counts for Monday: %+v", s.Self().DeviceName, r)
					}
				}
			}
			noErr(t, a.AgreeRhythm(ctx))
			noErr(t, b.AgreeRhythm(ctx))
			ex.run(t, a, b)
			for _, s := range []*crdt.Space{a, b} {
				if r := must[trustsync.Rhythm](t)(s.Rhythm(ctx)); !r.Agreed {
					t.Fatalf("on %s after both agreed: %+v", s.Self().DeviceName, r)
				}
			}
		})
	}
}

// Two devices that each set a rhythm before they ever synced end up with
// the same rhythm in effect.
func TestMerge_RhythmSetOnBothBeforeSync(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	noErr(t, a.SetRhythm(ctx, weekly(t, "sunday")))
	noErr(t, b.SetRhythm(ctx, weekly(t, "wednesday")))
	syncAll(t, a, b)
	ra, rb := must[trustsync.Rhythm](t)(a.Rhythm(ctx)), must[trustsync.Rhythm](t)(b.Rhythm(ctx))
	if ra.ID != rb.ID || ra.Cadence != rb.Cadence || ra.Cadence.Day != time.Wednesday {
		t.Fatalf("rhythms differ or the later one lost: %+v / %+v", ra, rb)
	}
}

func TestParseCadence(t *testing.T) {
	for _, tc := range []struct {
		every, day, want string
		ok               bool
	}{
		{"weekly", "sunday", "weekly on Sunday", true},
		{"Weekly", "Sun", "weekly on Sunday", true},
		{"weekly", "thu", "weekly on Thursday", true},
		{"daily", "", "daily", true},
		{"weekly", "", "", false},
		{"weekly", "funday", "", false},
		{"weekly", "s", "", false},
		{"daily", "monday", "", false},
		{"hourly", "", "", false},
	} {
		c, err := crdt.ParseCadence(tc.every, tc.day)
		if (err == nil) != tc.ok || (tc.ok && c.String() != tc.want) {
			t.Errorf("ParseCadence(%q, %q) = %v, %v; want %q ok=%v", tc.every, tc.day, c, err, tc.want, tc.ok)
		}
		if err != nil {
			wantErr(t, err, trustsync.ErrInvalid)
		}
	}
}

// Due follows the agreed rhythm, computed on the device alone. The test
// clock starts on Sunday 1 March 2026, 09:00 UTC.
func TestSpace_Due(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }

	d := must[crdt.Due](t)(a.Due(ctx, day(1, 12)))
	if d.HasRhythm || !d.Next.IsZero() || d.Now {
		t.Fatalf("without a rhythm: %+v", d)
	}
	noErr(t, a.SetRhythm(ctx, weekly(t, "sunday")))
	noErr(t, a.AgreeRhythm(ctx))
	syncAll(t, a, b)
	if d := must[crdt.Due](t)(a.Due(ctx, day(1, 12))); !d.HasRhythm || !d.Next.IsZero() {
		t.Fatalf("agreed by one only: %+v", d)
	}
	noErr(t, b.AgreeRhythm(ctx))
	syncAll(t, a, b)

	// Agreed on Sunday: due that same Sunday, until Sam checks in.
	if d := must[crdt.Due](t)(a.Due(ctx, day(1, 12))); !d.Now || !d.Next.Equal(day(1, 0)) {
		t.Fatalf("on the agreed Sunday: %+v", d)
	}
	must[string](t)(a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Note: "a good week"}))
	if d := must[crdt.Due](t)(a.Due(ctx, day(4, 12))); d.Now || !d.Next.Equal(day(8, 0)) {
		t.Fatalf("after checking in: %+v", d)
	}
	// The next Sunday comes: due again, and stays due on Monday.
	if d := must[crdt.Due](t)(a.Due(ctx, day(9, 10))); !d.Now || !d.Next.Equal(day(8, 0)) {
		t.Fatalf("the Monday after: %+v", d)
	}
	// Alex's device computes Alex's own: Alex has not checked in since.
	if d := must[crdt.Due](t)(b.Due(ctx, day(4, 12))); !d.Now || !d.Next.Equal(day(1, 0)) {
		t.Fatalf("Alex, who has not checked in: %+v", d)
	}

	// Sam's check-in waits for Alex's acknowledgement, on Alex's device.
	syncAll(t, a, b)
	d = must[crdt.Due](t)(b.Due(ctx, day(4, 12)))
	if len(d.Waiting) != 1 || d.Waiting[0].Author.Name != "Sam" {
		t.Fatalf("waiting for Alex: %+v", d.Waiting)
	}
	noErr(t, b.AckCheckIn(ctx, d.Waiting[0].ID, ""))
	if d := must[crdt.Due](t)(b.Due(ctx, day(4, 12))); len(d.Waiting) != 0 {
		t.Fatalf("still waiting after the acknowledgement: %+v", d.Waiting)
	}
	if d := must[crdt.Due](t)(a.Due(ctx, day(4, 12))); len(d.Waiting) != 0 {
		t.Fatalf("Sam's own check-in waits for Sam: %+v", d.Waiting)
	}

	// A changed rhythm is not agreed: nothing is due under it.
	noErr(t, b.SetRhythm(ctx, weekly(t, "wed")))
	if d := must[crdt.Due](t)(b.Due(ctx, day(4, 12))); !d.Next.IsZero() || d.Now {
		t.Fatalf("under a rhythm not agreed yet: %+v", d)
	}
}

// In another time zone the day starts at local midnight.
func TestSpace_DueLocalDay(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	c, err := crdt.ParseCadence("daily", "")
	noErr(t, err)
	noErr(t, a.SetRhythm(ctx, c))
	noErr(t, a.AgreeRhythm(ctx))
	syncAll(t, a, b)
	noErr(t, b.AgreeRhythm(ctx))
	syncAll(t, a, b)
	tokyo := time.FixedZone("UTC+9", 9*3600)
	// 23:00 UTC on 2 March is 08:00 on 3 March in UTC+9: a new day there.
	at := time.Date(2026, 3, 2, 23, 0, 0, 0, time.UTC).In(tokyo)
	d := must[crdt.Due](t)(a.Due(ctx, at))
	if !d.Now || !d.Next.Equal(time.Date(2026, 3, 3, 0, 0, 0, 0, tokyo)) {
		t.Fatalf("daily in UTC+9: %+v", d)
	}
}
