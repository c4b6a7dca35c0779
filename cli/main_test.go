package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/internal/testpair"
	"github.com/trustsync/trustsync/store"
)

// t0 is the clock of the tests: every command of a test runs at a time the
// test chooses, so relative times and the order of check-ins are exact.
var t0 = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

// device is one home on disk, driven like a person would drive the command:
// each run builds a new factory and root command, as a new process would.
type device struct {
	t    *testing.T
	home string
	env  map[string]string
	now  time.Time
	tty  bool // standard input is a terminal
}

func newDevice(t *testing.T) *device {
	t.Helper()
	return &device{t: t, home: filepath.Join(t.TempDir(), "home"), env: map[string]string{}, now: t0}
}

// result is what one run printed and its exit code.
type result struct {
	out, errOut string
	code        int
}

func (d *device) run(args ...string) result { return d.runIn("", args...) }

// runIn runs the command with stdin as its standard input.
func (d *device) runIn(stdin string, args ...string) result {
	d.t.Helper()
	ios, in, out, errOut := TestStreams()
	in.WriteString(stdin)
	ios.StdinTTY = d.tty
	f := NewFactory(ios)
	f.Getenv = func(k string) string { return d.env[k] }
	f.Now = func() time.Time { return d.now }
	code := Execute(context.Background(), f, NewCmdRoot(f), append([]string{"--home", d.home}, args...))
	return result{out: out.String(), errOut: errOut.String(), code: code}
}

// ok runs a command that must succeed and returns its standard output.
func (d *device) ok(args ...string) string {
	d.t.Helper()
	r := d.run(args...)
	if r.code != ExitOK {
		d.t.Fatalf("trustsync %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.errOut)
	}
	return r.out
}

// create runs a command that creates something and returns the new ID,
// checking that the ID is alone on standard output.
func (d *device) create(args ...string) string {
	d.t.Helper()
	out := d.ok(args...)
	id := strings.TrimSuffix(out, "\n")
	if id == "" || strings.ContainsAny(id, " \n\t") {
		d.t.Fatalf("trustsync %s printed %q on stdout, want an ID alone on one line", strings.Join(args, " "), out)
	}
	return id
}

// fail runs a command that must fail with code and one line on stderr,
// and returns that line.
func (d *device) fail(code int, args ...string) string {
	d.t.Helper()
	r := d.run(args...)
	checkFailure(d.t, r, code, args)
	return r.errOut
}

func checkFailure(t *testing.T, r result, code int, args []string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("trustsync %s: exit %d, want %d; stderr %q", strings.Join(args, " "), r.code, code, r.errOut)
	}
	if !strings.HasPrefix(r.errOut, "trustsync: ") || strings.Count(r.errOut, "\n") != 1 {
		t.Fatalf("trustsync %s: stderr %q, want one line starting \"trustsync: \"", strings.Join(args, " "), r.errOut)
	}
	if strings.Contains(r.errOut, "goroutine") || strings.Contains(r.errOut, "panic") {
		t.Fatalf("trustsync %s: stderr looks like a crash: %q", strings.Join(args, " "), r.errOut)
	}
}

// initDevice initialises a home the way tests must: loopback only, no mDNS.
func initDevice(t *testing.T, name, dev string) *device {
	t.Helper()
	d := newDevice(t)
	d.create("init", "--name", name, "--device", dev, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	return d
}

// withSpace opens a device's space directly through the library.
func (d *device) withSpace(fn func(ctx context.Context, sp *crdt.Space)) {
	d.t.Helper()
	d.withStore(func(ctx context.Context, _ trustsync.Store, sp *crdt.Space) { fn(ctx, sp) })
}

// withStore opens a device's store and space directly through the library.
func (d *device) withStore(fn func(ctx context.Context, st trustsync.Store, sp *crdt.Space)) {
	d.t.Helper()
	ctx := context.Background()
	st, err := store.Open(d.home, store.Options{})
	if err != nil {
		d.t.Fatal(err)
	}
	defer st.Close()
	sp, err := crdt.Open(ctx, st, crdt.Options{Now: func() time.Time { return d.now }})
	if err != nil {
		d.t.Fatal(err)
	}
	defer sp.Close()
	fn(ctx, st, sp)
}

// withHome opens a device's home through package home, as the commands
// do (a home without encryption).
func (d *device) withHome(fn func(ctx context.Context, h *home.Home)) {
	d.t.Helper()
	h, err := home.Open(d.home, home.Options{Keeper: home.NoKeeper(), Now: func() time.Time { return d.now }})
	if err != nil {
		d.t.Fatal(err)
	}
	defer h.Close()
	fn(context.Background(), h)
}

// pair joins b to a's space by hand, as a pairing leaves them
// (internal/testpair), then syncs them. Nothing goes over a network:
// documents are copied with Save and Import, which is what sync amounts
// to.
func pair(t *testing.T, a, b *device) {
	t.Helper()
	withSpaces(a, b, func(sa, sb *crdt.Space) { testpair.Spaces(t, sa, sb) })
	syncDevices(t, a, b)
}

// withSpaces opens two devices' spaces at once, directly through the
// library.
func withSpaces(a, b *device, fn func(sa, sb *crdt.Space)) {
	a.t.Helper()
	a.withSpace(func(_ context.Context, sa *crdt.Space) {
		b.withSpace(func(_ context.Context, sb *crdt.Space) { fn(sa, sb) })
	})
}

// syncDevices copies every document each way between two homes.
func syncDevices(t *testing.T, a, b *device) {
	t.Helper()
	copyDocs(t, a, b)
	copyDocs(t, b, a)
}

// copyDocs imports every document of from into to, the way sync does.
func copyDocs(t *testing.T, from, to *device) {
	t.Helper()
	docs := map[string][]byte{}
	var fromID string
	from.withSpace(func(ctx context.Context, sp *crdt.Space) {
		fromID = sp.Self().DeviceID
		ids, err := sp.Docs(ctx)
		must(t, err)
		for _, doc := range ids {
			data, err := sp.SaveSigned(ctx, doc)
			must(t, err)
			docs[doc] = data
		}
	})
	to.withSpace(func(ctx context.Context, sp *crdt.Space) {
		// The space document first, as a session sends it.
		order := []string{crdt.SpaceDoc}
		for doc := range docs {
			if doc != crdt.SpaceDoc {
				order = append(order, doc)
			}
		}
		for _, doc := range order {
			data := docs[doc]
			if data == nil {
				continue
			}
			_, err := sp.Import(ctx, doc, data, fromID)
			must(t, err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(content), mode))
}

func contains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}
