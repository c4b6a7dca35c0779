package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/internal/keys"
	"github.com/trustsync/trustsync/store"
)

// Factory gives commands what they share: the streams, the environment, and
// -- opened lazily, once, on first use, through package [home] -- the home
// directory with its store and space. A command that needs none of them
// (help, completion) touches no file. Close releases whatever was opened.
//
// Commands that sync (serve, sync, pair) take the same Factory: StartNode
// starts the home's node with the environment's overrides applied.
type Factory struct {
	IOStreams *IOStreams
	// Getenv reads the environment. Default: os.Getenv.
	Getenv func(string) string
	// Now is the clock for relative times. Default: time.Now.
	Now func() time.Time
	// HomeFlag is the value of the --home flag, "" when not given.
	HomeFlag string
	// Keeper keeps the key of an unlocked encrypted home between commands.
	// Default: home.SystemKeeper on Getenv.
	Keeper home.Keeper
	// ReadSecret asks for a passphrase without echo. Default: read the
	// terminal behind IOStreams.In (see lock.go).
	ReadSecret func(prompt string) ([]byte, error)

	dir      string
	home     *home.Home
	passFrom string // where the last passphrase came from: an environment variable, or "" when typed
}

// NewFactory returns a Factory for the given streams, reading the process's
// environment.
func NewFactory(ios *IOStreams) *Factory {
	return &Factory{
		IOStreams: ios,
		Getenv:    os.Getenv,
		Now:       time.Now,
	}
}

// Home returns the home directory of this device, as an absolute path:
// --home, else what [home.DefaultDir] finds in the environment
// (TRUSTSYNC_HOME, $XDG_DATA_HOME/trustsync, ~/.local/share/trustsync). It
// does not check that the directory exists.
func (f *Factory) Home() (string, error) {
	if f.dir != "" {
		return f.dir, nil
	}
	var dir string
	var err error
	if f.HomeFlag != "" {
		dir, err = filepath.Abs(f.HomeFlag)
	} else {
		dir, err = home.DefaultDir(f.Getenv)
	}
	if err != nil {
		return "", failf("cannot tell where to keep the data (%v): give --home DIR or set TRUSTSYNC_HOME", err)
	}
	f.dir = dir
	return dir, nil
}

// options are the home options of this command: its keeper, clock and
// passphrase prompt.
func (f *Factory) options() home.Options {
	return home.Options{
		Keeper: f.keeper(),
		Now:    f.Now,
		AskPassphrase: func() ([]byte, error) {
			return f.passphrase("TRUSTSYNC_PASSPHRASE", "Passphrase for this home: ", !f.keeper().CanKeep())
		},
	}
}

// open opens the home once. When the home directory does not exist it
// fails with an error wrapping [trustsync.ErrNotInitialized] and creates
// nothing.
func (f *Factory) open(ctx context.Context) (*home.Home, error) {
	if f.home != nil {
		return f.home, nil
	}
	dir, err := f.Home()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, err := home.Open(dir, f.options())
	if err != nil {
		return nil, f.homeError(err, dir)
	}
	f.home = h
	return h, nil
}

// Store returns the store of an initialised home.
func (f *Factory) Store(ctx context.Context) (trustsync.Store, error) {
	h, err := f.open(ctx)
	if err != nil {
		return nil, err
	}
	return h.Store(), nil
}

// Space returns the space of an initialised home.
func (f *Factory) Space(ctx context.Context) (*crdt.Space, error) {
	h, err := f.open(ctx)
	if err != nil {
		return nil, err
	}
	return h.Space(), nil
}

// homeError turns an error of package home into the line a user reads.
func (f *Factory) homeError(err error, dir string) error {
	var (
		user   *userError
		header *home.HeaderError
	)
	switch {
	case errors.As(err, &user):
		return err
	case errors.Is(err, home.ErrLocked):
		if f.keeper().CanKeep() {
			return &userError{msg: errLocked.Error(), err: err}
		}
		return &userError{msg: "this home is encrypted and this machine has nowhere to keep its key unlocked: set TRUSTSYNC_PASSPHRASE, or run the command on a terminal to type the passphrase", err: err}
	case errors.Is(err, home.ErrWrongPassphrase):
		if f.passFrom != "" {
			return &userError{msg: "the passphrase in " + f.passFrom + " is wrong: nothing was read or changed", err: err}
		}
		return &userError{msg: "wrong passphrase: nothing was read or changed", err: err}
	case errors.As(err, &header):
		if filepath.Base(filepath.Dir(header.Path)) == "journal" {
			return &userError{msg: oneLine(err.Error()) + ": restore it from a backup", err: err}
		}
		return &userError{msg: fmt.Sprintf("%v: restore %s from a backup", oneLine(err.Error()), keys.HeaderFile), err: err}
	case errors.Is(err, home.ErrNotDir):
		return failf("%s is a file, not a directory: give --home DIR with a directory", dir)
	case errors.Is(err, store.ErrWrongKey):
		return &userError{msg: "the key does not open this home's data (was " + keys.HeaderFile + " replaced?): nothing was changed", err: err}
	case errors.Is(err, store.ErrNotEncrypted):
		return &userError{msg: "this home holds data written without encryption next to an encryption header: move " + keys.HeaderFile + " aside to read it", err: err}
	case errors.Is(err, trustsync.ErrNotInitialized), errors.Is(err, trustsync.ErrDamaged),
		errors.Is(err, trustsync.ErrBusy), errors.Is(err, trustsync.ErrReadOnly),
		errors.Is(err, trustsync.ErrNoSpace), errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, fs.ErrPermission):
		return permissionError(err, dir)
	case strings.HasPrefix(err.Error(), "open store"):
		return failf("cannot open the data in %s (%s): check that it is a trustsync home, or restore it from a backup", dir, oneLine(stripSentinel(err, trustsync.ErrInvalid)))
	case strings.HasPrefix(err.Error(), "open home"):
		return failf("cannot read %s: %v", dir, oneLine(err.Error()))
	}
	return err
}

// Config returns this device's stored network configuration with the
// environment's overrides (TRUSTSYNC_LISTEN, TRUSTSYNC_MDNS=off) applied.
func (f *Factory) Config(ctx context.Context) (Config, error) {
	h, err := f.open(ctx)
	if err != nil {
		return Config{}, err
	}
	cfg, err := h.Config(ctx)
	if err != nil {
		return Config{}, err
	}
	cfg, err = applyEnv(cfg, f.Getenv)
	if err != nil {
		return Config{}, &userError{msg: err.Error(), err: err}
	}
	return cfg, nil
}

// Close closes the home if it was opened. Safe to call more than once.
func (f *Factory) Close() error {
	if f.home == nil {
		return nil
	}
	err := f.home.Close()
	f.home = nil
	return err
}
