package crdt_test

import (
	"context"
	"errors"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// TestSpace_AgreeBoundaryText: Alex is shown a boundary's words; before
// Alex agrees, Sam's edit arrives by sync. Agreeing to the words Alex saw
// is refused with the new words, nothing is recorded, and agreeing to the
// new words works.
func TestSpace_AgreeBoundaryText(t *testing.T) {
	ctx := context.Background()
	alex, sam := newPair(t)
	id := must[string](t)(sam.AddBoundary(ctx, "We talk before big purchases"))
	syncAll(t, alex, sam)

	shown := mustBoundary(t, alex, id).Text
	noErr(t, sam.EditBoundary(ctx, id, "We talk before purchases over 20 euros"))
	syncAll(t, alex, sam) // the edit arrives between showing and agreeing

	err := alex.AgreeBoundaryText(ctx, id[:8], shown)
	wantErr(t, err, crdt.ErrTextChanged)
	var tc *crdt.TextChangedError
	if !errors.As(err, &tc) {
		t.Fatalf("AgreeBoundaryText after an edit: %v, want a *TextChangedError", err)
	}
	if tc.Current != "We talk before purchases over 20 euros" || tc.Seen != shown || tc.ID != id || tc.Kind != crdt.KindBoundary {
		t.Errorf("TextChangedError = %+v", tc)
	}
	if b := mustBoundary(t, alex, id); len(b.Agreements) != 0 {
		t.Fatalf("a refused agreement was recorded: %+v", b.Agreements)
	}

	noErr(t, alex.AgreeBoundaryText(ctx, id, tc.Current))
	noErr(t, sam.AgreeBoundaryText(ctx, id, "We talk before purchases over 20 euros"))
	syncAll(t, alex, sam)
	for _, s := range []*crdt.Space{alex, sam} {
		if b := mustBoundary(t, s, id); !b.Agreed {
			t.Errorf("on %s after both agreed to the new words: %+v", s.Self().DeviceName, b)
		}
	}
	// Agreeing again to the same words is no change; to other words, refused.
	noErr(t, alex.AgreeBoundaryText(ctx, id, tc.Current))
	wantErr(t, alex.AgreeBoundaryText(ctx, id, tc.Current+" "), crdt.ErrTextChanged)
	wantErr(t, alex.AgreeBoundaryText(ctx, "qqqqqqqqqqqqqqqq", "x"), trustsync.ErrNotFound)
}

// TestSpace_AgreeRhythmCadence: the same for the rhythm: an agreement to
// Sunday is refused once Monday is in effect.
func TestSpace_AgreeRhythmCadence(t *testing.T) {
	ctx := context.Background()
	alex, sam := newPair(t)
	noErr(t, sam.SetRhythm(ctx, weekly(t, "sunday")))
	syncAll(t, alex, sam)
	shown := must[trustsync.Rhythm](t)(alex.Rhythm(ctx)).Cadence
	noErr(t, sam.SetRhythm(ctx, weekly(t, "monday")))
	syncAll(t, alex, sam)

	err := alex.AgreeRhythmCadence(ctx, shown)
	wantErr(t, err, crdt.ErrTextChanged)
	var tc *crdt.TextChangedError
	if !errors.As(err, &tc) || tc.Current != "weekly on Monday" || tc.Seen != "weekly on Sunday" {
		t.Fatalf("AgreeRhythmCadence to Sunday with Monday in effect: %v (%+v)", err, tc)
	}
	if r := must[trustsync.Rhythm](t)(alex.Rhythm(ctx)); len(r.Agreements) != 0 {
		t.Fatalf("a refused agreement was recorded: %+v", r.Agreements)
	}
	noErr(t, alex.AgreeRhythmCadence(ctx, weekly(t, "monday")))
	noErr(t, sam.AgreeRhythmCadence(ctx, weekly(t, "monday")))
	syncAll(t, alex, sam)
	if r := must[trustsync.Rhythm](t)(alex.Rhythm(ctx)); !r.Agreed {
		t.Fatalf("after both agreed to Monday: %+v", r)
	}
}
