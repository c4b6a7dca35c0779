package cli

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustsync/trustsync/internal/keys"
)

// encryptedDevice initialises an encrypted home whose key, once unlocked,
// is kept in a runtime directory of the test's own. The D-Bus address leads
// nowhere, as on a headless machine: the keyring is tried and fails over.
func encryptedDevice(t *testing.T) *device {
	t.Helper()
	bus := "unix:path=" + filepath.Join(t.TempDir(), "no-bus")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", bus)
	run := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	d := newDevice(t)
	d.env["XDG_RUNTIME_DIR"] = run
	d.env["DBUS_SESSION_BUS_ADDRESS"] = bus
	d.env["TRUSTSYNC_TEST_KDF"] = "fast"
	d.env["TRUSTSYNC_PASSPHRASE"] = "a long passphrase"
	r := d.run("init", "--name", "Alex", "--device", "alex-laptop", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--encrypt")
	if r.code != ExitOK {
		t.Fatalf("init --encrypt: exit %d, %q", r.code, r.errOut)
	}
	if !strings.Contains(r.errOut, filepath.Join(run, "trustsync")) {
		t.Fatalf("init --encrypt did not say the key went to the runtime directory after the keyring failed: %q", r.errOut)
	}
	delete(d.env, "TRUSTSYNC_PASSPHRASE")
	return d
}

// homeFiles reads every file of a home.
func homeFiles(t *testing.T, home string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(home, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLock_CommandsRefuse: after 'lock', every command that reads the
// space or the journal refuses with the same clear line; 'unlock' with a
// wrong passphrase changes nothing; with the right one everything works
// again.
func TestLock_CommandsRefuse(t *testing.T) {
	d := encryptedDevice(t)
	b := d.create("boundary", "add", "We talk about money on Sundays")
	d.create("journal", "add", "private words", "--mood", "2")
	d.ok("lock")
	readers := [][]string{
		{"boundary", "list"}, {"boundary", "show", b}, {"goal", "list"}, {"checkin", "list"},
		{"history"}, {"status"}, {"export", "--format", "json"}, {"journal", "list"},
		{"journal", "plan", "list"}, {"boundary", "add", "x"},
	}
	for _, args := range readers {
		if got := d.fail(ExitFailure, args...); got != "trustsync: this home is locked: run 'trustsync unlock'\n" {
			t.Errorf("trustsync %s after lock: %q", strings.Join(args, " "), got)
		}
	}
	before := homeFiles(t, d.home)
	d.env["TRUSTSYNC_PASSPHRASE"] = "a wrong passphrase"
	if got := d.fail(ExitFailure, "unlock"); !strings.Contains(got, "wrong") {
		t.Errorf("unlock with a wrong passphrase: %q", got)
	}
	if got := d.fail(ExitFailure, "boundary", "list"); !strings.Contains(got, "wrong: nothing was read or changed") {
		t.Errorf("boundary list with a wrong TRUSTSYNC_PASSPHRASE: %q", got)
	}
	after := homeFiles(t, d.home)
	for p, b := range before {
		if !bytes.Equal(b, after[p]) {
			t.Errorf("a wrong passphrase changed %s", p)
		}
	}
	if len(after) != len(before) {
		t.Errorf("a wrong passphrase changed the files of the home: %d before, %d after", len(before), len(after))
	}
	runDir := filepath.Join(d.env["XDG_RUNTIME_DIR"], "trustsync")
	if es, _ := os.ReadDir(runDir); len(es) != 0 {
		t.Errorf("a key file is kept after a failed unlock: %v", es)
	}
	d.env["TRUSTSYNC_PASSPHRASE"] = "a long passphrase"
	d.ok("unlock")
	delete(d.env, "TRUSTSYNC_PASSPHRASE")
	if out := d.ok("boundary", "list"); !strings.Contains(out, "We talk about money") {
		t.Errorf("boundary list after unlock: %q", out)
	}
	if out := d.ok("journal", "list"); !strings.Contains(out, "private words") {
		t.Errorf("journal list after unlock: %q", out)
	}
}

// TestLock_PlainHome: lock and unlock on a home without encryption say
// there is nothing to do, and fail.
func TestLock_PlainHome(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	for _, c := range []string{"lock", "unlock"} {
		if got := d.fail(ExitFailure, c); !strings.Contains(got, "not encrypted") {
			t.Errorf("%s on a plain home: %q", c, got)
		}
	}
}

// TestInit_EncryptNothingReadable: with encryption, the words written
// through the command are in no file of the home.
func TestInit_EncryptNothingReadable(t *testing.T) {
	d := encryptedDevice(t)
	d.create("boundary", "add", "CANARY-boundary-words")
	d.create("checkin", "add", "--mood", "3", "--note", "CANARY-checkin-words")
	d.create("journal", "add", "CANARY-journal-words")
	for p, b := range homeFiles(t, d.home) {
		if bytes.Contains(b, []byte("CANARY")) {
			t.Errorf("%s holds a canary in the clear", p)
		}
	}
	if got := d.fail(ExitFailure, "init", "--name", "Alex", "--encrypt"); !strings.Contains(got, "already holds a space") {
		t.Errorf("init --encrypt on an initialised home: %q", got)
	}
}

// TestUnlock_Nowhere: on a machine with no keyring and no runtime
// directory, unlock says it cannot keep the key, a command without a
// passphrase says how to give one, and TRUSTSYNC_PASSPHRASE works.
func TestUnlock_Nowhere(t *testing.T) {
	d := encryptedDevice(t)
	d.ok("lock")
	run := func(env map[string]string, args ...string) result {
		ios, _, out, errOut := TestStreams()
		f := NewFactory(ios)
		f.Getenv = func(k string) string { return env[k] }
		f.Keeper = &keys.Keeper{} // nowhere to keep a key
		code := Execute(context.Background(), f, NewCmdRoot(f), append([]string{"--home", d.home}, args...))
		return result{out: out.String(), errOut: errOut.String(), code: code}
	}
	withPass := map[string]string{"TRUSTSYNC_PASSPHRASE": "a long passphrase"}
	r := run(withPass, "unlock")
	checkFailure(t, r, ExitFailure, []string{"unlock"})
	if !strings.Contains(r.errOut, "no keyring and no runtime directory") {
		t.Errorf("unlock with nowhere to keep the key: %q", r.errOut)
	}
	r = run(map[string]string{}, "boundary", "list")
	checkFailure(t, r, ExitFailure, []string{"boundary", "list"})
	if !strings.Contains(r.errOut, "set TRUSTSYNC_PASSPHRASE") {
		t.Errorf("boundary list with no passphrase and nowhere to keep a key: %q", r.errOut)
	}
	if r := run(withPass, "boundary", "list"); r.code != ExitOK {
		t.Errorf("boundary list with TRUSTSYNC_PASSPHRASE: exit %d, %q", r.code, r.errOut)
	}
}
