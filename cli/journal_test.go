package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJournal_ShareAsksFirst: share never copies without consent. Without
// a terminal and without --yes it refuses and shares nothing; on a
// terminal it shows exactly the check-in and shares only on "y"; --dry-run
// prints the preview and shares nothing.
func TestJournal_ShareAsksFirst(t *testing.T) {
	d := initDevice(t, "Alex", "alex-laptop")
	id := d.create("journal", "add", "I felt left out on Saturday.", "--mood", "2")
	if out := d.ok("checkin", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("a journal entry appeared in the shared check-ins: %s", out)
	}
	if got := d.fail(ExitFailure, "journal", "share", id); !strings.Contains(got, "asks first") {
		t.Errorf("share without a terminal and without --yes: %q", got)
	}
	if out := d.ok("journal", "share", id, "--dry-run"); out != "mood: 2/5\nnote:\n  I felt left out on Saturday.\n" {
		t.Errorf("--dry-run printed %q", out)
	}
	d.tty = true
	r := d.runIn("n\n", "journal", "share", id)
	if r.code != ExitOK || r.out != "" || !strings.Contains(r.errOut, "I felt left out on Saturday.") || !strings.Contains(r.errOut, "Nothing was shared.") {
		t.Errorf("share declined: exit %d, out %q, err %q", r.code, r.out, r.errOut)
	}
	if out := d.ok("checkin", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("something was shared after the user said no: %s", out)
	}
	r = d.runIn("y\n", "journal", "share", id)
	if r.code != ExitOK || strings.TrimSpace(r.out) == "" {
		t.Fatalf("share confirmed: exit %d, out %q, err %q", r.code, r.out, r.errOut)
	}
	d.tty = false
	if out := d.ok("checkin", "list"); !strings.Contains(out, "I felt left out on Saturday.") {
		t.Errorf("the shared entry is not a check-in: %q", out)
	}
	if out := d.ok("journal", "show", id); !strings.Contains(out, "Shared as check-in "+short(strings.TrimSpace(r.out))) {
		t.Errorf("journal show does not say the entry was shared: %q", out)
	}
	d.fail(ExitUsage, "journal", "share", d.create("journal", "add", "no mood"), "--yes")
}

// TestJournal_SelfCare: the plan, the log and a summary share that quotes
// no log note.
func TestJournal_SelfCare(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	walk := d.create("journal", "plan", "add", "A walk after work")
	d.create("journal", "selfcare", "log", "--practice", walk[:6], "cried, then felt lighter")
	d.create("journal", "selfcare", "log", "called an old friend")
	if out := d.ok("journal", "selfcare", "list"); !strings.Contains(out, "A walk after work") || !strings.Contains(out, "called an old friend") {
		t.Errorf("selfcare list: %q", out)
	}
	out := d.ok("journal", "selfcare", "share", "--mood", "4", "--dry-run")
	if !strings.Contains(out, "A walk after work: once") || !strings.Contains(out, "other things: once") || strings.Contains(out, "cried") {
		t.Errorf("self-care summary %q", out)
	}
	d.create("journal", "selfcare", "share", "--mood", "4", "--yes")
	if got := d.ok("checkin", "list"); strings.Contains(got, "cried") || !strings.Contains(got, "Looking after myself") {
		t.Errorf("shared check-ins: %q", got)
	}
	d.fail(ExitUsage, "journal", "selfcare", "share", "--yes")
}

// TestJournal_OwnPassphrase: a journal with a passphrase of its own is
// unreadable on disk and needs that passphrase for every command, while
// the shared space stays usable.
func TestJournal_OwnPassphrase(t *testing.T) {
	d := initDevice(t, "Alex", "alex-laptop")
	d.env["TRUSTSYNC_TEST_KDF"] = "fast"
	id := d.create("journal", "add", "CANARY-before-the-passphrase")
	d.env["TRUSTSYNC_JOURNAL_PASSPHRASE"] = "only mine, not yours"
	d.ok("journal", "passphrase")
	d.create("journal", "add", "CANARY-after-the-passphrase")
	delete(d.env, "TRUSTSYNC_JOURNAL_PASSPHRASE")
	if got := d.fail(ExitFailure, "journal", "list"); !strings.Contains(got, "passphrase of its own") {
		t.Errorf("journal list without its passphrase: %q", got)
	}
	d.env["TRUSTSYNC_JOURNAL_PASSPHRASE"] = "a guess"
	if got := d.fail(ExitFailure, "journal", "show", id); !strings.Contains(got, "wrong") {
		t.Errorf("journal show with a wrong passphrase: %q", got)
	}
	delete(d.env, "TRUSTSYNC_JOURNAL_PASSPHRASE")
	d.ok("boundary", "list") // the shared space needs no journal passphrase
	d.env["TRUSTSYNC_JOURNAL_PASSPHRASE"] = "only mine, not yours"
	if out := d.ok("journal", "list"); !strings.Contains(out, "CANARY-before") || !strings.Contains(out, "CANARY-after") {
		t.Errorf("journal list with its passphrase: %q", out)
	}
	filepath.WalkDir(filepath.Join(d.home, "journal"), func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("CANARY")) {
				t.Errorf("%s holds a journal canary in the clear", p)
			}
		}
		return nil
	})
	if got := d.fail(ExitFailure, "journal", "passphrase"); !strings.Contains(got, "already has a passphrase") {
		t.Errorf("a second journal passphrase: %q", got)
	}
}
