package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/crdt"
)

// writeTextNoteCheckIn writes on from's device a check-in as versions
// before plain-string notes wrote it (its note an Automerge Text, signed
// by from's device key) and imports it on to, as a sync would bring it.
// It returns the check-in's ID.
func writeTextNoteCheckIn(t *testing.T, from, to *device, doc, note string) string {
	t.Helper()
	const id = "oldtextnote00000"
	var data []byte
	var fromID string
	key := deviceKey(t, from)
	from.withSpace(func(ctx context.Context, sp *crdt.Space) {
		fromID = sp.Self().DeviceID
		saved, err := sp.Save(ctx, doc)
		must(t, err)
		signed, err := sp.SaveSigned(ctx, doc)
		must(t, err)
		d, err := automerge.Load(saved)
		must(t, err)
		must(t, d.SetActorID(fromID))
		m := automerge.NewMap()
		must(t, d.RootMap().Set(id, m))
		for _, f := range []struct {
			k string
			v any
		}{
			{"author", sp.Self().MemberID}, {"created_at", from.now.UnixMilli()}, {"mood", int64(2)},
			{"feelings", `["sad"]`}, {"note", automerge.NewText(note)}, {"needs", ""}, {"concerns", ""},
			{"appreciation", ""}, {"acks", automerge.NewMap()}, {"ack_at", automerge.NewMap()},
		} {
			must(t, m.Set(f.k, f.v))
		}
		msg, err := json.Marshal(map[string]string{"a": "add", "k": crdt.KindCheckIn, "i": id, "s": "checked in, feeling low"})
		must(t, err)
		h, err := d.Commit(string(msg))
		must(t, err)
		data = signBundle(t, signed, d.Save(), doc, key, h)
	})
	to.withSpace(func(ctx context.Context, sp *crdt.Space) {
		_, err := sp.Import(ctx, doc, data, fromID)
		must(t, err)
	})
	return id
}

// A check-in whose note an older version wrote as Text lists, shows,
// exports and syncs beside one written now as a plain string.
func TestCheckin_OlderTextNote(t *testing.T) {
	sam := initDevice(t, "Sam", "sam-laptop")
	alex := initDevice(t, "Alex", "alex-phone")
	fresh := sam.create("checkin", "add", "--mood", "4", "--note", "I liked our walk.")
	pair(t, sam, alex)
	alex.now = sam.now
	const note = "We argued on Sunday.\nI am still sad."
	old := writeTextNoteCheckIn(t, sam, alex, crdt.CheckInDoc(sam.now), note)

	list := decode[[]checkinJSON](t, alex.ok("checkin", "list", "--json"))
	if len(list) != 2 {
		t.Fatalf("Alex's device lists %d check-ins: %+v", len(list), list)
	}
	notes := map[string]string{}
	for _, c := range list {
		notes[c.ID] = c.Note
	}
	if notes[old] != note || notes[fresh] != "I liked our walk." {
		t.Fatalf("Alex's device lists the notes %q", notes)
	}
	contains(t, "checkin list", alex.ok("checkin", "list"), old[:8], "We argued on Sunday.", fresh[:8], "I liked our walk.")
	contains(t, "checkin show", alex.ok("checkin", "show", old),
		"Check-in "+old, "From Sam", "Mood:      2 (low)", "    We argued on Sunday.\n    I am still sad.")
	contains(t, "export markdown", alex.ok("export", "--format", "markdown"),
		"> We argued on Sunday.\n> I am still sad.", "> I liked our walk.")
	e := decode[exportJSON](t, alex.ok("export", "--format", "json"))
	exported := map[string]string{}
	for _, c := range e.CheckIns {
		exported[c.ID] = c.Note
	}
	if exported[old] != note || exported[fresh] != "I liked our walk." {
		t.Fatalf("the JSON export holds the notes %q", exported)
	}

	// Alex acknowledges it; Sam's device, which gets its own older
	// check-in back with the reply, shows both.
	alex.ok("checkin", "ack", old, "--reply", "I am sad too. Can we talk tonight?")
	syncDevices(t, sam, alex)
	c := decode[checkinJSON](t, sam.ok("checkin", "show", old, "--json"))
	if c.Note != note || strings.Join(c.AcknowledgedBy, ",") != "Alex" || len(c.Acks) != 1 ||
		c.Acks[0].Reply != "I am sad too. Can we talk tonight?" {
		t.Fatalf("Sam's device shows %+v", c)
	}
	contains(t, "Sam's export", sam.ok("export", "--format", "markdown"),
		"> We argued on Sunday.\n> I am still sad.", "who replied:\n\n> I am sad too. Can we talk tonight?")
}
