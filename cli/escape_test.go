package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/crdt"
)

// hidden is what a modified client could store as a boundary: on a
// terminal, the carriage return and the erase-line code would leave only
// the last sentence visible.
const hidden = "I will share my phone location with you at all times\r\x1b[2KI will call you when I am running late \u202Eetal\u202C \u009b2J\x07"

// plant writes text into a field of an item the way a peer's modified
// client could, bypassing the library's checks, and imports the change on
// to as coming from the peer's device.
func plant(t *testing.T, from, to *device, doc, item, field string, text bool, value, summary string) {
	t.Helper()
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
		var v any = value
		if text {
			v = automerge.NewText(value)
		}
		must(t, d.Path(item).Map().Set(field, v))
		msg, err := json.Marshal(map[string]string{"a": "edit", "k": "boundary", "i": item, "s": summary})
		must(t, err)
		h, err := d.Commit(string(msg))
		must(t, err)
		data = signBundle(t, signed, d.Save(), doc, key, h)
	})
	to.withSpace(func(ctx context.Context, sp *crdt.Space) {
		_, err := sp.Import(ctx, doc, data, fromID)
		must(t, err)
	})
}

// raw reports the first character of s a terminal would act on, if any.
func raw(s string) (rune, bool) {
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r <= 0x9f) || crdt.IsBidiControl(r) {
			return r, true
		}
	}
	return 0, false
}

func TestOutput_EscapesWhatAPeerPlanted(t *testing.T) {
	sam := initDevice(t, "Sam", "sam-laptop")
	alex := initDevice(t, "Alex", "alex-phone")
	b := sam.create("boundary", "add", "Home by eleven")
	g := sam.create("goal", "add", "Walk on Sundays")
	pair(t, sam, alex)
	plant(t, alex, sam, crdt.BoundariesDoc, b, "text", true, hidden, "changed the boundary to "+hidden)
	plant(t, alex, sam, crdt.GoalsDoc, g, "title", false, "Walks\x1b]0;owned\x07", "renamed")

	const shown = `I will share my phone location with you at all times\x0d\x1b[2KI will call you when I am running late <U+202E>etal<U+202C> <U+009B>2J\x07`
	md := filepath.Join(t.TempDir(), "space.md")
	for _, args := range [][]string{
		{"boundary", "list"},
		{"boundary", "show", b},
		{"history"},
		{"export", "--format", "markdown"},
		{"export", "--format", "markdown", "--out", "-"},
		{"export", "--format", "markdown", "--out", md},
	} {
		r := sam.run(args...)
		if r.code != ExitOK {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.errOut)
		}
		out := r.out
		if args[len(args)-1] == md {
			b, err := os.ReadFile(md)
			must(t, err)
			out = string(b)
		}
		if c, ok := raw(out + r.errOut); ok {
			t.Errorf("%v printed the raw character %U:\n%q", args, c, out)
		}
		// Tables and the history shorten text; the start of the escaped
		// text shows everywhere. Markdown escapes its own characters too.
		start, all := `at all times\x0d\x1b[2KI will call`, shown
		if args[0] == "export" {
			start, all = strings.ReplaceAll(start, "[", `\[`), strings.ReplaceAll(all, "[", `\[`)
		}
		contains(t, strings.Join(args, " "), out, start)
		if args[0] != "history" && !strings.Contains(out, "…") {
			contains(t, strings.Join(args, " "), out, all)
		}
	}
	contains(t, "goal list", sam.ok("goal", "list"), `Walks\x1b]0;owned\x07`)

	// JSON stays exact, with nothing raw on the terminal either.
	r := sam.run("boundary", "list", "--json")
	if c, ok := raw(r.out); ok {
		t.Errorf("boundary list --json printed the raw character %U", c)
	}
	var list []struct {
		Text string `json:"text"`
	}
	must(t, json.Unmarshal([]byte(r.out), &list))
	if len(list) != 1 || list[0].Text != hidden {
		t.Errorf("boundary list --json = %+v, want the stored text exactly", list)
	}
	var all map[string]any
	exp := sam.ok("export", "--format", "json", "--out", "-")
	must(t, json.Unmarshal([]byte(exp), &all))
	if !strings.Contains(exp, `\u202e`) {
		t.Errorf("export --format json does not escape U+202E:\n%s", exp)
	}
}

func TestEscapeText(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ünïcode, 🙂\n\tand tabs": "plain text, ünïcode, 🙂\n\tand tabs",
		"a\rb":         `a\x0db`,
		"\x1b[2J":      `\x1b[2J`,
		"x\u202Ey":     "x<U+202E>y",
		"\u2066\u2069": "<U+2066><U+2069>",
		"\u0085":       "<U+0085>",
		"\x7f":         `\x7f`,
		"bad \xff\xfe": `bad \xff\xfe`,
	} {
		if got := escapeText(in); got != want {
			t.Errorf("escapeText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscapeWriter(t *testing.T) {
	var b strings.Builder
	w := escapeOutput(&b, true)
	// A rune split between writes stays whole; the palette's codes pass
	// when colour is on, other escape sequences do not.
	for _, p := range []string{"caf", "\xc3", "\xa9 ", palette{true}.green("ok"), " \x1b[8mhidden\x1b[0m", "\x1b"} {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	flushEscapes(w)
	want := "café \x1b[32mok\x1b[0m \\x1b[8mhidden\x1b[0m\\x1b"
	if b.String() != want {
		t.Errorf("wrote %q, want %q", b.String(), want)
	}
	b.Reset()
	w = escapeOutput(&b, false)
	io := palette{true}.green("ok") + "\xe2\x80"
	w.Write([]byte(io))
	flushEscapes(w)
	if want := `\x1b[32mok\x1b[0m\xe2\x80`; b.String() != want {
		t.Errorf("without colour wrote %q, want %q", b.String(), want)
	}
}
