package keys

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/zalando/go-keyring"
)

// ErrNotKept is returned by [Keeper.Get] when no key is kept under an ID:
// the directory is locked.
var ErrNotKept = errors.New("no key kept")

// ErrNowhere is returned by [Keeper.Put] when the keeper has nowhere safe to
// keep a key: no keyring answered and there is no runtime directory.
var ErrNowhere = errors.New("no keyring and no runtime directory to keep the key in")

// Keyring is what a [Keeper] needs of an operating system keyring.
// [OSKeyring] is the real one.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// OSKeyring is the operating system's keyring, through
// github.com/zalando/go-keyring.
type OSKeyring struct{}

func (OSKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (OSKeyring) Set(service, user, secret string) error   { return keyring.Set(service, user, secret) }
func (OSKeyring) Delete(service, user string) error        { return keyring.Delete(service, user) }

// keyringService is the service name of trustsync's keyring entries; the
// user name is the header's ID.
const keyringService = "trustsync"

// keyringTimeout bounds every keyring call: a keyring that hangs (a locked
// Secret Service waiting for a prompt nobody sees) counts as absent.
const keyringTimeout = 5 * time.Second

// Keeper keeps data keys between commands while a directory is unlocked.
// The zero value keeps nothing.
type Keeper struct {
	// Keyring is tried first. Nil: no keyring.
	Keyring Keyring
	// RuntimeDir is where key files go (created with mode 0700) when the
	// keyring is absent or fails. It should be in memory. "": none.
	RuntimeDir string
}

// SystemKeeper returns the keeper of this machine, read from the
// environment:
//
//   - the OS keyring, unless TRUSTSYNC_KEYRING=off (or 0, false, no, in
//     any case). On Linux and the BSDs
//     it is tried only when DBUS_SESSION_BUS_ADDRESS is set, so a headless
//     machine never starts a D-Bus daemon to ask;
//   - $XDG_RUNTIME_DIR/trustsync when XDG_RUNTIME_DIR is an absolute path
//     to a directory, else /run/user/UID/trustsync when /run/user/UID is
//     one (both are memory file systems emptied at logout on systemd
//     machines).
func SystemKeeper(getenv func(string) string) *Keeper {
	k := &Keeper{}
	switch strings.ToLower(strings.TrimSpace(getenv("TRUSTSYNC_KEYRING"))) {
	case "off", "0", "false", "no":
		// Never the keyring: the same words as TRUSTSYNC_MDNS=off.
	default:
		switch runtime.GOOS {
		case "darwin", "windows":
			k.Keyring = OSKeyring{}
		default:
			if getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
				k.Keyring = OSKeyring{}
			}
		}
	}
	for _, dir := range []string{getenv("XDG_RUNTIME_DIR"), "/run/user/" + strconv.Itoa(os.Getuid())} {
		if !filepath.IsAbs(dir) || runtime.GOOS == "windows" {
			continue
		}
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			k.RuntimeDir = filepath.Join(dir, "trustsync")
			break
		}
	}
	return k
}

// CanKeep reports whether the keeper has anywhere to keep a key, without
// trying.
func (k *Keeper) CanKeep() bool { return k != nil && (k.Keyring != nil || k.RuntimeDir != "") }

// Put keeps key under id and says where: "the system keyring" or the path
// of a key file. It tries the keyring first and falls back to the runtime
// directory when the keyring fails; with neither it returns an error
// wrapping [ErrNowhere].
func (k *Keeper) Put(id string, key []byte) (string, error) {
	secret := hex.EncodeToString(key)
	var errs []error
	if k.Keyring != nil {
		err := withTimeout(func() error { return k.Keyring.Set(keyringService, id, secret) })
		if err == nil {
			// A key file left from an earlier unlock would outlive a lock
			// that only cleared the keyring; never keep two copies.
			k.removeFile(id)
			return "the system keyring", nil
		}
		errs = append(errs, fmt.Errorf("keyring: %w", err))
	}
	if k.RuntimeDir != "" {
		path, err := k.putFile(id, secret)
		if err == nil {
			return path, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("keep key: %w", errors.Join(append([]error{ErrNowhere}, errs...)...))
}

// Get returns the key kept under id, or an error wrapping [ErrNotKept].
func (k *Keeper) Get(id string) ([]byte, error) {
	if k.Keyring != nil {
		var s string
		err := withTimeout(func() (err error) { s, err = k.Keyring.Get(keyringService, id); return err })
		if err == nil {
			if key, err := hex.DecodeString(s); err == nil && len(key) == KeySize {
				return key, nil
			}
		}
	}
	if k.RuntimeDir != "" {
		b, err := os.ReadFile(k.filePath(id))
		if err == nil {
			if key, err := hex.DecodeString(string(b)); err == nil && len(key) == KeySize {
				return key, nil
			}
		}
	}
	return nil, ErrNotKept
}

// Delete forgets the key kept under id, in the keyring and in the runtime
// directory. Forgetting a key that is not kept is not an error.
func (k *Keeper) Delete(id string) error {
	var errs []error
	if k.Keyring != nil {
		err := withTimeout(func() error { return k.Keyring.Delete(keyringService, id) })
		if err != nil && !errors.Is(err, keyring.ErrNotFound) && !errors.Is(err, errKeyringTimeout) {
			// A keyring that is not there holds nothing to delete.
			if k.RuntimeDir == "" {
				errs = append(errs, fmt.Errorf("keyring: %w", err))
			}
		}
	}
	if err := k.removeFile(id); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("forget key: %w", errors.Join(errs...))
	}
	return nil
}

func (k *Keeper) filePath(id string) string { return filepath.Join(k.RuntimeDir, id+".key") }

func (k *Keeper) putFile(id, secret string) (string, error) {
	if err := os.MkdirAll(k.RuntimeDir, 0o700); err != nil {
		return "", err
	}
	fi, err := os.Stat(k.RuntimeDir)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is open to other users (mode %v): not keeping a key there", k.RuntimeDir, fi.Mode().Perm())
	}
	path := k.filePath(id)
	tmp, err := os.CreateTemp(k.RuntimeDir, "."+id+".*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.WriteString(secret); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}

func (k *Keeper) removeFile(id string) error {
	if k.RuntimeDir == "" {
		return nil
	}
	err := os.Remove(k.filePath(id))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

var errKeyringTimeout = errors.New("the keyring did not answer")

// withTimeout runs a keyring call, giving up after keyringTimeout. A call
// that hangs is left behind: the process is a short command.
func withTimeout(fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	t := time.NewTimer(keyringTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return errKeyringTimeout
	}
}
