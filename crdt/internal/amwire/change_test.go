package amwire_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
)

// TestParseChange_Ops makes one change per step with automerge-go and
// checks that the parsed operations are the edits the step made.
func TestParseChange_Ops(t *testing.T) {
	d := newDoc(t, actorA)
	root := d.RootMap()
	get := func(key string) *automerge.Value {
		v, err := root.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	steps := []struct {
		name string
		edit func() error
		want []string
	}{{
		name: "root map set of str, int64, bool",
		edit: func() error {
			return errors.Join(root.Set("name", "x"), root.Set("age", int64(42)), root.Set("ok", true))
		},
		want: []string{`Set root.name = "x"`, `Set root.age = int 42`, `Set root.ok = true`},
	}, {
		name: "overwrite and delete map keys",
		edit: func() error { return errors.Join(root.Set("name", "y"), root.Delete("age")) },
		want: []string{`Set root.name = "y" pred 1@A`, `Del root.age pred 2@A`},
	}, {
		name: "nested map created under a root key and written into",
		edit: func() error {
			if err := root.Set("profile", automerge.NewMap()); err != nil {
				return err
			}
			return get("profile").Map().Set("city", "Oslo")
		},
		want: []string{`MakeMap root.profile`, `Set 6@A.city = "Oslo"`},
	}, {
		name: "nested map written into in a later change",
		edit: func() error {
			m := get("profile").Map()
			return errors.Join(m.Set("city", "Bergen"), m.Set("zip", int64(5003)))
		},
		want: []string{`Set 6@A.city = "Bergen" pred 7@A`, `Set 6@A.zip = int 5003`},
	}, {
		name: "counter",
		edit: func() error {
			if err := root.Set("visits", automerge.NewCounter(5)); err != nil {
				return err
			}
			return get("visits").Counter().Inc(3)
		},
		want: []string{`Set root.visits = counter 5`, `Inc root.visits = int 3 pred 10@A`},
	}, {
		name: "counter decremented later",
		edit: func() error { return get("visits").Counter().Inc(-2) },
		want: []string{`Inc root.visits = int -2 pred 10@A`},
	}, {
		name: "list append, insert, set, delete",
		edit: func() error {
			if err := root.Set("tags", automerge.NewList()); err != nil {
				return err
			}
			l := get("tags").List()
			return errors.Join(l.Append("a", "b"), l.Insert(0, "z"), l.Set(1, "A"), l.Delete(2))
		},
		want: []string{
			`MakeList root.tags`,
			`Set 13@A[head] insert = "a"`,
			`Set 13@A[14@A] insert = "b"`,
			`Set 13@A[head] insert = "z"`,
			`Set 13@A[14@A] = "A" pred 14@A`,
			`Del 13@A[15@A] pred 15@A`,
		},
	}, {
		name: "text created with content",
		edit: func() error { return root.Set("note", automerge.NewText("hi")) },
		want: []string{`MakeText root.note`, `Set 19@A[head] insert = "h"`, `Set 19@A[20@A] insert = "i"`},
	}, {
		name: "text splice and delete",
		edit: func() error {
			tx := get("note").Text()
			return errors.Join(tx.Splice(1, 1, "o!"), tx.Delete(0, 1))
		},
		want: []string{
			`Del 19@A[21@A] pred 21@A`,
			`Set 19@A[20@A] insert = "o"`,
			`Set 19@A[23@A] insert = "!"`,
			`Del 19@A[20@A] pred 20@A`,
		},
	}, {
		name: "more value kinds",
		edit: func() error {
			return errors.Join(root.Set("f", 1.5), root.Set("u", uint64(7)), root.Set("b", []byte{1, 2}),
				root.Set("nil", nil), root.Set("empty", ""))
		},
		want: []string{`Set root.f = float 1.5`, `Set root.u = uint 7`, `Set root.b = bytes 0102`,
			`Set root.nil = null`, `Set root.empty = ""`},
	}}
	var startOp uint64 = 1
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.edit(); err != nil {
				t.Fatal(err)
			}
			c := parse(t, commit(t, d, st.name, 1700000000000+int64(i)))
			if got := describeAll(c); !reflect.DeepEqual(got, st.want) {
				t.Errorf("ops:\n got %q\nwant %q", got, st.want)
			}
			if c.StartOp != startOp {
				t.Errorf("StartOp = %d, want %d", c.StartOp, startOp)
			}
			for j, op := range c.Ops {
				if op.ID != (amwire.OpID{Counter: c.StartOp + uint64(j)}) {
					t.Errorf("op %d has ID %v", j, op.ID)
				}
			}
			startOp += uint64(len(c.Ops))
		})
	}
	// An empty change without a message.
	h, err := d.Commit("", automerge.CommitOptions{AllowEmpty: true})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := d.Change(h)
	if err != nil {
		t.Fatal(err)
	}
	if c := parse(t, ch); len(c.Ops) != 0 || c.Message != "" || c.StartOp != startOp {
		t.Errorf("empty commit gave %d ops, message %q, start op %d", len(c.Ops), c.Message, c.StartOp)
	}
}

// TestParseChange_Metadata checks hash, actor, seq, deps, message and time
// against automerge-go across two actors, and a change that refers to
// another actor's operations.
func TestParseChange_Metadata(t *testing.T) {
	a := newDoc(t, actorA)
	if err := a.RootMap().Set("shared", automerge.NewMap()); err != nil {
		t.Fatal(err)
	}
	first := parse(t, commit(t, a, "first", 1700000000001))
	if first.Seq != 1 || len(first.Deps) != 0 || first.Message != "first" || first.Time != 1700000000001 {
		t.Errorf("first change: seq %d, %d deps, message %q, time %d", first.Seq, len(first.Deps), first.Message, first.Time)
	}
	b, err := a.Fork()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetActorID(actorB); err != nil {
		t.Fatal(err)
	}
	v, _ := b.RootMap().Get("shared")
	if err := v.Map().Set("by", "B"); err != nil {
		t.Fatal(err)
	}
	chB := commit(t, b, "from B, with ünïcode ✓", 1700000000002)
	cB := parse(t, chB)
	if got := describeAll(cB); !reflect.DeepEqual(got, []string{`Set 1@A.by = "B"`}) {
		t.Errorf("B's ops: %q", got)
	}
	if len(cB.Actors) != 2 || cB.ActorHex() != actorB {
		t.Errorf("B's change has actors %x", cB.Actors)
	}
	if cB.Deps[0] != first.Hash {
		t.Errorf("B's change depends on %s, not on %s", cB.Deps[0], first.Hash)
	}
	if _, err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	v, _ = a.RootMap().Get("shared")
	if err := v.Map().Set("by", "A"); err != nil {
		t.Fatal(err)
	}
	cA := parse(t, commit(t, a, "A overwrites B", -5))
	if got := describeAll(cA); !reflect.DeepEqual(got, []string{`Set 1@A.by = "A" pred 2@B`}) {
		t.Errorf("A's ops: %q", got)
	}
	if cA.Seq != 2 || cA.Time != -5 {
		t.Errorf("A's second change: seq %d, time %d", cA.Seq, cA.Time)
	}
}

// textModel rebuilds a text object from parsed operations.
type textModel struct {
	obj   gid
	elems []textElem
}

type textElem struct {
	id      gid
	s       string
	deleted bool
}

func (m *textModel) apply(t *testing.T, c *amwire.Change) {
	t.Helper()
	for _, op := range c.Ops {
		if op.Action == amwire.MakeText {
			m.obj = global(c, op.ID)
			continue
		}
		if global(c, op.Obj) != m.obj {
			continue
		}
		at := -1
		if op.Elem.Counter != 0 {
			for i, e := range m.elems {
				if e.id == global(c, op.Elem) {
					at = i
				}
			}
			if at < 0 {
				t.Fatalf("op %s refers to an unknown element", describe(c, op))
			}
		}
		switch {
		case op.Insert && op.Action == amwire.Set:
			m.elems = append(m.elems[:at+1], append([]textElem{{id: global(c, op.ID), s: op.Value.Str}}, m.elems[at+1:]...)...)
		case op.Action == amwire.Del && at >= 0:
			m.elems[at].deleted = true
		default:
			t.Fatalf("unexpected text op %s", describe(c, op))
		}
	}
}

func (m *textModel) String() string {
	var s strings.Builder
	for _, e := range m.elems {
		if !e.deleted {
			s.WriteString(e.s)
		}
	}
	return s.String()
}

// TestParseChange_Text rebuilds a text object from the parsed operations of
// inserts, splices and deletes, a long text among them, and compares it with
// what automerge-go holds after each change.
func TestParseChange_Text(t *testing.T) {
	d := newDoc(t, actorA)
	if err := d.RootMap().Set("note", automerge.NewText("Dear diary")); err != nil {
		t.Fatal(err)
	}
	v, _ := d.RootMap().Get("note")
	tx := v.Text()
	long := strings.Repeat("The quick brown fox jumps over the lazy dog; ", 40) // 1,800 bytes
	edits := []func() error{
		func() error { return nil },
		func() error { return tx.Insert(4, ",") },
		func() error { return tx.Splice(0, 4, "Hello") },
		func() error { return tx.Delete(tx.Len()-2, 2) },
		func() error { return tx.Append(long) },
		func() error { return tx.Splice(10, 900, "éé✓") },
		func() error { return errors.Join(tx.Insert(0, "x"), tx.Delete(0, 3), tx.Append("!")) },
	}
	var m textModel
	for i, edit := range edits {
		if err := edit(); err != nil {
			t.Fatal(err)
		}
		ch := commit(t, d, "edit", int64(i))
		m.apply(t, parse(t, ch))
		want, err := tx.Get()
		if err != nil {
			t.Fatal(err)
		}
		if got := m.String(); got != want {
			t.Fatalf("after edit %d the parsed ops give %q, automerge-go has %q", i, got, want)
		}
	}
}

// TestParseChange_Deflated checks a long change in the deflated form
// Automerge writes for changes of more than 256 bytes (type 2, the checksum
// of the inflated change): automerge-go loads it with the same hash, and
// ParseChange gives the same change as from the plain form.
func TestParseChange_Deflated(t *testing.T) {
	d := newDoc(t, actorA)
	if err := d.RootMap().Set("note", automerge.NewText(strings.Repeat("0123456789abcdef", 100))); err != nil {
		t.Fatal(err)
	}
	ch := commit(t, d, "long text", 1700000000000)
	plain := ch.Save()
	deflated := deflateChange(t, plain)
	if len(deflated) >= len(plain) || len(plain) < 1024 {
		t.Fatalf("plain %d bytes, deflated %d", len(plain), len(deflated))
	}
	loaded, err := automerge.LoadChanges(deflated)
	if err != nil || len(loaded) != 1 || loaded[0].Hash() != ch.Hash() {
		t.Fatalf("automerge-go loads the deflated change as %v (err %v), want hash %s", loaded, err, ch.Hash())
	}
	want := parse(t, ch)
	got, err := amwire.ParseChange(deflated, amwire.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, got, loaded[0])
	if !got.Deflated || got.Size != len(deflated) || want.Deflated || want.Size != len(plain) {
		t.Errorf("Deflated/Size: %v/%d and %v/%d", got.Deflated, got.Size, want.Deflated, want.Size)
	}
	got.Deflated, got.Size = want.Deflated, want.Size
	if !reflect.DeepEqual(got, want) {
		t.Errorf("deflated and plain forms parse differently")
	}
	if len(got.Ops) != 1601 {
		t.Errorf("%d ops, want 1601", len(got.Ops))
	}
	// Inside a run of changes, too.
	cs, err := amwire.ParseChanges(append(append([]byte{}, deflated...), plain...), amwire.Limits{})
	if err != nil || len(cs) != 2 || cs[0].Hash != want.Hash || cs[1].Hash != want.Hash {
		t.Errorf("ParseChanges: %d changes, err %v", len(cs), err)
	}
}

// TestParseChanges parses what automerge.SaveChanges writes for a whole
// history.
func TestParseChanges(t *testing.T) {
	d := newDoc(t, actorA)
	for i := range 20 {
		if err := d.RootMap().Set("k", int64(i)); err != nil {
			t.Fatal(err)
		}
		commit(t, d, "", int64(i))
	}
	all, err := d.Changes()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := amwire.ParseChanges(automerge.SaveChanges(all), amwire.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != len(all) {
		t.Fatalf("%d changes, want %d", len(cs), len(all))
	}
	for i := range all {
		checkMeta(t, cs[i], all[i])
		if got := describe(cs[i], cs[i].Ops[0]); i > 0 && !strings.HasPrefix(got, "Set root.k = int ") {
			t.Errorf("change %d: %s", i, got)
		}
	}
	if cs, err := amwire.ParseChanges(nil, amwire.Limits{}); err != nil || len(cs) != 0 {
		t.Errorf("ParseChanges(nil) = %v, %v", cs, err)
	}
	if _, err := amwire.ParseChanges(automerge.SaveChanges(all), amwire.Limits{MaxChanges: 19}); !errors.Is(err, amwire.ErrLimit) {
		t.Errorf("20 changes with MaxChanges 19: %v", err)
	}
	if _, err := amwire.ParseChanges(automerge.SaveChanges(all), amwire.Limits{MaxOps: 19}); !errors.Is(err, amwire.ErrLimit) {
		t.Errorf("20 ops with MaxOps 19: %v", err)
	}
	if _, err := amwire.ParseChanges(d.Save(), amwire.Limits{}); !errors.Is(err, amwire.ErrUnsupported) {
		t.Errorf("a document: %v", err)
	}
	if !bytes.Equal(cs[0].Actor, cs[1].Actors[0]) {
		t.Errorf("actor differs between changes of one actor")
	}
}
