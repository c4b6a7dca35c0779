package cli

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustsync/trustsync/home"
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

// TestNewPassphrase_EnvMinimum: a passphrase from TRUSTSYNC_PASSPHRASE or
// TRUSTSYNC_JOURNAL_PASSPHRASE is held to the same minimum as a typed one,
// with one line that names the variable and the minimum, and nothing is
// made or changed.
func TestNewPassphrase_EnvMinimum(t *testing.T) {
	t.Run("home", func(t *testing.T) {
		d := newDevice(t)
		d.env["TRUSTSYNC_TEST_KDF"] = "fast"
		d.env["TRUSTSYNC_PASSPHRASE"] = "x"
		got := d.fail(ExitFailure, "init", "--name", "Alex", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--encrypt")
		want := "trustsync: the passphrase in TRUSTSYNC_PASSPHRASE has 1 characters; a passphrase needs at least 8 characters: nothing was changed\n"
		if got != want {
			t.Errorf("init --encrypt with a one-character TRUSTSYNC_PASSPHRASE:\n got %q\nwant %q", got, want)
		}
		if _, err := os.Stat(filepath.Join(d.home, keys.HeaderFile)); err == nil {
			t.Errorf("a refused passphrase left %s behind", keys.HeaderFile)
		}
		d.env["TRUSTSYNC_PASSPHRASE"] = "seven c" // 7 characters
		if got := d.fail(ExitFailure, "init", "--name", "Alex", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--encrypt"); !strings.Contains(got, "has 7 characters; a passphrase needs at least 8") {
			t.Errorf("init --encrypt with a 7-character passphrase: %q", got)
		}
		d.env["TRUSTSYNC_PASSPHRASE"] = "éééééééé" // 8 characters, 16 bytes
		d.ok("init", "--name", "Alex", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--encrypt")
	})
	t.Run("journal", func(t *testing.T) {
		d := initDevice(t, "Alex", "alex-laptop")
		d.env["TRUSTSYNC_TEST_KDF"] = "fast"
		d.create("journal", "add", "words before")
		d.env["TRUSTSYNC_JOURNAL_PASSPHRASE"] = "abc"
		got := d.fail(ExitFailure, "journal", "passphrase")
		want := "trustsync: the passphrase in TRUSTSYNC_JOURNAL_PASSPHRASE has 3 characters; a passphrase needs at least 8 characters: nothing was changed\n"
		if got != want {
			t.Errorf("journal passphrase with a short TRUSTSYNC_JOURNAL_PASSPHRASE:\n got %q\nwant %q", got, want)
		}
		delete(d.env, "TRUSTSYNC_JOURNAL_PASSPHRASE")
		if out := d.ok("journal", "list"); !strings.Contains(out, "words before") {
			t.Errorf("after a refused journal passphrase the journal still opens without one: %q", out)
		}
	})
}

// TestNewPassphrase_TypedMinimum: the prompt gives the same rule in the
// same words, without a variable to name.
func TestNewPassphrase_TypedMinimum(t *testing.T) {
	f := &Factory{IOStreams: &IOStreams{StdinTTY: true}, Getenv: func(string) string { return "" }}
	f.ReadSecret = func(string) ([]byte, error) { return []byte("short"), nil }
	_, err := f.newPassphrase("TRUSTSYNC_PASSPHRASE", "this home")
	if err == nil || err.Error() != "a passphrase needs at least 8 characters: nothing was changed" {
		t.Errorf("a typed 5-character passphrase: %v", err)
	}
	f.ReadSecret = func(string) ([]byte, error) { return []byte("eight ch"), nil }
	if p, err := f.newPassphrase("TRUSTSYNC_PASSPHRASE", "this home"); err != nil || string(p) != "eight ch" {
		t.Errorf("a typed 8-character passphrase: %q, %v", p, err)
	}
}

// TestPassphrase_OldShortStillOpens: a home and a journal whose headers
// were made with a passphrase shorter than the minimum (as the environment
// once allowed) still open with it: the minimum is for setting one.
func TestPassphrase_OldShortStillOpens(t *testing.T) {
	fast := keys.Params{Time: 1, MemoryKiB: 64, Threads: 1}
	// A home made with the passphrase "x": its header is written first, as
	// init --encrypt did, and init then opens the store under it. Its key
	// is kept in a runtime directory of the test's own, as in
	// encryptedDevice.
	bus := "unix:path=" + filepath.Join(t.TempDir(), "no-bus")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", bus)
	run := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	old := newDevice(t)
	old.env["XDG_RUNTIME_DIR"] = run
	old.env["DBUS_SESSION_BUS_ADDRESS"] = bus
	old.env["TRUSTSYNC_TEST_KDF"] = "fast"
	if err := os.MkdirAll(old.home, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.Create(old.home, []byte("x"), fast); err != nil {
		t.Fatal(err)
	}
	old.env["TRUSTSYNC_PASSPHRASE"] = "x"
	old.ok("init", "--name", "Sam", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	old.create("boundary", "add", "Made under a short passphrase")
	delete(old.env, "TRUSTSYNC_PASSPHRASE")
	old.ok("lock")
	old.fail(ExitFailure, "boundary", "list")
	old.env["TRUSTSYNC_PASSPHRASE"] = "x"
	old.ok("unlock")
	delete(old.env, "TRUSTSYNC_PASSPHRASE")
	if out := old.ok("boundary", "list"); !strings.Contains(out, "Made under a short passphrase") {
		t.Errorf("boundary list after unlocking with the old short passphrase: %q", out)
	}

	// A journal whose own header was made with "ab".
	j := initDevice(t, "Alex", "alex-laptop")
	dir := filepath.Join(j.home, "journal")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.Create(dir, []byte("ab"), fast); err != nil {
		t.Fatal(err)
	}
	j.env["TRUSTSYNC_JOURNAL_PASSPHRASE"] = "ab"
	j.create("journal", "add", "written under a short journal passphrase")
	if out := j.ok("journal", "list"); !strings.Contains(out, "written under a short journal passphrase") {
		t.Errorf("journal list with the old short passphrase: %q", out)
	}
	delete(j.env, "TRUSTSYNC_JOURNAL_PASSPHRASE")
	if got := j.fail(ExitFailure, "journal", "list"); !strings.Contains(got, "passphrase of its own") {
		t.Errorf("journal list without its passphrase: %q", got)
	}
}

// faultyKeeper keeps a key, and then fails to forget it: Delete returns
// err, or (err nil) says it deleted while Get still returns the key, as a
// keyring that did not answer in time does.
type faultyKeeper struct {
	key []byte
	err error
}

func (k *faultyKeeper) Put(id string, key []byte) (string, error) {
	k.key = key
	return "the system keyring", nil
}

func (k *faultyKeeper) Get(id string) ([]byte, error) {
	if k.key == nil {
		return nil, keys.ErrNotKept
	}
	return k.key, nil
}

func (k *faultyKeeper) Delete(id string) error { return k.err }
func (k *faultyKeeper) CanKeep() bool          { return true }

// TestLock_Honest: lock never says "Locked" when the key stays kept or
// when there was nowhere to keep one; it exits 1 when it could not forget
// the key, and says the home is still unlocked.
func TestLock_Honest(t *testing.T) {
	d := encryptedDevice(t)
	run := func(k home.Keeper, args ...string) result {
		ios, _, out, errOut := TestStreams()
		f := NewFactory(ios)
		f.Getenv = func(k string) string { return d.env[k] }
		f.Keeper = k
		code := Execute(context.Background(), f, NewCmdRoot(f), append([]string{"--home", d.home}, args...))
		return result{out: out.String(), errOut: errOut.String(), code: code}
	}
	unlock := func(k home.Keeper) {
		t.Helper()
		d.env["TRUSTSYNC_PASSPHRASE"] = "a long passphrase"
		defer delete(d.env, "TRUSTSYNC_PASSPHRASE")
		if r := run(k, "unlock"); r.code != ExitOK {
			t.Fatalf("unlock: exit %d, %q", r.code, r.errOut)
		}
	}
	tests := []struct {
		name   string
		keeper *faultyKeeper
		want   string
	}{
		{"the keyring says it deleted, and still has the key", &faultyKeeper{},
			"trustsync: the key is still kept on this machine after forgetting it (the keyring did not delete it), so this home is still unlocked: try 'trustsync lock' again, or delete the trustsync entry from your keyring\n"},
		{"the keyring fails to delete", &faultyKeeper{err: errors.New("keyring: the bus is gone")},
			"trustsync: cannot forget the key (keyring: the bus is gone), so this home is still unlocked on this machine\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unlock(tt.keeper)
			r := run(tt.keeper, "lock")
			if r.code != ExitFailure || r.errOut != tt.want {
				t.Fatalf("lock: exit %d, %q; want exit 1, %q", r.code, r.errOut, tt.want)
			}
			if r := run(tt.keeper, "boundary", "list"); r.code != ExitOK {
				t.Fatalf("after the failed lock the home is not usable as lock said: exit %d, %q", r.code, r.errOut)
			}
		})
	}
	r := run(&keys.Keeper{}, "lock")
	if r.code != ExitOK || strings.Contains(r.errOut, "Locked") || !strings.HasPrefix(r.errOut, "Nothing to forget: this machine has nowhere to keep the key") {
		t.Fatalf("lock with nowhere to keep a key: exit %d, %q", r.code, r.errOut)
	}
}
