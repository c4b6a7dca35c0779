package crdt_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

func TestCheckText(t *testing.T) {
	tests := []struct {
		name    string
		s       string
		oneLine bool
		want    string // "" when accepted, else a part of the error
	}{
		{"plain", "I call when I am late", false, ""},
		{"accents and emoji", "Je t'appelle 🙂 — ça va", true, ""},
		{"right to left script", "אני אתקשר", true, ""},
		{"newline", "first\nsecond", false, ""},
		{"tab", "a\tb", false, ""},
		{"CRLF", "first\r\nsecond", false, ""},
		{"newline in one line", "Ev\nName", true, "contains a line break at position 3"},
		{"CRLF in one line", "Ev\r\nName", true, "line break at position 3"},
		{"tab in one line", "Ev\til", true, "contains a tab at position 3"},
		{"carriage return", "share my location\r\x1b[2KI call", false, "control character (U+000D) at position 18"},
		{"escape", "ab\x1b[2Jc", false, "control character (U+001B) at position 3: remove it and try again"},
		{"escape after wide characters", "çé\x1b", false, "(U+001B) at position 3"},
		{"bell", "a\ab", false, "(U+0007) at position 2"},
		{"delete", "a\x7f", false, "(U+007F) at position 2"},
		{"C1 CSI", "a\u009b2Jb", false, "(U+009B) at position 2"},
		{"NUL", "a\x00", false, "(U+0000)"},
		{"right to left override", "abc\u202Efed", false, "bidirectional override character (U+202E) at position 4, which can make it read differently from what is stored: remove it and try again"},
		{"left to right embedding", "\u202Aabc", false, "(U+202A) at position 1"},
		{"isolate", "a\u2066b\u2069", false, "(U+2066) at position 2"},
		{"pop isolate", "ab\u2069", true, "(U+2069)"},
		{"invalid UTF-8", "café \xff\xfe", false, "is not valid UTF-8 (byte 7)"},
		{"truncated UTF-8", "caf\xc3", true, "not valid UTF-8 (byte 4)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := crdt.CheckText("the text", tt.s, tt.oneLine)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckText(%q) = %v, want nil", tt.s, err)
				}
				return
			}
			wantErr(t, err, trustsync.ErrInvalid)
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "the text ") {
				t.Errorf("CheckText(%q) = %q, want it to start with the field and contain %q", tt.s, err, tt.want)
			}
		})
	}
}

// Every text the library stores goes through the same check: a bad text is
// refused with ErrInvalid and leaves nothing behind.
func TestTextFieldsRefuseControlCharacters(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	const bad = "I will share my location\r\x1b[2KI will call"
	bnd := must[string](t)(a.AddBoundary(ctx, "Home by eleven"))
	goal := must[string](t)(a.AddGoal(ctx, "Walks", ""))
	ci := must[string](t)(a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: "ok"}))
	com := must[string](t)(a.AddCommitment(ctx, "Call on Sundays"))
	entry := must[string](t)(a.RecordCommitment(ctx, com, true, ""))
	ap := must[string](t)(a.WriteApology(ctx, trustsync.NewApology{Happened: "I lied"}))
	sb := must[string](t)(a.AddSetback(ctx, "Came home late", bnd, ""))
	q := must[string](t)(a.AskQuestion(ctx, "What helps?"))
	syncAll(t, a, b)
	before := headsOf(t, a, b)

	str := func(s string) *string { return &s }
	calls := []struct {
		name string
		call func(s string) error
	}{
		{"AddBoundary", func(s string) error { _, err := a.AddBoundary(ctx, s); return err }},
		{"EditBoundary", func(s string) error { return a.EditBoundary(ctx, bnd, s) }},
		{"AddGoal title", func(s string) error { _, err := a.AddGoal(ctx, s, ""); return err }},
		{"AddGoal why", func(s string) error { _, err := a.AddGoal(ctx, "Talk", s); return err }},
		{"EditGoal title", func(s string) error { return a.EditGoal(ctx, goal, crdt.GoalEdit{Title: str(s)}) }},
		{"EditGoal why", func(s string) error { return a.EditGoal(ctx, goal, crdt.GoalEdit{Why: str(s)}) }},
		{"AddStep", func(s string) error { _, err := a.AddStep(ctx, goal, s); return err }},
		{"AddCheckIn note", func(s string) error {
			_, err := a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: s})
			return err
		}},
		{"AddCheckIn feeling", func(s string) error {
			_, err := a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Feelings: []string{"calm", s}})
			return err
		}},
		{"AddCheckIn needs", func(s string) error {
			_, err := a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Needs: s})
			return err
		}},
		{"AddCheckIn concerns", func(s string) error {
			_, err := a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Concerns: s})
			return err
		}},
		{"AddCheckIn appreciation", func(s string) error {
			_, err := a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Appreciation: s})
			return err
		}},
		{"AckCheckIn", func(s string) error { return b.AckCheckIn(ctx, ci, s) }},
		{"AddCommitment", func(s string) error { _, err := a.AddCommitment(ctx, s); return err }},
		{"RecordCommitment", func(s string) error { _, err := a.RecordCommitment(ctx, com, false, s); return err }},
		{"AckCommitmentEntry", func(s string) error { return b.AckCommitmentEntry(ctx, entry, s) }},
		{"WriteApology happened", func(s string) error {
			_, err := a.WriteApology(ctx, trustsync.NewApology{Happened: s})
			return err
		}},
		{"WriteApology impact", func(s string) error {
			_, err := a.WriteApology(ctx, trustsync.NewApology{Happened: "x", Impact: s})
			return err
		}},
		{"WriteApology responsibility", func(s string) error {
			_, err := a.WriteApology(ctx, trustsync.NewApology{Happened: "x", Responsibility: s})
			return err
		}},
		{"WriteApology different", func(s string) error {
			_, err := a.WriteApology(ctx, trustsync.NewApology{Happened: "x", Different: s})
			return err
		}},
		{"AckApology", func(s string) error { return b.AckApology(ctx, ap, s) }},
		{"AddSetback text", func(s string) error { _, err := a.AddSetback(ctx, s, bnd, ""); return err }},
		{"AddSetback plan", func(s string) error { _, err := a.AddSetback(ctx, "late", bnd, s); return err }},
		{"FeelSetback", func(s string) error { return b.FeelSetback(ctx, sb, s) }},
		{"PlanSetback", func(s string) error { return b.PlanSetback(ctx, sb, s) }},
		{"AskQuestion", func(s string) error { _, err := a.AskQuestion(ctx, s); return err }},
		{"AnswerQuestion", func(s string) error { return a.AnswerQuestion(ctx, q, s) }},
		{"AddMoment", func(s string) error { _, err := a.AddMoment(ctx, s, false); return err }},
	}
	for _, c := range calls {
		for _, s := range []string{bad, "x\u202Eyz", "bad \xff UTF-8"} {
			err := c.call(s)
			wantErr(t, err, trustsync.ErrInvalid)
			if err != nil && !strings.Contains(err.Error(), "U+") && !strings.Contains(err.Error(), "UTF-8") {
				t.Errorf("%s(%q): %q does not say which character", c.name, s, err)
			}
		}
	}
	if after := headsOf(t, a, b); !equalStrings(before, after) {
		t.Errorf("refused edits changed the documents")
	}

	// One-line fields refuse a line break; free text keeps it.
	wantErr(t, a.EditGoal(ctx, goal, crdt.GoalEdit{Title: str("Walks\nand talks")}), trustsync.ErrInvalid)
	id := must[string](t)(a.AddBoundary(ctx, "  First line\r\nsecond line\n"))
	if got := mustBoundary(t, a, id).Text; got != "First line\nsecond line" {
		t.Errorf("boundary text = %q, want the CRLF turned into a newline and the text trimmed", got)
	}
}

func TestCreateRefusesBadNames(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct{ member, device, want string }{
		{"Ev\x1b[2Jil", "", "the name contains a control character (U+001B) at position 3"},
		{"Ev\nName", "", "the name must be one line"},
		{"Sam", "laptop\u202E", "the device name contains a bidirectional override character (U+202E)"},
		{"Sam\xff", "", "the name is not valid UTF-8 (byte 4)"},
	} {
		st := store.NewMemory()
		_, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: tt.member, DeviceName: tt.device})
		wantErr(t, err, trustsync.ErrInvalid)
		if err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Create(%q, %q) = %q, want %q", tt.member, tt.device, err, tt.want)
		}
		if _, err := crdt.Open(ctx, st, crdt.Options{}); err == nil {
			t.Errorf("Create(%q, %q) failed but left a space behind", tt.member, tt.device)
		}
		st.Close()
	}
}

// headsOf returns the heads of every document of the spaces.
func headsOf(t *testing.T, spaces ...*crdt.Space) []string {
	t.Helper()
	var all []string
	for _, s := range spaces {
		for _, doc := range docsOf(t, s) {
			h, err := s.Heads(context.Background(), doc)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, doc+":"+strings.Join(h, ","))
		}
	}
	return all
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// CheckNames refuses what Create refuses, and nothing else.
func TestCheckNames(t *testing.T) {
	tests := []struct {
		member, device, want string // want: "" when accepted
	}{
		{"Alex", "", ""},
		{" Alex ", "alex-laptop", ""},
		{"", "laptop", "a member name is required"},
		{"Al\x1bex", "", "the name contains a control character"},
		{"Alex", "lap\ntop", "the device name must be one line"},
		{strings.Repeat("é", crdt.MaxNameLen+1), "", "the name is 101 characters long"},
		{"Alex", strings.Repeat("d", crdt.MaxNameLen+1), "the device name is 101 characters long"},
	}
	for _, tt := range tests {
		err := crdt.CheckNames(tt.member, tt.device)
		if tt.want == "" {
			if err != nil {
				t.Errorf("CheckNames(%q, %q) = %v, want nil", tt.member, tt.device, err)
			}
			continue
		}
		if !errors.Is(err, trustsync.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckNames(%q, %q) = %v, want ErrInvalid saying %q", tt.member, tt.device, err, tt.want)
		}
		_, cerr := crdt.Create(context.Background(), store.NewMemory(), crdt.CreateOptions{MemberName: tt.member, DeviceName: tt.device})
		if cerr == nil {
			t.Errorf("Create accepts %q, %q, which CheckNames refuses", tt.member, tt.device)
		}
	}
}
