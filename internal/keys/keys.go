// Package keys turns a passphrase into the key that encrypts a trustsync
// home at rest, and keeps that key between commands while the home is
// unlocked.
//
// # The header
//
// An encrypted directory holds a small plaintext file, [HeaderFile], that
// says how to get its key back: a random salt, the Argon2id parameters, and
// the directory's data key (32 random bytes) sealed with
// XChaCha20-Poly1305 under a key derived from the passphrase. Opening the
// seal is the key check: a wrong passphrase fails it, with
// [ErrWrongPassphrase], before any data is touched. Because the data key is
// random and only wrapped, changing the passphrase would rewrite the header
// alone.
//
// The data key is never used directly: [Derive] gives each use its own
// key (HKDF-SHA-256 with a label), so the shared store and the private
// journal are encrypted under different keys.
//
// # Keeping a key while unlocked
//
// A [Keeper] keeps data keys between commands: in the operating system's
// keyring when one answers (github.com/zalando/go-keyring: the Secret
// Service on Linux, the Keychain on macOS, the Credential Manager on
// Windows), else in a file of mode 0600 under the user's runtime directory
// ($XDG_RUNTIME_DIR/trustsync, else /run/user/UID/trustsync), which lives in
// memory and is emptied at logout. With neither, nothing is kept and every
// command needs the passphrase.
package keys

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// HeaderFile is the name of the plaintext header in an encrypted directory.
const HeaderFile = "encryption.json"

// KeySize is the size of data keys and derived keys, in bytes.
const KeySize = 32

// ErrWrongPassphrase is returned when a passphrase does not open a header.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// ErrNotEncrypted is returned by [ReadHeader] for a directory without a
// header.
var ErrNotEncrypted = errors.New("not encrypted")

// Params are the Argon2id parameters. The zero value means [DefaultParams].
type Params struct {
	Time      uint32 `json:"time"`       // passes over memory
	MemoryKiB uint32 `json:"memory_kib"` // memory in KiB
	Threads   uint8  `json:"threads"`
}

// DefaultParams follow RFC 9106's second recommended option (64 MiB, 3
// passes), with 2 lanes: about a quarter of a second on a laptop core.
var DefaultParams = Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}

// Header is the plaintext file that lets a passphrase open a directory's
// data key. It holds nothing secret.
type Header struct {
	Version int    `json:"version"`
	KDF     string `json:"kdf"` // "argon2id"
	Params  Params `json:"params"`
	Salt    []byte `json:"salt"`
	// ID names the key in a [Keeper]; it is random and says nothing about
	// the key.
	ID string `json:"id"`
	// KeyCheck tells whether a key is this header's data key (see
	// [Header.Check]).
	KeyCheck []byte `json:"key_check"`
	// Sealed is the data key, sealed with XChaCha20-Poly1305 under the
	// passphrase's key: a 24-byte nonce followed by the ciphertext and tag.
	Sealed []byte `json:"sealed_key"`
}

const headerVersion = 1

// Create makes a new random data key for dir, seals it under passphrase and
// writes the header (mode 0600). It refuses an empty passphrase and a
// directory that already has a header, even one written by another
// process while this one derived its key (an error wrapping fs.ErrExist).
// It returns the header and the data key.
func Create(dir string, passphrase []byte, p Params) (*Header, []byte, error) {
	if len(bytes.TrimSpace(passphrase)) == 0 {
		return nil, nil, errors.New("create encryption header: the passphrase is empty")
	}
	if p == (Params{}) {
		p = DefaultParams
	}
	path := filepath.Join(dir, HeaderFile)
	if _, err := os.Stat(path); err == nil {
		return nil, nil, fmt.Errorf("create encryption header: %s: %w", path, fs.ErrExist)
	}
	h := &Header{Version: headerVersion, KDF: "argon2id", Params: p, Salt: random(16), ID: fmt.Sprintf("%x", random(16))}
	key := random(KeySize)
	h.KeyCheck = checkValue(key, h.ID)
	kek := h.passKey(passphrase)
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, nil, err
	}
	nonce := random(chacha20poly1305.NonceSizeX)
	h.Sealed = aead.Seal(nonce, nonce, key, h.aad())
	if err := writeFile(path, h); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, nil, fmt.Errorf("create encryption header: %s was made meanwhile: %w", path, err)
		}
		return nil, nil, fmt.Errorf("create encryption header: %w", err)
	}
	return h, key, nil
}

// ReadHeader reads the header of dir. A directory without one gives an
// error wrapping [ErrNotEncrypted].
func ReadHeader(dir string) (*Header, error) {
	path := filepath.Join(dir, HeaderFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, ErrNotEncrypted)
	}
	if err != nil {
		return nil, fmt.Errorf("read encryption header: %w", err)
	}
	var h Header
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("read encryption header %s: it is damaged (not the JSON of a header)", path)
	}
	if h.Version != 0 && (h.Version != headerVersion || h.KDF != "argon2id") {
		return nil, fmt.Errorf("read encryption header %s: version %d with kdf %q is not one this trustsync reads", path, h.Version, h.KDF)
	}
	if len(h.Salt) < 16 || h.ID == "" || len(h.KeyCheck) != 16 ||
		len(h.Sealed) != chacha20poly1305.NonceSizeX+KeySize+chacha20poly1305.Overhead ||
		h.Params.Time == 0 || h.Params.MemoryKiB < 8 || h.Params.Threads == 0 {
		return nil, fmt.Errorf("read encryption header %s: it is damaged (a field is missing or out of range)", path)
	}
	return &h, nil
}

// Open derives the passphrase's key and opens the sealed data key. A wrong
// passphrase gives [ErrWrongPassphrase].
func (h *Header) Open(passphrase []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(h.passKey(passphrase))
	if err != nil {
		return nil, err
	}
	n := chacha20poly1305.NonceSizeX
	key, err := aead.Open(nil, h.Sealed[:n], h.Sealed[n:], h.aad())
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return key, nil
}

// Check reports whether key is the data key this header seals, without the
// passphrase and without Argon2id: it compares a keyed digest of the header's
// ID with the header's key check value. It is how a key kept by a [Keeper]
// is checked before use.
func (h *Header) Check(key []byte) bool {
	return len(key) == KeySize && subtle.ConstantTimeCompare(checkValue(key, h.ID), h.KeyCheck) == 1
}

// checkValue is a 16-byte digest that identifies a data key without
// revealing it.
func checkValue(key []byte, id string) []byte {
	return Derive(key, "trustsync key check "+id)[:16]
}

func (h *Header) passKey(passphrase []byte) []byte {
	return argon2.IDKey(passphrase, h.Salt, h.Params.Time, h.Params.MemoryKiB, h.Params.Threads, KeySize)
}

// aad binds the sealed key to everything else in the header, so that no
// field can be changed without the seal failing.
func (h *Header) aad() []byte {
	return fmt.Appendf(nil, "trustsync header v%d %s t=%d m=%d p=%d salt=%x id=%s check=%x",
		h.Version, h.KDF, h.Params.Time, h.Params.MemoryKiB, h.Params.Threads, h.Salt, h.ID, h.KeyCheck)
}

// Derive returns the key for one use of a data key, named by label.
func Derive(key []byte, label string) []byte {
	k, err := hkdf.Key(sha256.New, key, nil, label, KeySize)
	if err != nil {
		panic("keys: hkdf: " + err.Error()) // only for lengths this code never asks
	}
	return k
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

// writeFile writes v as JSON to path atomically, with mode 0600. It never
// replaces a file already at path: that fails with fs.ErrExist.
func writeFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// A link, not a rename: of two processes creating the same header
	// at once, the second fails (fs.ErrExist) instead of replacing the
	// header the first one already encrypts with.
	return os.Link(tmp.Name(), path)
}
