package cli

import (
	"errors"
	"fmt"
	"os"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/home"
)

// errLocked is the refusal of every command that reads documents while the
// home is locked.
var errLocked = errors.New("this home is locked: run 'trustsync unlock'")

func (f *Factory) keeper() home.Keeper {
	if f.Keeper == nil {
		f.Keeper = home.SystemKeeper(f.Getenv)
	}
	return f.Keeper
}

var errNoPassphrase = errors.New("no passphrase given")

// passphrase returns the passphrase in the environment variable env,
// else, when prompt is allowed and standard input is a terminal, one typed
// there. It returns nil when it has none, and notes where it came from
// for the message of a wrong one.
func (f *Factory) passphrase(env, promptText string, prompt bool) ([]byte, error) {
	if p := f.Getenv(env); p != "" {
		f.passFrom = env
		return []byte(p), nil
	}
	f.passFrom = ""
	if !prompt || !f.IOStreams.StdinTTY {
		return nil, nil
	}
	p, err := f.readSecret(promptText)
	if errors.Is(err, errNoPassphrase) {
		return nil, nil
	}
	return p, err
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
const minPassphrase = home.MinPassphrase

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

// kdfParams are the Argon2id parameters of new headers. The tests of this
// package lower them through TRUSTSYNC_TEST_KDF=fast; nothing else should.
func (f *Factory) kdfParams() home.KDFParams {
	if f.Getenv("TRUSTSYNC_TEST_KDF") == "fast" {
		return home.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
	}
	return home.KDFParams{}
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
			dir, err := f.Home()
			if err != nil {
				return err
			}
			where, err := home.Unlock(dir, home.Options{
				Keeper: f.keeper(),
				AskPassphrase: func() ([]byte, error) {
					return f.passphrase("TRUSTSYNC_PASSPHRASE", "Passphrase for this home: ", true)
				},
			})
			switch {
			case errors.Is(err, home.ErrLocked):
				return failf("no passphrase: set TRUSTSYNC_PASSPHRASE, or run 'trustsync unlock' on a terminal")
			case errors.Is(err, home.ErrNowhereToKeep):
				return &userError{msg: "this machine has no keyring and no runtime directory ($XDG_RUNTIME_DIR) to keep the key in, so the home stays locked: every command asks for the passphrase or reads TRUSTSYNC_PASSPHRASE", err: err}
			case err != nil:
				return f.lockError(err, dir)
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
			dir, err := f.Home()
			if err != nil {
				return err
			}
			r, err := home.Lock(dir, home.Options{Keeper: f.keeper()})
			switch {
			case errors.Is(err, home.ErrStillKept):
				return &userError{msg: "the key is still kept on this machine after forgetting it (the keyring did not delete it), so this home is still unlocked: try 'trustsync lock' again, or delete the trustsync entry from your keyring", err: err}
			case errors.Is(err, home.ErrNotEncrypted), errors.Is(err, trustsync.ErrNotInitialized), errors.Is(err, home.ErrNotDir):
				return f.lockError(err, dir)
			case err != nil:
				var header *home.HeaderError
				if errors.As(err, &header) {
					return f.lockError(err, dir)
				}
				cause := err // the keeper's own error, without "lock: "
				if u := errors.Unwrap(err); u != nil {
					cause = u
				}
				return &userError{msg: fmt.Sprintf("cannot forget the key (%s), so this home is still unlocked on this machine", oneLine(cause.Error())), err: err}
			}
			w := f.IOStreams.ErrOut
			switch {
			case !r.CanKeep:
				fmt.Fprintln(w, "Nothing to forget: this machine has nowhere to keep the key, so this home was never unlocked here. Every command asks for the passphrase or reads TRUSTSYNC_PASSPHRASE.")
			case r.Forgot:
				fmt.Fprintln(w, "Locked. Run 'trustsync unlock' to use this home again.")
			default:
				fmt.Fprintln(w, "Already locked: no key of this home was kept on this machine. Run 'trustsync unlock' to use it again.")
			}
			if r.Online != nil {
				what := "another trustsync command"
				if r.Online.Purpose != "" {
					what = "'trustsync " + r.Online.Purpose + "'"
				}
				fmt.Fprintf(w, "But %s (pid %s) still holds the key in memory and can read this home until it stops: stop it to lock the home fully.\n", what, busyPID(r.Online))
			}
			if f.Getenv("TRUSTSYNC_PASSPHRASE") != "" {
				fmt.Fprintln(w, "TRUSTSYNC_PASSPHRASE is set in this environment: commands run with it still open this home.")
			}
			return nil
		},
	}
}

// lockError explains a failure of lock or unlock.
func (f *Factory) lockError(err error, dir string) error {
	if errors.Is(err, home.ErrNotEncrypted) {
		return &userError{msg: "this home is not encrypted, so there is nothing to lock or unlock (encryption is chosen at 'trustsync init --encrypt')", err: err}
	}
	return f.homeError(err, dir)
}

// tellEncrypted keeps the new home's key when the machine has somewhere to
// keep it, and tells the user how locking works.
func (f *Factory) tellEncrypted(h *home.Home) {
	w := f.IOStreams.ErrOut
	if where, err := h.KeepKey(); err == nil {
		fmt.Fprintf(w, "Everything in it is encrypted; it is unlocked now (key kept in %s). Run 'trustsync lock' when you step away.\n", where)
		return
	}
	fmt.Fprintln(w, "Everything in it is encrypted. This machine has nowhere to keep the key unlocked, so every command will ask for the passphrase or read TRUSTSYNC_PASSPHRASE.")
}
