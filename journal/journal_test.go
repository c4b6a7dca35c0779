package journal_test

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/journal"
	"github.com/trustsync/trustsync/store"
)

func newJournal(t *testing.T, now *time.Time) *journal.Journal {
	t.Helper()
	m := store.NewMemory()
	t.Cleanup(func() { m.Close() })
	return journal.New(m, journal.Options{Now: func() time.Time { *now = now.Add(time.Minute); return *now }})
}

func TestJournal_Entries(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC)
	j := newJournal(t, &now)
	first, err := j.Add(ctx, "  first  ", 0)
	if err != nil {
		t.Fatal(err)
	}
	second, err := j.Add(ctx, "second", 5)
	if err != nil {
		t.Fatal(err)
	}
	if first.Text != "first" || len(first.ID) != 16 {
		t.Fatalf("entry %+v: want trimmed text and a 16-character ID", first)
	}
	es, err := j.Entries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].ID != second.ID || es[1].ID != first.ID {
		t.Fatalf("Entries = %+v, want newest first", es)
	}
	got, err := j.Entry(ctx, second.ID[:6])
	if err != nil || got.Text != "second" || got.Mood != 5 {
		t.Fatalf("Entry by a 6-character prefix: %+v, %v", got, err)
	}
	for _, bad := range []struct {
		text string
		mood trustsync.Mood
	}{{"", 0}, {"  ", 3}, {"x", 6}, {"x", -1}} {
		if _, err := j.Add(ctx, bad.text, bad.mood); !errors.Is(err, trustsync.ErrInvalid) {
			t.Errorf("Add(%q, %d): %v, want ErrInvalid", bad.text, bad.mood, err)
		}
	}
	if _, err := j.Entry(ctx, "zzzzzzzz"); !errors.Is(err, trustsync.ErrNotFound) {
		t.Errorf("Entry of an unknown ID: %v, want ErrNotFound", err)
	}
	if _, err := j.Entry(ctx, "abc"); !errors.Is(err, trustsync.ErrInvalid) {
		t.Errorf("Entry of a 3-character prefix: %v, want ErrInvalid", err)
	}
}

// fakeSpace records the check-ins it is given.
type fakeSpace struct{ got []trustsync.NewCheckIn }

func (f *fakeSpace) AddCheckIn(ctx context.Context, c trustsync.NewCheckIn) (string, error) {
	f.got = append(f.got, c)
	return "checkin" + strings.Repeat("x", 9), nil
}

// TestJournal_ShareSendsThePreview: what Share adds is exactly the
// preview, nothing of the journal beyond it; the entry then lists the
// share.
func TestJournal_ShareSendsThePreview(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC)
	j := newJournal(t, &now)
	e, _ := j.Add(ctx, "what I want you to know", 0)
	if _, err := j.PreviewEntry(ctx, e.ID, 0); !errors.Is(err, journal.ErrNoMood) {
		t.Fatalf("preview of an entry without a mood and no mood given: %v, want ErrNoMood", err)
	}
	pv, err := j.PreviewEntry(ctx, e.ID, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := trustsync.NewCheckIn{Mood: 4, Note: "what I want you to know"}
	if !checkInEqual(pv.CheckIn, want) || pv.String() != "mood: 4/5\nnote:\n  what I want you to know\n" {
		t.Fatalf("preview %+v / %q", pv.CheckIn, pv.String())
	}
	sp := &fakeSpace{}
	id, err := j.Share(ctx, pv, sp)
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.got) != 1 || !checkInEqual(sp.got[0], want) {
		t.Fatalf("shared %+v, want exactly %+v", sp.got, want)
	}
	got, _ := j.Entry(ctx, e.ID)
	if len(got.Shared) != 1 || got.Shared[0].CheckIn != id {
		t.Fatalf("entry after sharing: %+v", got.Shared)
	}
}

func checkInEqual(a, b trustsync.NewCheckIn) bool {
	return a.Mood == b.Mood && slices.Equal(a.Feelings, b.Feelings) && a.Note == b.Note &&
		a.Needs == b.Needs && a.Concerns == b.Concerns && a.Appreciation == b.Appreciation
}

// TestJournal_SelfCare: the plan, the log, and a summary that counts
// practices but never quotes a log note.
func TestJournal_SelfCare(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC)
	start := now
	j := newJournal(t, &now)
	walk, _ := j.AddPractice(ctx, "A walk after work")
	call, _ := j.AddPractice(ctx, "Call my sister")
	gone, _ := j.AddPractice(ctx, "Journal every morning")
	if _, err := j.DropPractice(ctx, gone.ID[:8]); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ note, practice string }{
		{"felt lighter", walk.ID}, {"", walk.ID[:6]}, {"secret note about the affair", ""},
	} {
		if _, err := j.LogCare(ctx, c.note, c.practice); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := j.LogCare(ctx, "", ""); !errors.Is(err, trustsync.ErrInvalid) {
		t.Fatalf("LogCare without note or practice: %v", err)
	}
	plan, _ := j.Plan(ctx, false)
	if len(plan) != 2 || plan[0].ID != walk.ID || plan[1].ID != call.ID {
		t.Fatalf("Plan = %+v", plan)
	}
	log, _ := j.CareLog(ctx, time.Time{})
	if len(log) != 3 || log[2].Practice != walk.ID {
		t.Fatalf("CareLog = %+v", log)
	}
	pv, err := j.PreviewCare(ctx, start, 3)
	if err != nil {
		t.Fatal(err)
	}
	note := pv.CheckIn.Note
	for _, want := range []string{"A walk after work: twice", "Call my sister: not yet", "other things: once"} {
		if !strings.Contains(note, want) {
			t.Errorf("summary %q lacks %q", note, want)
		}
	}
	if strings.Contains(note, "felt lighter") || strings.Contains(note, "affair") || strings.Contains(note, "Journal every morning") {
		t.Errorf("summary %q quotes a log note or a dropped, unused practice", note)
	}
	if _, err := j.PreviewCare(ctx, start, 0); !errors.Is(err, journal.ErrNoMood) {
		t.Errorf("PreviewCare without a mood: %v", err)
	}
}

// TestJournal_CopyTo moves a journal into a store under another key, as
// setting a journal passphrase does.
func TestJournal_CopyTo(t *testing.T) {
	ctx := context.Background()
	src, err := journal.Open(ctx, t.TempDir(), nil, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	e, _ := src.Add(ctx, "kept", 2)
	src.AddPractice(ctx, "swim")
	key := make([]byte, 32)
	key[0] = 1
	dir := t.TempDir()
	dst, err := journal.Open(ctx, dir, key, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.CopyTo(ctx, dst); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	if _, err := journal.Open(ctx, dir, nil, journal.Options{}); !errors.Is(err, store.ErrEncrypted) {
		t.Fatalf("Open without a key: %v, want ErrEncrypted", err)
	}
	wrong := make([]byte, 32)
	if _, err := journal.Open(ctx, dir, wrong, journal.Options{}); !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("Open with another key: %v, want ErrWrongKey", err)
	}
	dst, err = journal.Open(ctx, dir, key, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	got, err := dst.Entry(ctx, e.ID)
	plan, _ := dst.Plan(ctx, true)
	if err != nil || got.Text != "kept" || len(plan) != 1 {
		t.Fatalf("after copying: %+v, %v, plan %+v", got, err, plan)
	}
}

// TestJournal_Unreachable: neither the crdt package nor the sync package
// (nor anything they import from this module) imports the journal, so no
// code path from a space or a sync session can reach a journal.
func TestJournal_Unreachable(t *testing.T) {
	const module = "github.com/trustsync/trustsync"
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(pkg string, path []string)
	walk = func(pkg string, path []string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		if pkg == module+"/journal" {
			t.Errorf("%s imports the journal", strings.Join(path, " -> "))
			return
		}
		dir := filepath.Join(root, strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/"))
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				p := strings.Trim(imp.Path.Value, `"`)
				if p == module || strings.HasPrefix(p, module+"/") {
					walk(p, append(slices.Clone(path), p))
				}
			}
		}
	}
	for _, start := range []string{module + "/crdt", module + "/sync"} {
		walk(start, []string{start})
	}
	if !seen[module+"/crdt"] || !seen[module] {
		t.Fatalf("the walk did not read the packages it should: %v", seen)
	}
}

// TestJournal_RefusesBadText: invalid UTF-8 and control characters are
// refused with a clear ErrInvalid, never stored altered, as in the shared
// documents (an entry may be shared later).
func TestJournal_RefusesBadText(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC)
	j := newJournal(t, &now)
	for _, tt := range []struct{ s, want string }{
		{"café \xff", "add journal entry: the text is not valid UTF-8 (byte 7)"},
		{"ok\r\x1b[2Khidden", "add journal entry: the text contains a control character (U+000D) at position 3"},
		{"abc\u202Edef", "bidirectional override character (U+202E) at position 4"},
	} {
		_, err := j.Add(ctx, tt.s, 0)
		if !errors.Is(err, trustsync.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Add(%q) = %v, want ErrInvalid saying %q", tt.s, err, tt.want)
		}
		if _, err := j.AddPractice(ctx, tt.s); !errors.Is(err, trustsync.ErrInvalid) {
			t.Errorf("AddPractice(%q) = %v, want ErrInvalid", tt.s, err)
		}
		if _, err := j.LogCare(ctx, tt.s, ""); !errors.Is(err, trustsync.ErrInvalid) {
			t.Errorf("LogCare(%q) = %v, want ErrInvalid", tt.s, err)
		}
	}
	es, err := j.Entries(ctx)
	if err != nil || len(es) != 0 {
		t.Fatalf("Entries = %v, %v: want none stored", es, err)
	}
	e, err := j.Add(ctx, "line one\r\nline two", 0)
	if err != nil || e.Text != "line one\nline two" {
		t.Fatalf("Add with CRLF = %+v, %v: want the lines kept with newlines", e, err)
	}
}
