package home_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/home"
)

// TestCreate_KDF checks that a key derivation cost the derivation cannot use,
// or that a header could not be read back with, is refused before anything
// is made, instead of crashing or making a home that never opens again.
func TestCreate_KDF(t *testing.T) {
	for _, tc := range []struct {
		name string
		kdf  home.KDFParams
		ok   bool
	}{
		{"no threads", home.KDFParams{Time: 1, MemoryKiB: 64}, false},
		{"no passes", home.KDFParams{MemoryKiB: 64, Threads: 1}, false},
		{"too little memory", home.KDFParams{Time: 1, MemoryKiB: 4, Threads: 1}, false},
		{"all set", home.KDFParams{Time: 1, MemoryKiB: 8, Threads: 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "home")
			opts := home.Options{Passphrase: []byte(pass), Keeper: home.NoKeeper()}
			h, err := home.Create(dir, home.CreateOptions{Options: opts, Name: "Alex", Encrypt: true, NoMDNS: true, KDF: tc.kdf})
			if !tc.ok {
				if !errors.Is(err, trustsync.ErrInvalid) {
					t.Fatalf("Create = %v, want an error wrapping trustsync.ErrInvalid", err)
				}
				if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a refused Create left %s behind (stat: %v)", dir, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			h.Close()
			h, err = home.Open(dir, opts)
			if err != nil {
				t.Fatalf("the new home does not open: %v", err)
			}
			h.Close()
		})
	}
}

// TestCreate_PassphraseWithoutEncrypt checks that a passphrase given
// without Encrypt is refused, before anything is made, rather than leave
// the developer believing the new home is encrypted.
func TestCreate_PassphraseWithoutEncrypt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	_, err := home.Create(dir, home.CreateOptions{
		Options: home.Options{Passphrase: []byte(pass), Keeper: home.NoKeeper()},
		Name:    "Alex", NoMDNS: true,
	})
	if !errors.Is(err, trustsync.ErrInvalid) {
		t.Fatalf("Create = %v, want an error wrapping trustsync.ErrInvalid", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused Create left %s behind (stat: %v)", dir, err)
	}
}

// TestHome_SetJournalPassphrase_KDF checks the same for the journal's own
// passphrase: refused, and the journal keeps opening without one.
func TestHome_SetJournalPassphrase_KDF(t *testing.T) {
	ctx := context.Background()
	h, err := home.Open(create(t, false, home.NoKeeper()), home.Options{Keeper: home.NoKeeper()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	err = h.SetJournalPassphrase(ctx, []byte(pass), home.KDFParams{Time: 1, MemoryKiB: 64})
	if !errors.Is(err, trustsync.ErrInvalid) {
		t.Fatalf("SetJournalPassphrase = %v, want an error wrapping trustsync.ErrInvalid", err)
	}
	if h.JournalHasPassphrase() {
		t.Fatal("the refused passphrase was set")
	}
	j, err := h.OpenJournal(ctx, home.JournalOptions{})
	if err != nil {
		t.Fatalf("the journal no longer opens without a passphrase: %v", err)
	}
	j.Close()
}
