package home_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/home"
	tsync "github.com/trustsync/trustsync/sync"
)

// A name Create refuses is refused before anything is written: a corrected
// Create on the same directory then works, encrypted or not, and the
// directory holds nothing of the refused attempt.
func TestCreate_RefusedNameWritesNothing(t *testing.T) {
	tests := []struct {
		name    string
		member  string
		device  string
		encrypt bool
		want    string
	}{
		{"control character in the name", "Al\aex", "", false, "the name contains a control character (U+0007)"},
		{"control character in the name, encrypted", "Al\aex", "", true, "the name contains a control character (U+0007)"},
		{"escape in the device name, encrypted", "Alex", "lap\x1b[2Jtop", true, "the device name contains a control character (U+001B)"},
		{"name of two lines", "Alex\nSam", "", true, "the name must be one line"},
		{"name too long", strings.Repeat("a", 101), "", true, "the name is 101 characters long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "home")
			opts := home.CreateOptions{
				Options: home.Options{Keeper: home.NoKeeper()},
				Name:    tt.member, Device: tt.device, Encrypt: tt.encrypt, KDF: fastKDF,
				Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true,
			}
			if tt.encrypt {
				opts.Passphrase = []byte(pass)
			}
			h, err := home.Create(dir, opts)
			if err == nil {
				h.Close()
				t.Fatalf("Create with name %q, device %q: no error", tt.member, tt.device)
			}
			if !errors.Is(err, trustsync.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Create: %v, want ErrInvalid saying %q", err, tt.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a refused Create left %s behind (%v)", dir, err)
			}
			opts.Name, opts.Device = "Alex", "alex-laptop"
			h, err = home.Create(dir, opts)
			if err != nil {
				t.Fatalf("Create again with good names: %v", err)
			}
			defer h.Close()
			if got := h.Space().Self().MemberName; got != "Alex" {
				t.Errorf("the home belongs to %q, want Alex", got)
			}
		})
	}
}

func TestCreate_OnAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, encrypt := range []bool{false, true} {
		t.Run(fmt.Sprint("encrypt=", encrypt), func(t *testing.T) {
			opts := home.CreateOptions{Options: home.Options{Keeper: home.NoKeeper()}, Name: "Alex", Encrypt: encrypt, KDF: fastKDF}
			if encrypt {
				opts.Passphrase = []byte(pass)
			}
			h, err := home.Create(file, opts)
			if err == nil {
				h.Close()
			}
			if !errors.Is(err, home.ErrNotDir) {
				t.Fatalf("Create on a file: %v, want ErrNotDir", err)
			}
			if b, err := os.ReadFile(file); err != nil || string(b) != "keep me" {
				t.Errorf("the file now holds %q (%v), want it untouched", b, err)
			}
		})
	}
}

// A Home used after Close fails with ErrClosed and never panics; Close
// twice is fine.
func TestHome_AfterClose(t *testing.T) {
	ctx := context.Background()
	dir := create(t, false, home.NoKeeper())
	h, err := home.Open(dir, home.Options{Keeper: home.NoKeeper()})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, cfgErr := h.Config(ctx)
	_, nodeErr := h.StartNode(ctx, home.NodeOptions{})
	_, journalErr := h.OpenJournal(ctx, home.JournalOptions{})
	for name, err := range map[string]error{
		"Config":      cfgErr,
		"StartNode":   nodeErr,
		"OpenJournal": journalErr,
		"RecordSync":  h.RecordSync(ctx, "device", time.Now(), tsync.PathDirect),
	} {
		if !errors.Is(err, trustsync.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// An AskPassphrase that fails is named in the error, which keeps its cause.
func TestOpen_AskPassphraseFails(t *testing.T) {
	dir := create(t, true, home.NoKeeper())
	cause := errors.New("no terminal")
	_, err := home.Open(dir, home.Options{Keeper: home.NoKeeper(), AskPassphrase: func() ([]byte, error) { return nil, cause }})
	if !errors.Is(err, cause) || !strings.Contains(err.Error(), "ask the passphrase") {
		t.Fatalf("Open: %v, want the cause, named as asking the passphrase", err)
	}
}

// Open on a directory that is not a home (a mistyped --home, say) says it
// holds no space and writes nothing into it.
func TestOpen_NotAHomeStaysUntouched(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		h, err := home.Open(dir, home.Options{Keeper: home.NoKeeper()})
		if err == nil {
			h.Close()
		}
		if !errors.Is(err, trustsync.ErrNotInitialized) {
			t.Fatalf("Open: %v, want ErrNotInitialized", err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "notes.txt" {
		t.Errorf("after Open the directory holds %v, want only notes.txt", names)
	}
}

// A stored configuration that does not read says it is damaged in words,
// not in the JSON decoder's ("Go struct field", "invalid character").
func TestHome_Config_Damaged(t *testing.T) {
	ctx := context.Background()
	tests := []struct{ name, stored, why string }{
		{"not JSON", "garbage", "it is not JSON"},
		{"mdns of the wrong type", `{"listen":["/ip4/127.0.0.1/tcp/0"],"mdns":"yes"}`, `its field "mdns" holds a string`},
		{"listen of the wrong type", `{"listen":"/ip4/127.0.0.1/tcp/0"}`, `its field "listen" holds a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := create(t, false, home.NoKeeper())
			h, err := home.Open(dir, home.Options{Keeper: home.NoKeeper()})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if err := h.Store().Update(ctx, func(tx trustsync.Tx) error {
				return tx.Put(home.ConfigKey, []byte(tt.stored))
			}); err != nil {
				t.Fatal(err)
			}
			_, err = h.Config(ctx)
			var damaged *trustsync.DamagedError
			if !errors.As(err, &damaged) || damaged.Why != tt.why {
				t.Fatalf("Config: %v, want a DamagedError because %q", err, tt.why)
			}
		})
	}
}

// Several encrypted Creates of one home at the same moment (two 'init
// --encrypt' run at once): one wins, the others say the home is already
// set up, and the home opens with the winner's passphrase.
func TestCreate_EncryptedConcurrent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	const n = 3
	errs := make(chan error, n)
	for i := range n {
		go func() {
			h, err := home.Create(dir, home.CreateOptions{
				Options: home.Options{Keeper: home.NoKeeper(), Passphrase: []byte(pass)},
				Name:    fmt.Sprint("Alex ", i), Encrypt: true, KDF: fastKDF,
				Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true,
			})
			if err == nil {
				err = h.Close()
			}
			errs <- err
		}()
	}
	won := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			won++
		case !errors.Is(err, trustsync.ErrAlreadyInitialized):
			t.Errorf("a losing Create: %v, want ErrAlreadyInitialized", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d Creates succeeded, want 1", won)
	}
	h, err := home.Open(dir, home.Options{Keeper: home.NoKeeper(), Passphrase: []byte(pass)})
	if err != nil {
		t.Fatalf("Open after the Creates: %v", err)
	}
	h.Close()
}

// An empty list of listen addresses never means every interface: for one
// node it is refused, and a stored configuration without any gets the
// default addresses, whose ports are then kept.
func TestHome_StartNode_EmptyListen(t *testing.T) {
	ctx := context.Background()
	dir := create(t, false, home.NoKeeper())
	h, err := home.Open(dir, home.Options{Keeper: home.NoKeeper()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	n, err := h.StartNode(ctx, home.NodeOptions{Listen: []string{}, NoMDNS: true})
	if err == nil {
		n.Close()
	}
	if !errors.Is(err, trustsync.ErrInvalid) {
		t.Fatalf("StartNode with an empty Listen: %v, want ErrInvalid", err)
	}
	if err := h.SetConfig(ctx, home.Config{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := h.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Listen, " ") != strings.Join(home.DefaultListen, " ") {
		t.Fatalf("Config after storing no addresses: %v, want the default %v", cfg.Listen, home.DefaultListen)
	}
}

func TestLockUnlock_OnAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := home.Lock(file, home.Options{Keeper: home.NoKeeper()}); !errors.Is(err, home.ErrNotDir) {
		t.Errorf("Lock on a file: %v, want ErrNotDir", err)
	}
	if _, err := home.Unlock(file, home.Options{Keeper: home.NoKeeper(), Passphrase: []byte(pass)}); !errors.Is(err, home.ErrNotDir) {
		t.Errorf("Unlock on a file: %v, want ErrNotDir", err)
	}
}

func TestDefaultDir_NilGetenv(t *testing.T) {
	t.Setenv("TRUSTSYNC_HOME", filepath.Join(t.TempDir(), "from-env"))
	got, err := home.DefaultDir(nil)
	if err != nil || got != os.Getenv("TRUSTSYNC_HOME") {
		t.Fatalf("DefaultDir(nil) = %q, %v; want the process's TRUSTSYNC_HOME %q", got, err, os.Getenv("TRUSTSYNC_HOME"))
	}
}
