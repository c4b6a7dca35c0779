package cli

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync/crdt"
)

// hookReader runs hook once, the first time the command reads its answer:
// that is, after the words were shown and before the yes arrives.
type hookReader struct {
	hook func()
	r    io.Reader
}

func (h *hookReader) Read(p []byte) (int, error) {
	if h.hook != nil {
		h.hook()
		h.hook = nil
	}
	return h.r.Read(p)
}

// runTTY runs a command on a terminal whose answer is answer; hook, if not
// nil, runs while the command waits for it.
func (d *device) runTTY(answer string, hook func(), args ...string) result {
	d.t.Helper()
	ios, _, out, errOut := TestStreams()
	ios.In = &hookReader{hook: hook, r: strings.NewReader(answer)}
	ios.StdinTTY = true
	f := NewFactory(ios)
	f.Getenv = func(k string) string { return d.env[k] }
	f.Now = func() time.Time { return d.now }
	code := Execute(context.Background(), f, NewCmdRoot(f), append([]string{"--home", d.home}, args...))
	return result{out: out.String(), errOut: errOut.String(), code: code}
}

// agreements counts the agreements recorded on a boundary.
func agreements(t *testing.T, d *device, id string) int {
	t.Helper()
	n := 0
	d.withSpace(func(ctx context.Context, sp *crdt.Space) {
		b, err := sp.Boundary(ctx, id)
		must(t, err)
		n = len(b.Agreements)
	})
	return n
}

// TestBoundaryAgree_BoundToWordsShown: on a terminal, agree shows the words
// and asks; when Sam's edit arrives while Alex reads them, Alex's yes is
// refused in one line showing the new words, and nothing is agreed.
func TestBoundaryAgree_BoundToWordsShown(t *testing.T) {
	alex := initDevice(t, "Alex", "alex-laptop")
	sam := initDevice(t, "Sam", "sam-laptop")
	pair(t, alex, sam)
	id := sam.create("boundary", "add", "We talk before big purchases")
	syncDevices(t, alex, sam)

	// No: nothing is agreed.
	r := alex.runTTY("n\n", nil, "boundary", "agree", id[:8])
	if r.code != ExitOK || !strings.Contains(r.errOut, "    We talk before big purchases\n") || !strings.Contains(r.errOut, "Nothing was agreed.") {
		t.Fatalf("agree answered no: %+v", r)
	}
	if n := agreements(t, alex, id); n != 0 {
		t.Fatalf("%d agreements after answering no", n)
	}

	// The partner's edit arrives between showing and the yes.
	edit := func() {
		sam.ok("boundary", "edit", id, "We talk before purchases over 500 euros")
		syncDevices(t, alex, sam)
	}
	r = alex.runTTY("y\n", edit, "boundary", "agree", id[:8])
	if !strings.Contains(r.errOut, "We talk before big purchases") {
		t.Errorf("agree did not show the words before asking: %q", r.errOut)
	}
	if r.code != ExitFailure {
		t.Fatalf("agree after the words changed: exit %d, %q", r.code, r.errOut)
	}
	last := r.errOut[strings.LastIndex(strings.TrimSuffix(r.errOut, "\n"), "\n")+1:]
	want := `trustsync: nothing was agreed: the boundary now reads "We talk before purchases over 500 euros", not the words you agreed to; read them and agree again ('trustsync boundary agree ` + id[:8] + `')` + "\n"
	if !strings.HasSuffix(r.errOut, want) {
		t.Errorf("refusal after the words changed:\n got %q\nwant last line %q", last, want)
	}
	if n := agreements(t, alex, id); n != 0 {
		t.Fatalf("a refused agreement was recorded (%d)", n)
	}

	// Read again, agree again.
	r = alex.runTTY("yes\n", nil, "boundary", "agree", id[:8])
	if r.code != ExitOK || !strings.Contains(r.errOut, "over 500 euros") || !strings.Contains(r.errOut, "You agreed.") {
		t.Fatalf("agree to the new words: %+v", r)
	}
	if n := agreements(t, alex, id); n != 1 {
		t.Fatalf("%d agreements after agreeing to the new words", n)
	}
}

// TestBoundaryAgree_Text: --text agrees only to exactly those words;
// without a terminal and without --text, agree takes the current words and
// prints them, as scripts expect.
func TestBoundaryAgree_Text(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	id := d.create("boundary", "add", "I keep my phone unlocked at home")
	d.ok("boundary", "edit", id, "I keep my phone unlocked at home, except for work")

	got := d.fail(ExitFailure, "boundary", "agree", id, "--text", "I keep my phone unlocked at home")
	want := `trustsync: nothing was agreed: the boundary now reads "I keep my phone unlocked at home, except for work", not the words you agreed to; read them and agree again ('trustsync boundary agree ` + id[:8] + `')` + "\n"
	if got != want {
		t.Errorf("agree --text with old words:\n got %q\nwant %q", got, want)
	}
	if n := agreements(t, d, id); n != 0 {
		t.Fatalf("%d agreements after a refused --text", n)
	}
	r := d.run("boundary", "agree", id, "--text", "I keep my phone unlocked at home, except for work")
	if r.code != ExitOK || r.out != "" || !strings.Contains(r.errOut, "You agreed.") {
		t.Fatalf("agree --text with the current words: %+v", r)
	}

	other := d.create("boundary", "add", "No phones at dinner\nnot even a quick look")
	r = d.run("boundary", "agree", other)
	if r.code != ExitOK || r.out != "" {
		t.Fatalf("agree without a terminal: %+v", r)
	}
	contains(t, "agree without a terminal", r.errOut,
		"You agreed to these words:\n    No phones at dinner\n    not even a quick look\n", "You agreed. Status:")
	if n := agreements(t, d, other); n != 1 {
		t.Fatalf("%d agreements without a terminal", n)
	}
}

// TestRhythmAgree_BoundToCadenceShown: the same for the rhythm, on a
// terminal and with the cadence given.
func TestRhythmAgree_BoundToCadenceShown(t *testing.T) {
	alex := initDevice(t, "Alex", "alex-laptop")
	sam := initDevice(t, "Sam", "sam-laptop")
	pair(t, alex, sam)
	sam.ok("rhythm", "set", "weekly", "--day", "sunday")
	syncDevices(t, alex, sam)

	change := func() {
		sam.ok("rhythm", "set", "daily")
		syncDevices(t, alex, sam)
	}
	r := alex.runTTY("y\n", change, "rhythm", "agree")
	if !strings.Contains(r.errOut, "The rhythm in effect: check in weekly on Sunday.") {
		t.Errorf("rhythm agree did not show the rhythm: %q", r.errOut)
	}
	if r.code != ExitFailure || !strings.HasSuffix(r.errOut, `trustsync: nothing was agreed: the rhythm now reads "daily", not the words you agreed to; read them and agree again ('trustsync rhythm agree')`+"\n") {
		t.Fatalf("rhythm agree after the rhythm changed: exit %d, %q", r.code, r.errOut)
	}
	if got := alex.fail(ExitFailure, "rhythm", "agree", "weekly", "--day", "sun"); !strings.Contains(got, `now reads "daily"`) {
		t.Errorf("rhythm agree weekly with daily in effect: %q", got)
	}
	alex.fail(ExitUsage, "rhythm", "agree", "--day", "sunday")
	r = alex.run("rhythm", "agree", "daily")
	if r.code != ExitOK || !strings.Contains(r.errOut, "You agreed to check in daily") {
		t.Fatalf("rhythm agree daily: %+v", r)
	}
	r = sam.run("rhythm", "agree")
	if r.code != ExitOK || r.errOut != "You agreed to check in daily; waiting for your partner.\n" {
		t.Fatalf("rhythm agree without a terminal: %+v", r)
	}
}
