package crdt_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// modifiedAnswers edits from's questions document the way a modified
// client could, setting answer[key] = value on question q for each pair, as
// from's device, and imports the result into to.
func modifiedAnswers(t *testing.T, from, to *crdt.Space, q string, entries map[string]string) error {
	t.Helper()
	ctx := context.Background()
	data := must[[]byte](t)(from.Save(ctx, crdt.QuestionsDoc))
	d, err := automerge.Load(data)
	noErr(t, err)
	noErr(t, d.SetActorID(from.Self().DeviceID))
	v, err := d.RootMap().Get(q)
	noErr(t, err)
	answer, err := v.Map().Get("answer")
	noErr(t, err)
	for k, s := range entries {
		noErr(t, answer.Map().Set(k, s))
	}
	_, err = d.Commit("answer")
	noErr(t, err)
	// A modified client signs what it writes with its own device's key.
	_, err = to.Import(ctx, crdt.QuestionsDoc, must[[]byte](t)(crdt.SignAs(from, crdt.QuestionsDoc, d)), from.Self().DeviceID)
	return err
}

// TestQuestion_JunkAnswerRevealsNothing: Alex's device runs a modified
// client that puts junk in the question's answer map -- under a made-up
// member ID, and under Alex's own ID but not shaped like a sealed answer --
// instead of answering. Sam's device reveals nothing: the question still
// waits for Alex, the junk is not shown as an answer, and Sam's answer
// stays sealed. A real answer from Alex then reveals as usual.
func TestQuestion_JunkAnswerRevealsNothing(t *testing.T) {
	ctx := context.Background()
	sam, alex := newPair(t)
	q := must[string](t)(sam.AskQuestion(ctx, "What would you like more of?"))
	noErr(t, sam.AnswerQuestion(ctx, q, samSays))
	syncAll(t, sam, alex)

	wellShaped := base64.StdEncoding.EncodeToString(make([]byte, 12+16+10))
	junk := map[string]string{
		"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz": wellShaped, // a member that does not exist
		sam.Self().MemberID + "x":          wellShaped,
	}
	for name, v := range map[string]string{
		"not base64":       "this is not an answer",
		"too short":        base64.StdEncoding.EncodeToString(make([]byte, 12+16)),
		"too long":         base64.StdEncoding.EncodeToString(make([]byte, 12+16+4*crdt.MaxNoteLen+1)),
		"padding mistaken": wellShaped[:len(wellShaped)-1],
	} {
		t.Run(name, func(t *testing.T) {
			// Under Alex's own ID: the write rules let Alex's device
			// write there; the shape check must keep it from counting.
			s, a := newPair(t)
			entries := map[string]string{a.Self().MemberID: v}
			qq := must[string](t)(s.AskQuestion(ctx, "What would you like more of?"))
			noErr(t, s.AnswerQuestion(ctx, qq, samSays))
			syncAll(t, s, a)
			noErr(t, modifiedAnswers(t, a, s, qq, entries))
			noErr(t, s.RevealAnswers(ctx))
			got := must[trustsync.Question](t)(s.Question(ctx, qq))
			if got.Both || len(got.Answers) != 1 || got.Answers[0].By.Name != "Sam" || got.Answers[0].Revealed {
				t.Fatalf("after a junk answer (%s): %+v, want only Sam's answer, unrevealed, still waiting", name, got)
			}
			data := must[[]byte](t)(s.Save(ctx, crdt.QuestionsDoc))
			if d, err := automerge.Load(data); err == nil {
				if v, _ := d.Path(qq, "key", s.Self().MemberID).Get(); v.Kind() != automerge.KindVoid {
					t.Fatalf("Sam's key is in the document after a junk answer (%s)", name)
				}
			}
		})
	}

	// Junk under made-up IDs alone, then Alex's real answer.
	// Under made-up IDs: refused on receipt, as an answer written in
	// another's name.
	wantErr(t, modifiedAnswers(t, alex, sam, q, junk), trustsync.ErrForged)
	got := must[trustsync.Question](t)(sam.Question(ctx, q))
	if got.Both || len(got.Answers) != 1 || got.Answers[0].Revealed {
		t.Fatalf("after junk under made-up IDs: %+v", got)
	}
	for _, a := range got.Answers {
		if strings.HasPrefix(a.By.ID, "zzzz") {
			t.Fatalf("junk shown as an answer: %+v", a)
		}
	}
	syncAll(t, sam, alex)
	wantSealed(t, alex, q, "Sam", samSays)
	noErr(t, alex.AnswerQuestion(ctx, q, alexSays))
	syncAll(t, sam, alex)
	syncAll(t, sam, alex)
	wantReadable(t, alex, q, "Sam", samSays)
	wantReadable(t, sam, q, "Alex", alexSays)
}
