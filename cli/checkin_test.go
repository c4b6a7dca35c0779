package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeEditor makes an EDITOR that saves the file it was given as seen.txt
// and then replaces its content with text.
func fakeEditor(t *testing.T, text string) (editor, seen string) {
	t.Helper()
	dir := t.TempDir()
	seen = filepath.Join(dir, "seen.txt")
	answer := filepath.Join(dir, "answer.txt")
	writeFile(t, answer, text, 0o600)
	script := filepath.Join(dir, "editor.sh")
	writeFile(t, script, "#!/bin/sh\ncp \"$1\" '"+seen+"'\ncat '"+answer+"' > \"$1\"\n", 0o700)
	return "sh " + script, seen
}

func TestCheckinAdd_NoteSources(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		stdin    string
		tty      bool
		editor   string // what the editor leaves in the file; "" for no editor
		wantNote string
	}{
		{"--note", []string{"--note", "I felt close to you today."}, "", false, "", "I felt close to you today."},
		{"--note empty is a mood alone", []string{"--note", ""}, "", false, "", ""},
		{"stdin", nil, "  I need a quiet evening.\n", false, "", "I need a quiet evening."},
		{"editor at a terminal", nil, "", true, "I feel hopeful.\n# a comment\n\nAnd tired.\n# more\n", "I feel hopeful.\n\nAnd tired."},
		{"--edit forces the editor", []string{"--edit"}, "ignored", false, "From the editor.\n", "From the editor."},
		{"--edit starts from --note", []string{"--edit", "--note", "draft"}, "", false, "draft, finished\n", "draft, finished"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := initDevice(t, "Sam", "sam-laptop")
			d.tty = tt.tty
			var seen string
			if tt.editor != "" {
				d.env["EDITOR"], seen = fakeEditor(t, tt.editor)
			} else {
				d.env["EDITOR"] = "false"
			}
			r := d.runIn(tt.stdin, append([]string{"checkin", "add", "--mood", "3", "--feeling", "hopeful, tired"}, tt.args...)...)
			if r.code != ExitOK {
				t.Fatalf("exit %d: %s", r.code, r.errOut)
			}
			id := strings.TrimSpace(r.out)
			if !idRE.MatchString(id) {
				t.Fatalf("stdout %q, want the ID alone", r.out)
			}
			c := decode[checkinJSON](t, d.ok("checkin", "show", id, "--json"))
			if c.Note != tt.wantNote || c.Mood != 3 || strings.Join(c.Feelings, "|") != "hopeful|tired" || c.Author != "Sam" {
				t.Fatalf("saved %+v, want note %q", c, tt.wantNote)
			}
			if seen != "" {
				b, err := os.ReadFile(seen)
				must(t, err)
				contains(t, "the editor's template", string(b), `"I feel ... when ..."`, "Lines starting with # are left out")
			}
		})
	}
}

func TestCheckinAdd_EmptyNoteSavesNothing(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stdin  string
		editor string
		want   string
	}{
		{"editor left only comments", []string{"--edit"}, "", "# nothing\n\n", "the note is empty, so nothing was saved"},
		{"editor emptied the file", []string{"--edit"}, "", "", "the note is empty, so nothing was saved"},
		{"empty stdin", nil, "  \n", "", "the note on standard input is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := initDevice(t, "Sam", "sam-laptop")
			d.env["EDITOR"], _ = fakeEditor(t, tt.editor)
			r := d.runIn(tt.stdin, append([]string{"checkin", "add", "--mood", "2"}, tt.args...)...)
			checkFailure(t, r, ExitFailure, tt.args)
			if !strings.Contains(r.errOut, tt.want) || r.out != "" {
				t.Fatalf("stderr %q stdout %q, want %q and no ID", r.errOut, r.out, tt.want)
			}
			if got := strings.TrimSpace(d.ok("checkin", "list", "--json")); got != "[]" {
				t.Fatalf("something was saved: %s", got)
			}
		})
	}
}

func TestCheckinAdd_EditorFails(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	d.env["EDITOR"] = "exit 3;"
	r := d.run("checkin", "add", "--mood", "3", "--edit")
	checkFailure(t, r, ExitFailure, nil)
	if !strings.Contains(r.errOut, "the editor (exit 3;) failed") {
		t.Fatalf("stderr %q", r.errOut)
	}
}

func TestCheckinAdd_EditNoteHook(t *testing.T) {
	// The editor hook gets what --note held and decides the note.
	d := initDevice(t, "Sam", "sam-laptop")
	ios, _, out, _ := TestStreams()
	f := NewFactory(ios)
	f.HomeFlag = d.home
	f.Getenv = func(string) string { return "" }
	defer f.Close()
	var gotInitial string
	opts := &CheckinAddOptions{Factory: f, Mood: 5, Edit: true, Note: "start", NoteGiven: true,
		EditNote: func(ctx context.Context, initial string) (string, error) {
			gotInitial = initial
			return "I feel grateful.", nil
		}}
	must(t, checkinAddRun(context.Background(), opts))
	if gotInitial != "start" || !idRE.MatchString(strings.TrimSpace(out.String())) {
		t.Fatalf("initial %q, stdout %q", gotInitial, out.String())
	}
}

func TestCheckin_ListShowAck(t *testing.T) {
	sam := initDevice(t, "Sam", "sam-laptop")
	alex := initDevice(t, "Alex", "alex-phone")
	first := sam.create("checkin", "add", "--mood", "2", "--feeling", "anxious", "--note", "I felt alone on Friday.", "--needs", "a call when you are late")
	sam.now = sam.now.Add(25 * time.Hour)
	second := sam.create("checkin", "add", "--mood", "4", "--note", "I liked our walk.", "--appreciation", "the tea you made")

	// Newest first.
	list := decode[[]checkinJSON](t, sam.ok("checkin", "list", "--json"))
	if len(list) != 2 || list[0].ID != second || list[1].ID != first {
		t.Fatalf("checkin list --json order: %+v", list)
	}
	if list[1].CreatedAt != "2026-03-14T09:30:00Z" || list[1].Needs != "a call when you are late" || len(list[1].AcknowledgedBy) != 0 {
		t.Fatalf("first check-in: %+v", list[1])
	}
	out := sam.ok("checkin", "list")
	contains(t, "checkin list", out, "ID        WHEN       WHO  MOOD",
		second[:8]+"  just now   Sam  4 (good)",
		first[:8]+"  yesterday  Sam  2 (low)   anxious", "not yet", "I felt alone on Friday.")
	if strings.Index(out, second[:8]) > strings.Index(out, first[:8]) {
		t.Errorf("checkin list is not newest first:\n%s", out)
	}

	// One's own check-in is for the partner to acknowledge.
	if msg := sam.fail(ExitFailure, "checkin", "ack", first); !strings.Contains(msg, "is your own") {
		t.Errorf("self-acknowledgement: %q", msg)
	}

	pair(t, sam, alex)
	alex.now = sam.now
	contains(t, "Alex's list", alex.ok("checkin", "list"), "not yet by you")
	r := alex.run("checkin", "ack", first[:7], "--reply", "I hear that Friday was hard. I am here.")
	if r.code != ExitOK || r.out != "" || !strings.Contains(r.errOut, "Acknowledged") {
		t.Fatalf("ack: %+v", r)
	}
	syncDevices(t, sam, alex)
	c := decode[checkinJSON](t, sam.ok("checkin", "show", first, "--json"))
	if strings.Join(c.AcknowledgedBy, ",") != "Alex" || len(c.Acks) != 1 || c.Acks[0].Reply != "I hear that Friday was hard. I am here." {
		t.Fatalf("Sam sees %+v", c)
	}
	contains(t, "checkin show", sam.ok("checkin", "show", first),
		"Check-in "+first, "From Sam, yesterday", "Mood:      2 (low)", "Feelings:  anxious",
		"Needs:     a call when you are late", "    I felt alone on Friday.",
		"Acknowledged by Alex, just now:", "    I hear that Friday was hard. I am here.")
	contains(t, "checkin list", sam.ok("checkin", "list"), "by Alex")
}

func TestCheckin_Errors(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"checkin", "show", "zzzzzzzz"}, `no check-in with ID "zzzzzzzz": see 'trustsync checkin list'`},
		{[]string{"checkin", "ack", "zzzzzzzz"}, `no check-in with ID "zzzzzzzz"`},
		{[]string{"checkin", "show", "zz"}, "too short"},
	} {
		if msg := d.fail(ExitFailure, tt.args...); !strings.Contains(msg, tt.want) {
			t.Errorf("%v: stderr %q, want %q", tt.args, msg, tt.want)
		}
	}
	r := d.run("checkin", "add", "--mood", "7", "--note", "x")
	checkFailure(t, r, ExitUsage, nil)
	contains(t, "mood 7", r.errOut, "--mood must be from 1 (very low) to 5 (very good), not 7")
}

// TestCheckin_NoteTooLong: a note over the limit is refused in one line
// naming the field, the limit and the length; nothing is added.
func TestCheckin_NoteTooLong(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	got := d.fail(ExitFailure, "checkin", "add", "--mood", "3", "--note", strings.Repeat("x", 1_000_000))
	if !strings.Contains(got, "the note is 1000000 characters long, more than the 10000 allowed: shorten it") {
		t.Errorf("a million-character note: %q", got)
	}
	if got := d.ok("checkin", "list", "--json"); strings.TrimSpace(got) != "[]" {
		t.Errorf("a refused check-in was added: %s", got)
	}
	got = d.fail(ExitFailure, "boundary", "add", strings.Repeat("b", 2001))
	if !strings.Contains(got, "the boundary text is 2001 characters long, more than the 2000 allowed") {
		t.Errorf("a boundary over the limit: %q", got)
	}
}
