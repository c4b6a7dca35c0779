package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// couple makes two paired devices with a little of everything.
func couple(t *testing.T) (sam, alex *device, ids map[string]string) {
	t.Helper()
	sam = initDevice(t, "Sam", "sam-laptop")
	alex = initDevice(t, "Alex", "alex-phone")
	ids = map[string]string{}
	ids["agreed"] = sam.create("boundary", "add", "We keep our phones unlocked at home")
	sam.now = sam.now.Add(time.Minute)
	ids["waiting"] = sam.create("boundary", "add", "I tell you when my ex_contacts me")
	sam.now = sam.now.Add(time.Minute)
	ids["archived"] = sam.create("boundary", "add", "No phones in bed")
	sam.ok("boundary", "agree", ids["agreed"])
	sam.ok("boundary", "agree", ids["waiting"])
	sam.ok("boundary", "archive", ids["archived"])
	ids["goal"] = sam.create("goal", "add", "Walk on Sundays", "--why", "I miss talking")
	sam.now = sam.now.Add(time.Minute)
	ids["step1"] = sam.create("goal", "step", ids["goal"], "Leave phones at home")
	sam.now = sam.now.Add(time.Minute)
	sam.create("goal", "step", ids["goal"], "Pick a route")
	sam.ok("goal", "done", ids["step1"])
	ids["c1"] = sam.create("checkin", "add", "--mood", "2", "--feeling", "lonely", "--note", "I felt alone on Friday.\nSecond line.")
	pair(t, sam, alex)
	alex.now = sam.now.Add(time.Hour)
	alex.ok("boundary", "agree", ids["agreed"])
	alex.ok("checkin", "ack", ids["c1"], "--reply", "Thank you for telling me.")
	ids["c2"] = alex.create("checkin", "add", "--mood", "4", "--note", "I liked our walk.", "--appreciation", "your patience")
	syncDevices(t, sam, alex)
	return sam, alex, ids
}

func TestExport_Markdown(t *testing.T) {
	sam, _, _ := couple(t)
	md := sam.ok("export", "--format", "markdown")
	contains(t, "markdown", md,
		"# Shared space of Sam and Alex\n",
		"Exported by Sam from sam-laptop",
		"## Boundaries\n",
		"### Agreed by both\n\n- We keep our phones unlocked at home\n",
		"Agreed by Sam (14 March 2026) and Alex (14 March 2026).",
		"### Waiting for agreement\n\n- I tell you when my ex\\_contacts me\n",
		"  - Not yet agreed by Alex.",
		"### Archived\n\n- No phones in bed",
		"## Goals\n\n### Walk on Sundays\n\nWhy: I miss talking\n",
		"Progress: 1 of 2 steps done.",
		"- [x] Leave phones at home\n- [ ] Pick a route\n",
		"## Check-ins\n",
		"### Sam, Saturday 14 March 2026",
		"Mood: 2 (low). Feelings: lonely.",
		"> I felt alone on Friday.\n> Second line.",
		"Acknowledged by Alex on Saturday 14 March 2026",
		"who replied:\n\n> Thank you for telling me.",
		"### Alex, Saturday 14 March 2026",
		"Appreciation: your patience",
		"Not acknowledged yet.",
		"## History\n",
	)
	// Check-ins in the order they were written; sections in a fixed order.
	order := []string{"## Boundaries", "### Agreed by both", "### Waiting", "### Archived", "## Goals", "## Check-ins",
		"### Sam, Saturday", "### Alex, Saturday", "## History"}
	last := -1
	for _, h := range order {
		i := strings.Index(md, h)
		if i < last {
			t.Errorf("%q comes too early in the markdown", h)
		}
		last = i
	}
}

func TestExport_JSON(t *testing.T) {
	sam, _, ids := couple(t)
	out := filepath.Join(t.TempDir(), "backup.json")
	r := sam.run("export", "--out", out)
	if r.code != ExitOK || r.out != "" || !strings.Contains(r.errOut, "Exported to "+out) {
		t.Fatalf("export --out: %+v", r)
	}
	b, err := os.ReadFile(out)
	must(t, err)
	fi, err := os.Stat(out)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v, want 0600", fi.Mode().Perm())
	}
	e := decode[exportJSON](t, string(b))
	if len(e.Members) != 2 || len(e.Boundaries) != 3 || len(e.Goals) != 1 || len(e.CheckIns) != 2 || len(e.History) < 10 {
		t.Fatalf("export has %d members, %d boundaries, %d goals, %d check-ins, %d changes",
			len(e.Members), len(e.Boundaries), len(e.Goals), len(e.CheckIns), len(e.History))
	}
	var agreed *boundaryJSON
	for i := range e.Boundaries {
		if e.Boundaries[i].ID == ids["agreed"] {
			agreed = &e.Boundaries[i]
		}
	}
	if agreed == nil || !agreed.Agreed || !slices.Contains(agreed.AgreedBy, "Alex") {
		t.Fatalf("agreed boundary in export: %+v", agreed)
	}
	if e.ExportedBy != "Sam" || e.Device != "sam-laptop" || e.SpaceID == "" {
		t.Errorf("export header: %+v", e)
	}
	// Without --out, or with --out -, the same object on stdout.
	for _, args := range [][]string{{"export", "--format", "json"}, {"export", "--format", "json", "--out", "-"}} {
		if e2 := decode[exportJSON](t, sam.ok(args...)); len(e2.Boundaries) != 3 {
			t.Errorf("%v: stdout export has %d boundaries", args, len(e2.Boundaries))
		}
	}
	if _, err := os.Stat("-"); err == nil {
		t.Error("export --out - wrote a file named -")
	}
}

func TestExport_Automerge(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	d.create("boundary", "add", "I say when I need space")
	d.create("checkin", "add", "--mood", "3", "--note", "")
	dir := filepath.Join(t.TempDir(), "am")
	r := d.run("export", "--format", "automerge", "--out", dir)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.errOut)
	}
	want := []string{"boundaries.automerge", "checkins-2026-03.automerge", "signatures.json", "space.automerge"}
	entries, err := os.ReadDir(dir)
	must(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		must(t, err)
		if e.Name() == "signatures.json" {
			// The device's own latest change in each document is signed,
			// and covers its earlier ones.
			var v struct {
				Docs []struct {
					Doc        string            `json:"doc"`
					Signatures map[string][]byte `json:"signatures"`
				} `json:"docs"`
			}
			must(t, json.Unmarshal(b, &v))
			if len(v.Docs) != 3 {
				t.Errorf("signatures of %d documents, want 3: %s", len(v.Docs), b)
			}
			for _, d := range v.Docs {
				if len(d.Signatures) == 0 {
					t.Errorf("no signature for the changes of %s", d.Doc)
				}
				for h, sig := range d.Signatures {
					if len(h) != 64 || len(sig) != 64 {
						t.Errorf("signature of %s in %s: %d bytes", h, d.Doc, len(sig))
					}
				}
			}
			continue
		}
		if len(b) < 8 || b[0] != 0x85 || b[1] != 0x6f || b[2] != 0x4a || b[3] != 0x83 {
			t.Errorf("%s does not start with the Automerge magic bytes", e.Name())
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	var printed []string
	for _, l := range strings.Split(strings.TrimSpace(r.out), "\n") {
		printed = append(printed, filepath.Base(l))
	}
	slices.Sort(printed)
	if !slices.Equal(printed, want) {
		t.Errorf("stdout lists %v, want %v", printed, want)
	}
	msg := d.fail(ExitUsage, "export", "--format", "automerge")
	if !strings.Contains(msg, "needs --out DIR") {
		t.Errorf("without --out: %q", msg)
	}
	msg = d.fail(ExitUsage, "export", "--format", "automerge", "--out", "-")
	if !strings.Contains(msg, "cannot go to standard output") {
		t.Errorf("with --out -: %q", msg)
	}
}
