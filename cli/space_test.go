package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestInit_Twice(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	before := d.ok("status", "--json")
	msg := d.fail(ExitFailure, "init", "--name", "Someone else")
	if !strings.Contains(msg, d.home+" already holds a space, so nothing was changed") {
		t.Fatalf("stderr %q", msg)
	}
	if after := d.ok("status", "--json"); after != before {
		t.Fatalf("a second init changed the device:\nbefore %s\nafter %s", before, after)
	}
}

func TestInit_PrintsDeviceAndWelcomes(t *testing.T) {
	d := newDevice(t)
	r := d.run("init", "--name", "Sam", "--device", "sam-laptop", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	if r.code != ExitOK || !regexp.MustCompile(`^[0-9a-f]{32}\n$`).MatchString(r.out) {
		t.Fatalf("init: %+v", r)
	}
	contains(t, "init stderr", r.errOut, "Welcome, Sam", "sam-laptop", d.home)
	fi, err := os.Stat(d.home)
	must(t, err)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("home mode %v, want 0700", fi.Mode().Perm())
	}
}

func TestNotInitialised(t *testing.T) {
	d := newDevice(t)
	want := "trustsync: no space in " + d.home + ": run 'trustsync init --name NAME' first\n"
	for _, args := range [][]string{
		{"status"}, {"status", "--json"},
		{"boundary", "list"}, {"boundary", "add", "x"}, {"boundary", "show", "abcdefgh"},
		{"goal", "list"}, {"goal", "add", "x"},
		{"checkin", "list"}, {"checkin", "add", "--mood", "3", "--note", "x"},
		{"history"}, {"export", "--format", "markdown"},
	} {
		if msg := d.fail(ExitFailure, args...); msg != want {
			t.Errorf("%v: stderr %q, want %q", args, msg, want)
		}
	}
	if _, err := os.Stat(d.home); !os.IsNotExist(err) {
		t.Errorf("reading commands created the home: %v", err)
	}
	// An existing but empty directory is not a space either.
	must(t, os.MkdirAll(d.home, 0o700))
	if msg := d.fail(ExitFailure, "boundary", "list"); msg != want {
		t.Errorf("empty home: stderr %q, want %q", msg, want)
	}
}

func TestDamagedStore(t *testing.T) {
	for name, garbage := range map[string]string{
		"text":         "this is not a database\n",
		"sqlite magic": "SQLite format 3\x00" + strings.Repeat("\xff", 4000),
	} {
		t.Run(name, func(t *testing.T) {
			d := initDevice(t, "Sam", "sam-laptop")
			db := filepath.Join(d.home, "trustsync.db")
			for _, suffix := range []string{"-wal", "-shm"} {
				os.Remove(db + suffix)
			}
			writeFile(t, db, garbage, 0o600)
			for _, args := range [][]string{{"status"}, {"boundary", "list", "--json"}, {"boundary", "add", "x"}} {
				r := d.run(args...)
				checkFailure(t, r, ExitFailure, args)
				if !strings.Contains(r.errOut, "damaged") && !strings.Contains(r.errOut, "cannot open the data") {
					t.Errorf("%v: stderr %q does not say the data is damaged", args, r.errOut)
				}
				if r.out != "" {
					t.Errorf("%v: stdout %q, want nothing", args, r.out)
				}
			}
		})
	}
}

func TestStatus(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	out := d.ok("status")
	contains(t, "status", out,
		"You: Sam, on sam-laptop",
		"Partner: not paired yet",
		"Data: "+d.home,
		"sam-laptop  Sam    this device",
		"  /ip4/127.0.0.1/tcp/", // port 0 became a port picked at init
		"Local network discovery (mDNS): off")
	s := decode[statusJSON](t, d.ok("status", "--json"))
	if s.Me != "Sam" || s.Device != "sam-laptop" || s.Partner != nil || s.MDNS || len(s.Listen) != 1 ||
		len(s.Members) != 1 || len(s.Members[0].Devices) != 1 || !s.Members[0].Devices[0].This || s.Home != d.home {
		t.Fatalf("status --json: %+v", s)
	}
	// The environment overrides what init stored.
	d.env["TRUSTSYNC_LISTEN"] = "/ip4/127.0.0.1/tcp/7000,/ip4/127.0.0.1/udp/7000/quic-v1"
	s = decode[statusJSON](t, d.ok("status", "--json"))
	if strings.Join(s.Listen, ",") != d.env["TRUSTSYNC_LISTEN"] {
		t.Fatalf("listen with TRUSTSYNC_LISTEN: %v", s.Listen)
	}
	d.env["TRUSTSYNC_LISTEN"] = "/ip4/nowhere/tcp/1"
	if msg := d.fail(ExitFailure, "status"); !strings.Contains(msg, "TRUSTSYNC_LISTEN") {
		t.Fatalf("bad TRUSTSYNC_LISTEN: %q", msg)
	}
}

func TestStatus_Paired(t *testing.T) {
	sam := initDevice(t, "Sam", "sam-laptop")
	alex := initDevice(t, "Alex", "alex-phone")
	pair(t, sam, alex)
	out := sam.ok("status")
	contains(t, "status", out, "Partner: Alex", "alex-phone  Alex   paired       not synced yet")
	s := decode[statusJSON](t, sam.ok("status", "--json"))
	if s.Partner == nil || *s.Partner != "Alex" || len(s.Members) != 2 {
		t.Fatalf("status --json: %+v", s)
	}
}

func TestHistory(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	b := d.create("boundary", "add", "I say when I need a break")
	d.now = d.now.Add(3*24*time.Hour + time.Hour)
	d.create("goal", "add", "Cook together")
	out := d.ok("history")
	contains(t, "history", out, "WHEN", "WHO", "DEVICE", "WHAT",
		"just now", "3 days ago", "Sam  sam-laptop", "boundary "+b[:8]+":")
	if strings.Index(out, "Cook together") > strings.Index(out, "I say when I need a break") {
		t.Errorf("history is not newest first:\n%s", out)
	}
	h := decode[[]changeJSON](t, d.ok("history", "--json", "--limit", "2"))
	if len(h) != 2 || h[0].Kind != "goal" || h[1].Kind != "boundary" || h[1].Item != b ||
		h[0].By != "Sam" || h[0].Device != "sam-laptop" || len(h[0].DeviceID) != 32 || h[0].Hash == "" || h[0].Summary == "" {
		t.Fatalf("history --json --limit 2: %+v", h)
	}
	if h[1].At != "2026-03-14T09:30:00Z" {
		t.Errorf("at = %q", h[1].At)
	}
}

func TestColour(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	d.create("boundary", "add", "I check in every Sunday")
	ios, _, out, _ := TestStreams()
	ios.Color = true
	f := NewFactory(ios)
	f.Getenv = func(string) string { return "" }
	if code := Execute(t.Context(), f, NewCmdRoot(f), []string{"--home", d.home, "boundary", "list"}); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), "\x1b[33m") {
		t.Errorf("colour on, but no colour: %q", out.String())
	}
	plain := d.ok("boundary", "list")
	if strings.Contains(plain, "\x1b[") {
		t.Errorf("colour off, but escape codes: %q", plain)
	}
	// Colour changes nothing else: the columns stay where they were.
	if stripped := regexp.MustCompile("\x1b\\[[0-9]+m").ReplaceAllString(out.String(), ""); stripped != plain {
		t.Errorf("with colour, once the codes are removed:\n%s\nwithout colour:\n%s", stripped, plain)
	}
	if plain := d.ok("boundary", "list", "--json"); strings.Contains(plain, "\x1b[") {
		t.Errorf("escape codes in JSON: %q", plain)
	}
}
