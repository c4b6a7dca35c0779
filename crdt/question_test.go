package crdt_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// answerOf returns the answer by name to question id as s can read it.
func answerOf(t *testing.T, s *crdt.Space, id, name string) (trustsync.Answer, bool) {
	t.Helper()
	q, err := s.Question(context.Background(), id)
	if err != nil {
		t.Fatalf("Question(%s) on %s: %v", id, s.Self().DeviceName, err)
	}
	for _, a := range q.Answers {
		if a.By.Name == name {
			return a, true
		}
	}
	return trustsync.Answer{}, false
}

// wantReadable fails unless s reads name's answer as text.
func wantReadable(t *testing.T, s *crdt.Space, id, name, text string) {
	t.Helper()
	a, ok := answerOf(t, s, id, name)
	if !ok || !a.Readable || a.Text != text {
		t.Fatalf("on %s, %s's answer: %+v (present %v), want it readable as %q", s.Self().DeviceName, name, a, ok, text)
	}
}

// wantSealed fails unless s holds name's answer without being able to read
// it, and nothing s stores or shows contains its text.
func wantSealed(t *testing.T, s *crdt.Space, id, name, text string) {
	t.Helper()
	ctx := context.Background()
	a, ok := answerOf(t, s, id, name)
	if !ok || a.Readable || a.Revealed || a.Text != "" {
		t.Fatalf("on %s, %s's answer: %+v (present %v), want it there and sealed", s.Self().DeviceName, name, a, ok)
	}
	data, err := s.SaveSigned(ctx, crdt.QuestionsDoc)
	noErr(t, err)
	if bytes.Contains(data, []byte(text)) {
		t.Fatalf("on %s, the questions document holds %s's answer in clear", s.Self().DeviceName, name)
	}
	hist, err := s.History(ctx, crdt.HistoryOptions{Item: id})
	noErr(t, err)
	for _, h := range hist {
		if strings.Contains(h.Summary, text) {
			t.Fatalf("on %s, the history shows %s's answer: %q", s.Self().DeviceName, name, h.Summary)
		}
	}
}

const (
	samSays  = "The walk by the river last spring"
	alexSays = "Cooking together on Sunday evenings"
)

// A answers and syncs; B answers while offline; A gets B's answer later and
// reveals in the same step; B reads A's answer after the next sync. Neither
// reads the other's answer before answering, whichever way the documents
// travel.
func TestMerge_AnswerRevealedWhileOtherOffline(t *testing.T) {
	ctx := context.Background()
	for _, ex := range exchanges() {
		t.Run(ex.name, func(t *testing.T) {
			a, b := newPair(t)
			q := must[string](t)(a.AskQuestion(ctx, "What is a moment with me you would like to live again?"))
			noErr(t, a.AnswerQuestion(ctx, q, samSays))
			wantReadable(t, a, q, "Sam", samSays) // one's own answer, on the device that wrote it
			ex.run(t, a, b)
			wantSealed(t, b, q, "Sam", samSays)

			// Alex answers offline. Sam's answer is there already, so
			// Alex's is revealed at once; Sam's still is not.
			noErr(t, b.AnswerQuestion(ctx, q[:8], alexSays))
			wantReadable(t, b, q, "Alex", alexSays)
			wantSealed(t, b, q, "Sam", samSays)

			// Sam's device receives Alex's answer and reveals Sam's in
			// the same step: nothing is read on Sam's device before Alex's
			// device gets the reveal with the next sync.
			if ex.name == "sync" {
				syncDoc(t, b.Peer(a.Self().DeviceID), a.Peer(b.Self().DeviceID), crdt.QuestionsDoc)
			} else {
				importAll(t, b, a)
			}
			ex.run(t, a, b)
			wantReadable(t, b, q, "Sam", samSays)
			if ans, _ := answerOf(t, a, q, "Sam"); !ans.Revealed {
				t.Fatalf("Sam's answer is not revealed on Sam's device: %+v", ans)
			}
			for _, s := range []*crdt.Space{a, b} {
				wantReadable(t, s, q, "Sam", samSays)
				wantReadable(t, s, q, "Alex", alexSays)
				got := must[trustsync.Question](t)(s.Question(ctx, q))
				if !got.Both || len(got.Answers) != 2 {
					t.Fatalf("on %s: %+v", s.Self().DeviceName, got)
				}
			}
		})
	}
}

// The other order of arrival: B answers first, A second.
func TestMerge_AnswerSecondRevealsAtOnce(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	q := must[string](t)(a.AskQuestion(ctx, "What helped you most this month?"))
	syncAll(t, a, b)
	noErr(t, b.AnswerQuestion(ctx, q, alexSays))
	syncAll(t, a, b)
	wantSealed(t, a, q, "Alex", alexSays)
	noErr(t, a.AnswerQuestion(ctx, q, samSays))
	// Alex's answer is still sealed on Sam's device until Alex's device
	// has seen Sam's answer.
	wantSealed(t, a, q, "Alex", alexSays)
	syncAll(t, a, b)
	for _, s := range []*crdt.Space{a, b} {
		wantReadable(t, s, q, "Sam", samSays)
		wantReadable(t, s, q, "Alex", alexSays)
	}
}

// Both answer at once, each offline; one sync later both read both.
func TestMerge_ConcurrentAnswers(t *testing.T) {
	ctx := context.Background()
	for _, ex := range exchanges() {
		t.Run(ex.name, func(t *testing.T) {
			a, b := newPair(t)
			q := must[string](t)(b.AskQuestion(ctx, "What do you need from me this week?"))
			ex.run(t, a, b)
			noErr(t, a.AnswerQuestion(ctx, q, samSays))
			noErr(t, b.AnswerQuestion(ctx, q, alexSays))
			if _, ok := answerOf(t, a, q, "Alex"); ok {
				t.Fatal("Alex's answer reached Sam's device before any sync")
			}
			ex.run(t, a, b)
			ex.run(t, a, b) // the reveals made on receiving travel back
			for _, s := range []*crdt.Space{a, b} {
				wantReadable(t, s, q, "Sam", samSays)
				wantReadable(t, s, q, "Alex", alexSays)
			}
		})
	}
}

// An answer cannot be changed, and reading reveals nothing when there is
// nothing to reveal: the document stays as it was.
func TestSpace_AnswerOnce(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	q := must[string](t)(a.AskQuestion(ctx, "What made you smile today?"))
	noErr(t, a.AnswerQuestion(ctx, q, "your message at noon"))
	if err := a.AnswerQuestion(ctx, q, "something else"); !errors.Is(err, crdt.ErrAnswered) {
		t.Fatalf("second answer: %v, want ErrAnswered", err)
	}
	wantReadable(t, a, q, "Sam", "your message at noon")
	before := must[[]string](t)(a.Heads(ctx, crdt.QuestionsDoc))
	noErr(t, a.RevealAnswers(ctx))
	must[[]trustsync.Question](t)(a.Questions(ctx))
	if after := must[[]string](t)(a.Heads(ctx, crdt.QuestionsDoc)); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatal("reading wrote to the questions document with nothing to reveal")
	}
	wantErr(t, a.AnswerQuestion(ctx, q, " "), trustsync.ErrInvalid)
	wantErr(t, a.AnswerQuestion(ctx, "zzzzzzzz", "x"), trustsync.ErrNotFound)
	_, err := b.AskQuestion(ctx, "")
	wantErr(t, err, trustsync.ErrInvalid)
}
