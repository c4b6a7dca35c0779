package amwire_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
)

// syncMessages runs a sync between a and b to the end and returns every
// message sent, in order.
func syncMessages(t testing.TB, a, b *automerge.Doc) []*automerge.SyncMessage {
	t.Helper()
	sa, sb := automerge.NewSyncState(a), automerge.NewSyncState(b)
	var msgs []*automerge.SyncMessage
	for range 20 {
		progress := false
		for _, p := range [][2]*automerge.SyncState{{sa, sb}, {sb, sa}} {
			m, ok := p[0].GenerateMessage()
			if !ok {
				continue
			}
			progress = true
			msgs = append(msgs, m)
			if _, err := p[1].ReceiveMessage(m.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		if !progress {
			return msgs
		}
	}
	t.Fatal("sync did not end")
	return nil
}

// checkSyncMessage parses m and compares it with what automerge-go says.
func checkSyncMessage(t testing.TB, m *automerge.SyncMessage) *amwire.SyncMessage {
	t.Helper()
	got, err := amwire.ParseSyncMessage(m.Bytes(), amwire.Limits{})
	if err != nil {
		t.Fatalf("ParseSyncMessage: %v", err)
	}
	heads := m.Heads()
	if len(got.Heads) != len(heads) {
		t.Fatalf("%d heads, automerge-go says %d", len(got.Heads), len(heads))
	}
	for i := range heads {
		if got.Heads[i] != amwire.Hash(heads[i]) {
			t.Errorf("head %d = %s, automerge-go says %s", i, got.Heads[i], heads[i])
		}
	}
	chs := m.Changes()
	if len(got.Changes) != len(chs) {
		t.Fatalf("%d changes, automerge-go says %d", len(got.Changes), len(chs))
	}
	for i, ch := range chs {
		checkMeta(t, got.Changes[i], ch)
		want := parse(t, ch)
		if !reflect.DeepEqual(got.Changes[i].Ops, want.Ops) {
			t.Errorf("change %d: ops differ from the change's own bytes", i)
		}
	}
	return got
}

// TestParseSyncMessage parses every message of syncs between two documents
// with their own histories, and compares heads and changes with automerge-go.
func TestParseSyncMessage(t *testing.T) {
	a, b := newDoc(t, actorA), newDoc(t, actorB)
	for i := range 5 {
		if err := a.RootMap().Set("a", int64(i)); err != nil {
			t.Fatal(err)
		}
		commit(t, a, "a", int64(i))
	}
	if err := a.RootMap().Set("note", automerge.NewText(strings.Repeat("long text ", 150))); err != nil {
		t.Fatal(err)
	}
	commit(t, a, "long", 10)
	if err := b.RootMap().Set("b", "from b"); err != nil {
		t.Fatal(err)
	}
	commit(t, b, "b", 11)

	var changes, haves, blooms int
	for round := range 2 {
		if round == 1 {
			// New edits on both sides for a second sync.
			if err := a.RootMap().Set("a", "again"); err != nil {
				t.Fatal(err)
			}
			commit(t, a, "a again", 20)
			if err := b.RootMap().Set("b", "again"); err != nil {
				t.Fatal(err)
			}
			commit(t, b, "b again", 21)
		}
		msgs := syncMessages(t, a, b)
		if len(msgs) < 2 {
			t.Fatalf("round %d: %d messages", round, len(msgs))
		}
		for _, m := range msgs {
			got := checkSyncMessage(t, m)
			changes += len(got.Changes)
			haves += len(got.Have)
			for _, h := range got.Have {
				if len(h.Bloom) > 0 {
					blooms++
				}
			}
		}
	}
	if changes != 9 || haves == 0 || blooms == 0 {
		t.Errorf("messages carried %d changes (want 9), %d haves, %d Bloom filters", changes, haves, blooms)
	}
	if !reflect.DeepEqual(a.Heads(), b.Heads()) {
		t.Errorf("the documents did not converge")
	}
}

// TestParseSyncMessage_Fields reads every field of a hand-built message,
// including needs, which a short sync between two documents does not send.
func TestParseSyncMessage_Fields(t *testing.T) {
	h := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	bloom := []byte{2, 10, 7, 0xaa, 0xbb, 0xcc} // 2 entries of 10 bits: 3 bytes
	c := change{cols: setKeys("name", "x")}.chunk()
	var in []byte
	in = append(in, 0x42, 1)
	in = append(in, h(1)...)
	in = append(in, 2)
	in = append(in, h(2)...)
	in = append(in, h(3)...)
	in = append(in, 1, 1)
	in = append(in, h(1)...)
	in = append(in, byte(len(bloom)))
	in = append(in, bloom...)
	in = append(in, 1, byte(len(c)))
	in = append(in, c...)
	in = append(in, 2, 2, 0x84)
	m, err := amwire.ParseSyncMessage(in, amwire.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	hash := func(b byte) amwire.Hash { return amwire.Hash(h(b)) }
	want := &amwire.SyncMessage{
		Heads:   []amwire.Hash{hash(1)},
		Need:    []amwire.Hash{hash(2), hash(3)},
		Have:    []amwire.Have{{LastSync: []amwire.Hash{hash(1)}, Bloom: bloom}},
		Changes: m.Changes,
		Flags:   []byte{2, 0x84},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %+v\nwant %+v", m, want)
	}
	if len(m.Changes) != 1 || describe(m.Changes[0], m.Changes[0].Ops[0]) != `Set root.name = "x"` || m.Changes[0].Size != len(c) {
		t.Errorf("changes %+v", m.Changes)
	}
	// The message's bytes are not aliased.
	in[bytes.Index(in, bloom)+3] ^= 0xff
	if m.Have[0].Bloom[3] != 0xaa {
		t.Errorf("the Bloom filter aliases the input")
	}
}
