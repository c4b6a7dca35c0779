package keys

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"
)

// fast are Argon2id parameters small enough for tests.
var fast = Params{Time: 1, MemoryKiB: 64, Threads: 1}

func TestCreate_OpenAndWrongPassphrase(t *testing.T) {
	dir := t.TempDir()
	h, key, err := Create(dir, []byte("correct horse"), fast)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, HeaderFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("header file: %v, mode %v; want mode 0600", err, fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(filepath.Join(dir, HeaderFile))
	if bytes.Contains(raw, key) || bytes.Contains(raw, []byte("correct horse")) {
		t.Fatal("the header holds the key or the passphrase in the clear")
	}
	read, err := ReadHeader(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := read.Open([]byte("correct horse"))
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Open with the passphrase: %x, %v; want %x", got, err, key)
	}
	if _, err := read.Open([]byte("correct horsE")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Open with a wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	if !h.Check(key) || h.Check(Derive(key, "other")) {
		t.Fatal("Check does not tell the data key from another key")
	}
	if _, _, err := Create(dir, []byte("again"), fast); err == nil {
		t.Fatal("Create over an existing header succeeded")
	}
	if _, _, err := Create(t.TempDir(), []byte("  "), fast); err == nil {
		t.Fatal("Create with a blank passphrase succeeded")
	}
	if _, err := ReadHeader(t.TempDir()); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("ReadHeader without a header: %v, want ErrNotEncrypted", err)
	}
}

// TestHeader_Tampered: changing any parameter in the header makes the
// passphrase fail rather than derive another key silently.
func TestHeader_Tampered(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Create(dir, []byte("pw"), fast); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHeader(dir)
	if err != nil {
		t.Fatal(err)
	}
	h.Params.Time++
	if _, err := h.Open([]byte("pw")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Open after changing the time parameter: %v", err)
	}
}

// TestReadHeader_Garbage: a header that is not one says it is damaged, or
// names the version it has, in words and not in the JSON decoder's.
func TestReadHeader_Garbage(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"not JSON", "{garbage", "it is damaged (not the JSON of a header)"},
		{"empty file", "", "it is damaged (not the JSON of a header)"},
		{"empty object", "{}", "it is damaged (a field is missing or out of range)"},
		{"a later version", `{"version":9,"kdf":"argon2id"}`, `version 9 with kdf "argon2id" is not one this trustsync reads`},
		{"fields missing", `{"version":1,"kdf":"argon2id","id":"x"}`, "it is damaged (a field is missing or out of range)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, HeaderFile), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadHeader(dir)
			if err == nil || !strings.HasSuffix(err.Error(), tt.want) {
				t.Fatalf("ReadHeader: %v, want it to end with %q", err, tt.want)
			}
		})
	}
}

// TestCreate_Concurrent: of several Creates of one header at the same
// moment, one wins and the header on disk is the winner's; the others fail
// with fs.ErrExist instead of replacing it.
func TestCreate_Concurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 4
	type result struct {
		key []byte
		err error
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			_, key, err := Create(dir, []byte(fmt.Sprint("passphrase ", i)), fast)
			results <- result{key, err}
		}()
	}
	var won [][]byte
	for range n {
		r := <-results
		switch {
		case r.err == nil:
			won = append(won, r.key)
		case !errors.Is(r.err, fs.ErrExist):
			t.Errorf("a losing Create: %v, want fs.ErrExist", r.err)
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d Creates succeeded, want 1", len(won))
	}
	h, err := ReadHeader(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Check(won[0]) {
		t.Fatal("the header on disk does not seal the key of the Create that succeeded")
	}
}

func TestDerive_Distinct(t *testing.T) {
	k := bytes.Repeat([]byte{7}, KeySize)
	a, b := Derive(k, "store"), Derive(k, "journal")
	if bytes.Equal(a, b) || bytes.Equal(a, k) || len(a) != KeySize {
		t.Fatal("derived keys are not distinct keys of KeySize bytes")
	}
}

// TestKeeper_FallsBackToRuntimeFile runs the real OS keyring client with a
// D-Bus session address that leads nowhere, as on a headless machine: the
// keyring fails and the key goes to a file of mode 0600 in the runtime
// directory; Get finds it there and Delete removes it.
func TestKeeper_FallsBackToRuntimeFile(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	run := t.TempDir()
	k := SystemKeeper(func(v string) string {
		switch v {
		case "XDG_RUNTIME_DIR":
			return run
		case "DBUS_SESSION_BUS_ADDRESS":
			return os.Getenv(v)
		}
		return ""
	})
	if k.Keyring == nil {
		t.Fatal("SystemKeeper did not try the keyring although a session bus address is set")
	}
	key := bytes.Repeat([]byte{1}, KeySize)
	where, err := k.Put("id1", key)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(run, "trustsync", "id1.key")
	if where != want {
		t.Fatalf("Put kept the key in %q, want the runtime file %q", where, want)
	}
	fi, err := os.Stat(want)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(want)); di.Mode().Perm() != 0o700 {
		t.Fatalf("runtime directory mode %v, want 0700", di.Mode().Perm())
	}
	got, err := k.Get("id1")
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Get: %x, %v", got, err)
	}
	if err := k.Delete("id1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(want); !os.IsNotExist(err) {
		t.Fatalf("key file still there after Delete: %v", err)
	}
	if _, err := k.Get("id1"); !errors.Is(err, ErrNotKept) {
		t.Fatalf("Get after Delete: %v, want ErrNotKept", err)
	}
}

// TestKeeper_KeyringFirst: when the keyring works (go-keyring's in-memory
// mock stands in for it), the key goes there and no file is written.
func TestKeeper_KeyringFirst(t *testing.T) {
	keyring.MockInit()
	run := t.TempDir()
	k := &Keeper{Keyring: OSKeyring{}, RuntimeDir: filepath.Join(run, "trustsync")}
	key := bytes.Repeat([]byte{2}, KeySize)
	where, err := k.Put("id2", key)
	if err != nil || where != "the system keyring" {
		t.Fatalf("Put: %q, %v; want the system keyring", where, err)
	}
	if _, err := os.Stat(filepath.Join(run, "trustsync", "id2.key")); !os.IsNotExist(err) {
		t.Fatalf("a key file was written although the keyring took the key: %v", err)
	}
	if got, err := k.Get("id2"); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Get: %x, %v", got, err)
	}
	if err := k.Delete("id2"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get("id2"); !errors.Is(err, ErrNotKept) {
		t.Fatalf("Get after Delete: %v, want ErrNotKept", err)
	}
}

// TestKeeper_Nowhere: a headless machine without a runtime directory has
// nowhere to keep a key; Put says so and keeps nothing.
// TestSystemKeeper_KeyringOff: every word that turns TRUSTSYNC_MDNS off
// turns the keyring off too, in any case.
func TestSystemKeeper_KeyringOff(t *testing.T) {
	for _, v := range []string{"off", "OFF", " Off ", "0", "false", "no", "on", ""} {
		k := SystemKeeper(func(name string) string {
			switch name {
			case "TRUSTSYNC_KEYRING":
				return v
			case "DBUS_SESSION_BUS_ADDRESS":
				return "unix:path=/nonexistent"
			}
			return ""
		})
		wantOff := v != "on" && v != ""
		if (k.Keyring == nil) != wantOff {
			t.Errorf("TRUSTSYNC_KEYRING=%q: keyring used = %v, want %v", v, k.Keyring != nil, !wantOff)
		}
	}
}

func TestKeeper_Nowhere(t *testing.T) {
	k := SystemKeeper(func(string) string { return "" })
	k.RuntimeDir = "" // /run/user/UID may exist on this machine
	if k.CanKeep() {
		t.Fatal("CanKeep with no keyring and no runtime directory")
	}
	if _, err := k.Put("id3", bytes.Repeat([]byte{3}, KeySize)); !errors.Is(err, ErrNowhere) {
		t.Fatalf("Put: %v, want ErrNowhere", err)
	}
}

// TestKeeper_RefusesOpenDirectory: a runtime directory that other users can
// read is not used.
func TestKeeper_RefusesOpenDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trustsync")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	k := &Keeper{RuntimeDir: dir}
	if _, err := k.Put("id4", bytes.Repeat([]byte{4}, KeySize)); err == nil {
		t.Fatal("Put kept a key in a directory of mode 0755")
	}
}

// BenchmarkHeaderOpen is what an unlock costs with the default Argon2id
// parameters (64 MiB, 3 passes, 2 lanes), and what every command pays on
// a machine with nowhere to keep the key.
//
//	go test -run '^$' -bench HeaderOpen ./internal/keys
func BenchmarkHeaderOpen(b *testing.B) {
	dir := b.TempDir()
	if _, _, err := Create(dir, []byte("pw"), DefaultParams); err != nil {
		b.Fatal(err)
	}
	h, err := ReadHeader(dir)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := h.Open([]byte("pw")); err != nil {
			b.Fatal(err)
		}
	}
}
