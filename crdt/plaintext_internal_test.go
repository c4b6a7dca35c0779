package crdt

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// addTextNoteCheckIn writes, on s, a check-in as versions before
// plain-string notes wrote it: every field AddCheckIn writes, the note an
// Automerge Text. It returns the check-in's ID.
func addTextNoteCheckIn(t *testing.T, s *Space, doc, note string) string {
	t.Helper()
	id := newID()
	me := s.Self().MemberID
	_, err := s.write(context.Background(), doc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m := automerge.NewMap()
		if err := root.Set(id, m); err != nil {
			return edit{}, err
		}
		if err := setFields(m,
			"author", me,
			"created_at", s.now().UnixMilli(),
			"mood", int64(2),
			"feelings", `["sad"]`,
			"note", automerge.NewText(note),
			"needs", "",
			"concerns", "",
			"appreciation", "",
			"acks", automerge.NewMap(),
			"ack_at", automerge.NewMap(),
		); err != nil {
			return edit{}, err
		}
		return edit{action: "add", kind: KindCheckIn, item: id, summary: "checked in, feeling low",
			touched: []ItemRef{{KindCheckIn, id}}}, nil
	})
	noErr(t, err)
	return id
}

// The author may put a plain string where an older version of their
// program left a Text (what an edit of the note by a later version would
// write); the partner's device takes it in and shows the new words.
func TestRules_AuthorReplacesOwnTextNote(t *testing.T) {
	ctx := context.Background()
	alex, sam := rulesPair(t)
	_ = must[string](t)(alex.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Note: "a good day"}))
	docs := slices.DeleteFunc(must[[]string](t)(alex.Docs(ctx)), func(d string) bool { return !strings.HasPrefix(d, "checkins/") })
	if len(docs) != 1 {
		t.Fatalf("check-in documents: %v", docs)
	}
	doc := docs[0]
	old := addTextNoteCheckIn(t, alex, doc, "We argued and I am still sad")
	exchange(t, alex, sam, doc)
	if c := must[trustsync.CheckIn](t)(sam.CheckIn(ctx, old)); c.Note != "We argued and I am still sad" {
		t.Fatalf("Sam's device shows the older note as %q", c.Note)
	}
	msg := `{"a":"edit","k":"checkin","i":"` + old + `","s":"changed the note"}`
	data := forge(t, alex, doc, msg, func(root *automerge.Map) error {
		return getMap(root, old).Set("note", "We argued; we talked it through since")
	})
	if _, err := sam.Import(ctx, doc, data, alex.Self().DeviceID); err != nil {
		t.Fatalf("Sam's device refused Alex's own string note over a Text one: %v", err)
	}
	if c := must[trustsync.CheckIn](t)(sam.CheckIn(ctx, old)); c.Note != "We argued; we talked it through since" {
		t.Fatalf("Sam's device shows the replaced note as %q", c.Note)
	}
}
