package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/internal/keys"
	"github.com/trustsync/trustsync/store"
)

// The labels of the keys derived from a home's data key. The journal's key
// differs from the shared store's, so one never opens the other.
const (
	labelHomeStore = "trustsync home store"
	labelJournal   = "trustsync journal"
)

// errLocked is the refusal of every command that reads documents while the
// home is locked.
var errLocked = errors.New("this home is locked: run 'trustsync unlock'")

func (f *Factory) keeper() *keys.Keeper {
	if f.Keeper == nil {
		f.Keeper = keys.SystemKeeper(f.Getenv)
	}
	return f.Keeper
}

// homeKey returns the data key of an encrypted home, and nil for a home
// without encryption. The key comes from the keeper while the home is
// unlocked, else from TRUSTSYNC_PASSPHRASE, else from a prompt on a
// terminal when this machine has nowhere to keep a key (so 'unlock' cannot
// help). Otherwise the home is locked and the command refused.
func (f *Factory) homeKey(home string) ([]byte, error) {
	if f.key != nil {
		return f.key, nil
	}
	h, err := keys.ReadHeader(home)
	if errors.Is(err, keys.ErrNotEncrypted) {
		return nil, nil
	}
	if errors.Is(err, fs.ErrPermission) {
		return nil, permissionError(err, home)
	}
	if err != nil {
		return nil, failf("%v: restore %s from a backup", oneLine(err.Error()), keys.HeaderFile)
	}
	if k, err := f.keeper().Get(h.ID); err == nil && h.Check(k) {
		f.key = k
		return k, nil
	}
	key, err := f.passphraseKey(h, "TRUSTSYNC_PASSPHRASE", "Passphrase for this home: ", !f.keeper().CanKeep())
	if errors.Is(err, errNoPassphrase) {
		if f.keeper().CanKeep() {
			return nil, &userError{msg: errLocked.Error(), err: errLocked}
		}
		return nil, &userError{msg: "this home is encrypted and this machine has nowhere to keep its key unlocked: set TRUSTSYNC_PASSPHRASE, or run the command on a terminal to type the passphrase", err: errLocked}
	}
	if err != nil {
		return nil, err
	}
	f.key = key
	return key, nil
}

var errNoPassphrase = errors.New("no passphrase given")

// passphraseKey opens a header with the passphrase in the environment
// variable env, else, when prompt is allowed and standard input is a
// terminal, one typed there. It returns errNoPassphrase when it has none.
func (f *Factory) passphraseKey(h *keys.Header, env, promptText string, prompt bool) ([]byte, error) {
	if p := f.Getenv(env); p != "" {
		key, err := h.Open([]byte(p))
		if errors.Is(err, keys.ErrWrongPassphrase) {
			return nil, &userError{msg: "the passphrase in " + env + " is wrong: nothing was read or changed", err: err}
		}
		return key, err
	}
	if !prompt || !f.IOStreams.StdinTTY {
		return nil, errNoPassphrase
	}
	p, err := f.readSecret(promptText)
	if err != nil {
		return nil, err
	}
	key, err := h.Open(p)
	if errors.Is(err, keys.ErrWrongPassphrase) {
		return nil, &userError{msg: "wrong passphrase: nothing was read or changed", err: err}
	}
	return key, err
}

func (f *Factory) readSecret(prompt string) ([]byte, error) {
	if f.ReadSecret != nil {
		return f.ReadSecret(prompt)
	}
	in, ok := f.IOStreams.In.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return nil, errNoPassphrase
	}
	fmt.Fprint(f.IOStreams.ErrOut, prompt)
	p, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(f.IOStreams.ErrOut)
	if err != nil {
		return nil, failf("cannot read the passphrase: %v", err)
	}
	return p, nil
}

// minPassphrase is the fewest characters a new passphrase may have, for
// the home and for the journal, typed or read from the environment. It
// applies only when a passphrase is set: a home or journal made with a
// shorter one (before the environment was held to it) still opens.
const minPassphrase = 8

// checkNewPassphrase refuses a new passphrase shorter than minPassphrase.
// from names where it came from (an environment variable), or is empty for
// a typed one; the wording is the same either way.
func checkNewPassphrase(p []byte, from string) error {
	if n := utf8.RuneCount(p); n < minPassphrase {
		msg := fmt.Sprintf("a passphrase needs at least %d characters: nothing was changed", minPassphrase)
		if from != "" {
			msg = fmt.Sprintf("the passphrase in %s has %d characters; %s", from, n, msg)
		}
		return failf("%s", msg)
	}
	return nil
}

// newPassphrase asks for a new passphrase twice, or takes it from env.
// Either way it must have minPassphrase characters.
func (f *Factory) newPassphrase(env, what string) ([]byte, error) {
	if p := f.Getenv(env); p != "" {
		if err := checkNewPassphrase([]byte(p), env); err != nil {
			return nil, err
		}
		return []byte(p), nil
	}
	if !f.IOStreams.StdinTTY {
		return nil, failf("no passphrase for %s: set %s, or run the command on a terminal to type one", what, env)
	}
	p, err := f.readSecret("New passphrase for " + what + ": ")
	if err != nil {
		return nil, err
	}
	again, err := f.readSecret("The same passphrase again: ")
	if err != nil {
		return nil, err
	}
	if string(p) != string(again) {
		return nil, failf("the two passphrases differ: nothing was changed")
	}
	if err := checkNewPassphrase(p, ""); err != nil {
		return nil, err
	}
	return p, nil
}

// encryptStore wraps a home's store with its derived key, closing it on
// failure.
func encryptStore(ctx context.Context, st trustsync.Store, key []byte) (trustsync.Store, error) {
	enc, err := store.Encrypt(ctx, st, keys.Derive(key, labelHomeStore))
	if err != nil {
		st.Close()
		if errors.Is(err, store.ErrWrongKey) {
			return nil, &userError{msg: "the key does not open this home's data (was " + keys.HeaderFile + " replaced?): nothing was changed", err: err}
		}
		if errors.Is(err, store.ErrNotEncrypted) {
			return nil, &userError{msg: "this home holds data written without encryption next to an encryption header: move " + keys.HeaderFile + " aside to read it", err: err}
		}
		return nil, err
	}
	return enc, nil
}

// setUpEncryption makes the header of a new encrypted home and keeps its
// key for the rest of the command. Only init calls it, before the store
// exists.
func (f *Factory) setUpEncryption(home string) error {
	if _, err := os.Stat(home + "/" + store.FileName); err == nil {
		return &userError{msg: fmt.Sprintf("%s already holds a space, so nothing was changed: encryption is set up only by init, on a new home", home), err: trustsync.ErrAlreadyInitialized}
	}
	p, err := f.newPassphrase("TRUSTSYNC_PASSPHRASE", "this home")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return failf("cannot make %s: %v", home, err)
	}
	_, key, err := keys.Create(home, p, f.kdfParams())
	if err != nil {
		return failf("%v", err)
	}
	f.key = key
	return nil
}

// kdfParams are the Argon2id parameters of new headers. The tests of this
// package lower them through TRUSTSYNC_TEST_KDF=fast; nothing else should.
func (f *Factory) kdfParams() keys.Params {
	if f.Getenv("TRUSTSYNC_TEST_KDF") == "fast" {
		return keys.Params{Time: 1, MemoryKiB: 64, Threads: 1}
	}
	return keys.DefaultParams
}

// keepKey keeps the home's key so that later commands need no passphrase,
// and says where.
func (f *Factory) keepKey(h *keys.Header, key []byte) (string, error) {
	where, err := f.keeper().Put(h.ID, key)
	if errors.Is(err, keys.ErrNowhere) {
		return "", &userError{msg: "this machine has no keyring and no runtime directory ($XDG_RUNTIME_DIR) to keep the key in, so the home stays locked: every command asks for the passphrase or reads TRUSTSYNC_PASSPHRASE", err: err}
	}
	return where, err
}

// NewCmdUnlock returns 'trustsync unlock'.
func NewCmdUnlock(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock",
		Short: "Keep this home's key until you lock it, so commands need no passphrase",
		Long: heredoc(`
			Ask for the passphrase of this encrypted home (or read
			TRUSTSYNC_PASSPHRASE) and keep the home's key until 'trustsync lock',
			so that other commands work without asking.

			The key is kept in the system keyring when one answers (Secret
			Service, macOS Keychain, Windows Credential Manager; TRUSTSYNC_KEYRING=off
			skips it), else in a file of mode 0600 in $XDG_RUNTIME_DIR/trustsync
			(or /run/user/UID/trustsync), which lives in memory and is emptied when
			you log out. With neither, nothing is kept: every command then asks for
			the passphrase or reads TRUSTSYNC_PASSPHRASE.

			A journal with a passphrase of its own stays locked: journal commands
			always ask for that passphrase.
		`),
		Example: examples(`
			$ trustsync unlock
			$ TRUSTSYNC_PASSPHRASE=... trustsync unlock
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			home, err := f.Home()
			if err != nil {
				return err
			}
			h, err := readHomeHeader(home)
			if err != nil {
				return err
			}
			key, err := f.passphraseKey(h, "TRUSTSYNC_PASSPHRASE", "Passphrase for this home: ", true)
			if errors.Is(err, errNoPassphrase) {
				return failf("no passphrase: set TRUSTSYNC_PASSPHRASE, or run 'trustsync unlock' on a terminal")
			}
			if err != nil {
				return err
			}
			where, err := f.keepKey(h, key)
			if err != nil {
				return err
			}
			fmt.Fprintf(f.IOStreams.ErrOut, "Unlocked. The key is kept in %s until 'trustsync lock' (or until you log out).\n", where)
			return nil
		},
	}
}

// NewCmdLock returns 'trustsync lock'.
func NewCmdLock(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "lock",
		Short: "Forget this home's key: commands refuse until you unlock",
		Long: heredoc(`
			Forget the key that 'trustsync unlock' kept, in the keyring and in the
			runtime directory. Afterwards every command that reads your data
			refuses until you run 'trustsync unlock' again (or give
			TRUSTSYNC_PASSPHRASE). A 'trustsync serve' already running keeps its
			key in memory until it stops.
		`),
		Example: examples(`
			$ trustsync lock
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			home, err := f.Home()
			if err != nil {
				return err
			}
			h, err := readHomeHeader(home)
			if err != nil {
				return err
			}
			if err := f.keeper().Delete(h.ID); err != nil {
				return failf("cannot forget the key: %v", oneLine(err.Error()))
			}
			fmt.Fprintln(f.IOStreams.ErrOut, "Locked. Run 'trustsync unlock' to use this home again.")
			return nil
		},
	}
}

func readHomeHeader(home string) (*keys.Header, error) {
	h, err := keys.ReadHeader(home)
	if errors.Is(err, keys.ErrNotEncrypted) {
		if _, serr := os.Stat(home); serr != nil {
			return nil, fmt.Errorf("open %s: %w", home, trustsync.ErrNotInitialized)
		}
		return nil, &userError{msg: "this home is not encrypted, so there is nothing to lock or unlock (encryption is chosen at 'trustsync init --encrypt')", err: err}
	}
	if err != nil {
		return nil, failf("%v", oneLine(err.Error()))
	}
	return h, nil
}

// tellEncrypted keeps the new home's key when the machine has somewhere to
// keep it, and tells the user how locking works.
func (f *Factory) tellEncrypted(home string) {
	w := f.IOStreams.ErrOut
	h, err := keys.ReadHeader(home)
	if err != nil {
		fmt.Fprintf(w, "Encrypted at rest, but the header cannot be read back: %v\n", oneLine(err.Error()))
		return
	}
	if where, err := f.keeper().Put(h.ID, f.key); err == nil {
		fmt.Fprintf(w, "Everything in it is encrypted; it is unlocked now (key kept in %s). Run 'trustsync lock' when you step away.\n", where)
		return
	}
	fmt.Fprintln(w, "Everything in it is encrypted. This machine has nowhere to keep the key unlocked, so every command will ask for the passphrase or read TRUSTSYNC_PASSPHRASE.")
}
