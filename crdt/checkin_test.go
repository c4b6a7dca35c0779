package crdt_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// TestSpace_AddCheckIn_FeelingsList: a check-in's feelings are stored as
// an Automerge list of strings, with the JSON string that devices on the
// previous version read next to it, and reach the partner whole.
func TestSpace_AddCheckIn_FeelingsList(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	feelings := []string{"tired", "hopeful, a little", `"heard"`}
	id := must[string](t)(a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Feelings: feelings}))
	doc := checkInDoc(t, a)
	if k := savedKind(t, a, doc, id, "feeling_list"); k != automerge.KindList {
		t.Fatalf("feeling_list is a %v, want a list", k)
	}
	d, err := automerge.Load(must[[]byte](t)(a.Save(ctx, doc)))
	noErr(t, err)
	list, err := automerge.As[[]string](d.Path(id, "feeling_list").Get())
	noErr(t, err)
	legacy, err := automerge.As[string](d.Path(id, "feelings").Get())
	noErr(t, err)
	var old []string
	noErr(t, json.Unmarshal([]byte(legacy), &old))
	if !slices.Equal(list, feelings) || !slices.Equal(old, feelings) {
		t.Fatalf("stored feelings: list %q, string for earlier versions %q; want %q", list, old, feelings)
	}
	syncAll(t, a, b)
	for _, s := range []struct {
		name string
		got  []string
	}{
		{"author", must[trustsync.CheckIn](t)(a.CheckIn(ctx, id)).Feelings},
		{"partner", must[trustsync.CheckIn](t)(b.CheckIn(ctx, id)).Feelings},
	} {
		if !slices.Equal(s.got, feelings) {
			t.Errorf("the %s's device reads the feelings %q, want %q", s.name, s.got, feelings)
		}
	}
}
