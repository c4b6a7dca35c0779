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
	"github.com/trustsync/trustsync/internal/keys"
	"github.com/trustsync/trustsync/journal"
	"github.com/trustsync/trustsync/store"
)

// Factory gives commands what they share: the streams, the environment, and
// -- opened lazily, once, on first use -- the home directory, its store and
// its space. A command that needs none of them (help, completion) touches
// no file. Close releases whatever was opened.
//
// Commands that sync (serve, sync, pair) take the same Factory: Space gives
// them the [crdt.Space] to hand to the sync layer and Config the listen
// addresses. Nothing here starts networking.
type Factory struct {
	IOStreams *IOStreams
	// Getenv reads the environment. Default: os.Getenv.
	Getenv func(string) string
	// Now is the clock for relative times. Default: time.Now.
	Now func() time.Time
	// OpenStore opens (creating when missing) the store of a home
	// directory. Default (nil): the SQLite store of package store, with
	// the home's chunk key (store.go).
	OpenStore func(dir string) (trustsync.Store, error)
	// HomeFlag is the value of the --home flag, "" when not given.
	HomeFlag string
	// Keeper keeps the key of an unlocked encrypted home between commands.
	// Default: keys.SystemKeeper on Getenv (see lock.go).
	Keeper *keys.Keeper
	// ReadSecret asks for a passphrase without echo. Default: read the
	// terminal behind IOStreams.In (see lock.go).
	ReadSecret func(prompt string) ([]byte, error)

	home  string
	store trustsync.Store
	space *crdt.Space
	key   []byte // the data key of an encrypted home, once known
}

// NewFactory returns a Factory for the given streams, reading the process's
// environment and opening the SQLite store.
func NewFactory(ios *IOStreams) *Factory {
	return &Factory{
		IOStreams: ios,
		Getenv:    os.Getenv,
		Now:       time.Now,
	}
}

// Home returns the home directory of this device, as an absolute path:
// --home, else TRUSTSYNC_HOME, else $XDG_DATA_HOME/trustsync, else
// ~/.local/share/trustsync. It does not check that the directory exists.
func (f *Factory) Home() (string, error) {
	if f.home != "" {
		return f.home, nil
	}
	dir := f.HomeFlag
	if dir == "" {
		dir = f.Getenv("TRUSTSYNC_HOME")
	}
	if dir == "" {
		if xdg := f.Getenv("XDG_DATA_HOME"); xdg != "" && filepath.IsAbs(xdg) {
			dir = filepath.Join(xdg, "trustsync")
		}
	}
	if dir == "" {
		home := f.Getenv("HOME")
		if home == "" {
			var err error
			if home, err = os.UserHomeDir(); err != nil {
				return "", failf("cannot tell where to keep the data (%v): give --home DIR or set TRUSTSYNC_HOME", err)
			}
		}
		dir = filepath.Join(home, ".local", "share", "trustsync")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", failf("cannot use %s as home: %v", dir, err)
	}
	f.home = abs
	return abs, nil
}

// Store returns the store of an initialised home. When the home directory
// does not exist it fails with an error wrapping
// [trustsync.ErrNotInitialized] and creates nothing.
func (f *Factory) Store(ctx context.Context) (trustsync.Store, error) {
	if f.store != nil {
		return f.store, nil
	}
	home, err := f.Home()
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(home)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open %s: %w", home, trustsync.ErrNotInitialized)
	}
	if errors.Is(err, fs.ErrPermission) {
		return nil, permissionError(err, home)
	}
	if err != nil {
		return nil, failf("cannot read %s: %v", home, err)
	}
	if !fi.IsDir() {
		return nil, failf("%s is a file, not a directory: give --home DIR with a directory", home)
	}
	return f.openStore(ctx, home)
}

// createStore makes the home directory, private to its owner, and opens a
// store in it. Only init calls it.
func (f *Factory) createStore(ctx context.Context) (trustsync.Store, error) {
	home, err := f.Home()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, failf("cannot make %s: %v", home, err)
	}
	return f.openStore(ctx, home)
}

func (f *Factory) openStore(ctx context.Context, home string) (trustsync.Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key, err := f.homeKey(home) // lock.go: nil for a home without encryption
	if err != nil {
		return nil, err
	}
	var st trustsync.Store
	if f.OpenStore != nil {
		st, err = f.OpenStore(home)
	} else {
		st, err = openHomeStore(home, key)
	}
	if err == nil && key != nil {
		st, err = encryptStore(ctx, st, key)
	}
	if err != nil {
		var user *userError
		if errors.As(err, &user) || errors.Is(err, trustsync.ErrDamaged) ||
			errors.Is(err, trustsync.ErrBusy) || errors.Is(err, trustsync.ErrReadOnly) ||
			errors.Is(err, trustsync.ErrNoSpace) {
			return nil, err
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, permissionError(err, home)
		}
		return nil, failf("cannot open the data in %s (%s): check that it is a trustsync home, or restore it from a backup", home, oneLine(stripSentinel(err, trustsync.ErrInvalid)))
	}
	f.store = st
	return st, nil
}

// Space opens the space of this home once and returns it.
func (f *Factory) Space(ctx context.Context) (*crdt.Space, error) {
	if f.space != nil {
		return f.space, nil
	}
	st, err := f.Store(ctx)
	if err != nil {
		return nil, err
	}
	sp, err := crdt.Open(ctx, st, f.spaceOptions())
	if errors.Is(err, trustsync.ErrNotInitialized) {
		err = f.lostSpace(err)
	}
	if err != nil {
		return nil, err
	}
	f.space = sp
	return sp, nil
}

// lostSpace tells a home that was never set up (err, unchanged) from one
// whose database lost its space -- emptied, truncated to 0 bytes, or
// replaced -- while the home keeps other signs of having been set up: an
// encryption header or a journal. Running init there would start a new
// space beside the old journal, so it says the database is damaged.
func (f *Factory) lostSpace(err error) error {
	home, herr := f.Home()
	if herr != nil {
		return err
	}
	var signs []string
	for _, sign := range []struct{ name, what string }{
		{keys.HeaderFile, "an encryption header (" + keys.HeaderFile + ")"},
		{journal.Dir, "a journal"},
	} {
		if _, serr := os.Stat(filepath.Join(home, sign.name)); serr == nil {
			signs = append(signs, sign.what)
		}
	}
	if len(signs) == 0 {
		return err
	}
	return fmt.Errorf("open space: %w", &trustsync.DamagedError{
		What: "the database " + filepath.Join(home, store.FileName),
		Why:  "it is empty, although this home was set up: it has " + strings.Join(signs, " and "),
		Hint: "restore it from a backup, or move the home aside, make a new one with 'trustsync init' and pair it with your partner to get your shared data back",
	})
}

// Config returns this device's stored network configuration with the
// environment's overrides (TRUSTSYNC_LISTEN, TRUSTSYNC_MDNS=off) applied.
func (f *Factory) Config(ctx context.Context) (Config, error) {
	st, err := f.Store(ctx)
	if err != nil {
		return Config{}, err
	}
	cfg, err := loadConfig(ctx, st)
	if err != nil {
		return Config{}, err
	}
	cfg, err = applyEnv(cfg, f.Getenv)
	if err != nil {
		return Config{}, &userError{msg: err.Error(), err: err}
	}
	return cfg, nil
}

func (f *Factory) spaceOptions() crdt.Options {
	return crdt.Options{Now: f.Now}
}

// Close closes the space and the store if they were opened. Safe to call
// more than once.
func (f *Factory) Close() error {
	var errs []error
	if f.space != nil {
		errs = append(errs, f.space.Close())
		f.space = nil
	}
	if f.store != nil {
		errs = append(errs, f.store.Close())
		f.store = nil
	}
	return errors.Join(errs...)
}
