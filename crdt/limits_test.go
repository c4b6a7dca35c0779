package crdt_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// TestSpace_TextLimits: each field takes text up to its limit and refuses
// one character more, with an error wrapping ErrInvalid that names the
// field, the limit and the length, and nothing is written. Characters are
// counted, not bytes.
func TestSpace_TextLimits(t *testing.T) {
	ctx := context.Background()
	s, _ := newPair(t)
	b := must[string](t)(s.AddBoundary(ctx, "We talk before big purchases"))
	g := must[string](t)(s.AddGoal(ctx, "A weekly walk", ""))
	c := must[string](t)(s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3}))
	q := must[string](t)(s.AskQuestion(ctx, "What would you like more of?"))
	tests := []struct {
		field string
		max   int
		write func(text string) error
	}{
		{"the boundary text", crdt.MaxTextLen, func(x string) error { _, err := s.AddBoundary(ctx, x); return err }},
		{"the boundary text", crdt.MaxTextLen, func(x string) error { return s.EditBoundary(ctx, b, x) }},
		{"the goal title", crdt.MaxTitleLen, func(x string) error { _, err := s.AddGoal(ctx, x, ""); return err }},
		{"the why", crdt.MaxTextLen, func(x string) error { _, err := s.AddGoal(ctx, "Walk", x); return err }},
		{"the step text", crdt.MaxTextLen, func(x string) error { _, err := s.AddStep(ctx, g, x); return err }},
		{"the note", crdt.MaxNoteLen, func(x string) error {
			_, err := s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: x})
			return err
		}},
		{"a feeling", crdt.MaxNameLen, func(x string) error {
			_, err := s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Feelings: []string{x}})
			return err
		}},
		{"the reply", crdt.MaxNoteLen, func(x string) error { return s.AckCheckIn(ctx, c, x) }},
		{"what happened", crdt.MaxNoteLen, func(x string) error {
			_, err := s.WriteApology(ctx, trustsync.NewApology{Happened: x})
			return err
		}},
		{"what you will do differently", crdt.MaxNoteLen, func(x string) error {
			_, err := s.WriteApology(ctx, trustsync.NewApology{Happened: "I was late", Different: x})
			return err
		}},
		{"the question", crdt.MaxTextLen, func(x string) error { _, err := s.AskQuestion(ctx, x); return err }},
		{"the answer", crdt.MaxNoteLen, func(x string) error { return s.AnswerQuestion(ctx, q, x) }},
		{"the moment", crdt.MaxTextLen, func(x string) error { _, err := s.AddMoment(ctx, x, false); return err }},
		{"the commitment", crdt.MaxTextLen, func(x string) error { _, err := s.AddCommitment(ctx, x); return err }},
		{"the setback", crdt.MaxTextLen, func(x string) error { _, err := s.AddSetback(ctx, x, b, ""); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			long := strings.Repeat("é", tt.max+1) // two bytes each: characters are counted
			err := tt.write(long)
			wantErr(t, err, trustsync.ErrInvalid)
			want := fmt.Sprintf("%s is %d characters long, more than the %d allowed", tt.field, tt.max+1, tt.max)
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
			if tt.field == "the answer" {
				return // answering twice is refused: the good case is elsewhere
			}
			noErr(t, tt.write("  "+strings.Repeat("é", tt.max)+"\n")) // trimmed first
		})
	}
	noErr(t, s.AnswerQuestion(ctx, q, strings.Repeat("é", crdt.MaxNoteLen)))
}

// TestSpace_HugeNoteRefusedCheaply: a note of a million characters is
// refused at once, before any document is touched.
func TestSpace_HugeNoteRefusedCheaply(t *testing.T) {
	ctx := context.Background()
	s, _ := newSpace(t, "Sam", "sam-laptop")
	before := must[[]byte](t)(s.Save(ctx, crdt.CheckInDoc(time.Now())))
	start := time.Now()
	_, err := s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 2, Note: strings.Repeat("x", 1_000_000)})
	if !errors.Is(err, trustsync.ErrInvalid) || !strings.Contains(err.Error(), "the note is 1000000 characters long, more than the 10000 allowed") {
		t.Fatalf("a million-character note: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusing it took %v", d)
	}
	after := must[[]byte](t)(s.Save(ctx, crdt.CheckInDoc(time.Now())))
	if len(after) != len(before) {
		t.Errorf("the refused note changed the check-in document (%d bytes, was %d)", len(after), len(before))
	}
}
