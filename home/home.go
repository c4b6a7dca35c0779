package home

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"time"
	"unicode/utf8"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/keys"
	"github.com/trustsync/trustsync/journal"
	"github.com/trustsync/trustsync/store"
	tsync "github.com/trustsync/trustsync/sync"
)

// Options configure [Open]. The zero value opens a home without
// encryption, or an encrypted one that is unlocked on this machine.
type Options struct {
	// Passphrase opens an encrypted home whose key the Keeper does not
	// keep. Default: none.
	Passphrase []byte
	// AskPassphrase is called, at most once, when the home is encrypted,
	// its key is not kept and Passphrase is empty: a command asks at a
	// terminal there. Returning an empty passphrase and no error means
	// there is none: Open fails with [ErrLocked]. Default: nil (none).
	AskPassphrase func() ([]byte, error)
	// Keeper keeps the data key of an unlocked home between runs. Default:
	// [SystemKeeper] of the process's environment, which Open of an
	// encrypted home asks first, even when Passphrase is set; pass
	// [NoKeeper] to keep the system keyring out of it. A home without
	// encryption never uses it.
	Keeper Keeper
	// Now is the clock of the space and the journal. Default: time.Now.
	Now func() time.Time
	// Logger receives the warnings of the store, the space and the nodes
	// the home starts. Default: discard.
	Logger *slog.Logger
}

func (o *Options) fill() {
	if o.Keeper == nil {
		o.Keeper = SystemKeeper(os.Getenv)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Home is an open home directory: its store and space, opened once, and
// what goes with them. Close it when done. Its methods are safe for
// concurrent use.
type Home struct {
	dir   string
	opts  Options
	key   []byte // the data key of an encrypted home; nil without encryption
	disk  *store.Disk
	st    trustsync.Store // disk, or disk encrypted
	space *crdt.Space

	mu     stdsync.Mutex
	nodes  []*tsync.Node
	closed bool
}

// The labels of the keys derived from a home's data key. The journal's key
// differs from the shared store's, so one never opens the other.
const (
	labelHomeStore = "trustsync home store"
	labelJournal   = "trustsync journal"
	labelChunkKey  = "trustsync home chunk check"
)

// Open opens the home in dir: its store (encrypted when the home is) and
// its space. It creates nothing and fails with an error wrapping
//
//   - [trustsync.ErrNotInitialized] when dir does not exist or holds no space;
//   - a [*trustsync.DamagedError] when the database lost its space while
//     the home keeps signs of having been set up (a journal, an encryption
//     header): running [Create] there would start a new space beside them;
//   - [fs.ErrPermission] when a file of the home may not be read or written;
//   - [ErrNotDir], [ErrLocked], [ErrWrongPassphrase], a [*HeaderError], or
//     the store's own errors ([store.ErrWrongKey], [trustsync.ErrBusy], ...).
func Open(dir string, opts Options) (*Home, error) {
	opts.fill()
	dir, err := absDir(dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("open %s: %w", dir, trustsync.ErrNotInitialized)
	case err != nil:
		return nil, fmt.Errorf("open home: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("open home %s: %w", dir, ErrNotDir)
	}
	// No database: nothing to open, and nothing is written into a
	// directory that is not a home.
	if _, err := os.Stat(filepath.Join(dir, store.FileName)); errors.Is(err, fs.ErrNotExist) {
		return nil, lostSpace(dir, fmt.Errorf("open %s: %w", dir, trustsync.ErrNotInitialized))
	}
	key, err := dataKey(dir, opts)
	if err != nil {
		return nil, err
	}
	h := &Home{dir: dir, opts: opts, key: key}
	if err := h.openStore(); err != nil {
		return nil, err
	}
	sp, err := crdt.Open(context.Background(), h.st, h.spaceOptions())
	if errors.Is(err, trustsync.ErrNotInitialized) {
		err = lostSpace(dir, err)
	}
	if err != nil {
		h.st.Close()
		return nil, err
	}
	h.space = sp
	return h, nil
}

// CreateOptions are what [Create] needs to make a new home.
type CreateOptions struct {
	// Options are used as by [Open]; Passphrase is the new home's
	// passphrase, and is given only with Encrypt: a passphrase without
	// Encrypt is refused rather than make a home that is not encrypted.
	Options
	// Name is the partner's name, as the other partner will see it.
	// Required.
	Name string
	// Device names this device. Default: the host name, followed by the
	// home directory's name unless that is "trustsync" ("laptop-alex"), so
	// that two homes on one machine are told apart.
	Device string
	// Encrypt encrypts everything in the home under Options.Passphrase,
	// which needs at least [MinPassphrase] characters. The key is not kept:
	// call [Home.KeepKey] to keep the new home unlocked.
	Encrypt bool
	// Listen are the addresses the device listens on when it goes online.
	// Default: [DefaultListen]. A port 0 is picked by the system the first
	// time the device listens, then kept.
	Listen []string
	// NoMDNS turns off discovery of the partner's devices on the local
	// network. Default: on.
	NoMDNS bool
	// KDF is the cost of deriving a key from the passphrase. Default (the
	// zero value): the recommended cost, 3 passes over 64 MiB with 2
	// threads; lower it only in tests.
	KDF KDFParams
}

// KDFParams are the Argon2id parameters of a new encryption header. The
// zero value means the recommended cost; any other value must set all
// three fields, or Create fails with an error wrapping
// [trustsync.ErrInvalid]. The parameters are stored in the header, so a
// home opens with the cost it was made with.
type KDFParams struct {
	// Time is the number of passes over the memory; at least 1.
	Time uint32
	// MemoryKiB is the memory used, in KiB; at least 8.
	MemoryKiB uint32
	// Threads is the degree of parallelism; at least 1.
	Threads uint8
}

// MinPassphrase is the fewest characters a new passphrase may have. A home
// made with a shorter one (by an earlier version) still opens.
const MinPassphrase = 8

// CheckNewPassphrase returns an error wrapping [ErrShortPassphrase] when p
// has fewer than [MinPassphrase] characters.
func CheckNewPassphrase(p []byte) error {
	if n := utf8.RuneCount(p); n < MinPassphrase {
		return fmt.Errorf("new passphrase of %d characters, want at least %d: %w", n, MinPassphrase, ErrShortPassphrase)
	}
	return nil
}

// Create makes a new home in dir (created with mode 0700 when missing) and
// opens it. It fails with an error wrapping
// [trustsync.ErrAlreadyInitialized] when dir already holds a space, and
// changes nothing then. A name, device name or listen address it refuses
// (an error wrapping [trustsync.ErrInvalid]) is refused before anything is
// written, so a corrected Create on the same dir starts afresh.
func Create(dir string, opts CreateOptions) (*Home, error) {
	opts.fill()
	if strings.TrimSpace(opts.Name) == "" {
		return nil, fmt.Errorf("create home: a name is required: %w", trustsync.ErrInvalid)
	}
	if !opts.Encrypt && len(opts.Passphrase) > 0 {
		return nil, fmt.Errorf("create home: a passphrase was given but not Encrypt: set Encrypt to encrypt the home under it, or give none: %w", trustsync.ErrInvalid)
	}
	if err := crdt.CheckNames(opts.Name, opts.Device); err != nil {
		return nil, fmt.Errorf("create home: %w", err)
	}
	listen := opts.Listen
	if len(listen) == 0 {
		listen = append([]string(nil), DefaultListen...)
	}
	for _, a := range listen {
		if err := CheckListenAddr(a); err != nil {
			return nil, fmt.Errorf("create home: %w", err)
		}
	}
	dir, err := absDir(dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("create home %s: %w", dir, ErrNotDir)
	}
	h := &Home{dir: dir, opts: opts.Options}
	if opts.Encrypt {
		if _, err := os.Stat(filepath.Join(dir, store.FileName)); err == nil {
			return nil, fmt.Errorf("create home %s: encryption is set up only on a new home: %w", dir, trustsync.ErrAlreadyInitialized)
		}
		if err := CheckNewPassphrase(opts.Passphrase); err != nil {
			return nil, fmt.Errorf("create home: %w", err)
		}
		if err := opts.KDF.check(); err != nil {
			return nil, fmt.Errorf("create home: %w", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create home: %w", err)
		}
		_, key, err := keys.Create(dir, opts.Passphrase, opts.KDF.params())
		if errors.Is(err, fs.ErrExist) {
			// Another Create of this home, at the same moment, was first.
			return nil, fmt.Errorf("create home %s: encryption is set up only on a new home: %w", dir, trustsync.ErrAlreadyInitialized)
		}
		if err != nil {
			return nil, fmt.Errorf("create home: %w", err)
		}
		h.key = key
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create home: %w", err)
		}
		if h.key, err = dataKey(dir, opts.Options); err != nil {
			return nil, err
		}
	}
	if err := h.openStore(); err != nil {
		return nil, err
	}
	ctx := context.Background()
	sp, err := crdt.Create(ctx, h.st, crdt.CreateOptions{
		Options:    h.spaceOptions(),
		MemberName: strings.TrimSpace(opts.Name),
		DeviceName: deviceName(opts.Device, dir),
	})
	if err != nil {
		h.st.Close()
		return nil, fmt.Errorf("create home %s: %w", dir, err)
	}
	h.space = sp
	if err := h.SetConfig(ctx, Config{Listen: listen, MDNS: !opts.NoMDNS}); err != nil {
		h.Close()
		return nil, fmt.Errorf("create home: save the device configuration: %w", err)
	}
	return h, nil
}

// check refuses parameters that the key derivation cannot use, or that a
// header could not be read back with.
func (p KDFParams) check() error {
	if p == (KDFParams{}) || (p.Time >= 1 && p.MemoryKiB >= 8 && p.Threads >= 1) {
		return nil
	}
	return fmt.Errorf("key derivation cost %+v: want Time and Threads at least 1 and MemoryKiB at least 8, or the zero value for the recommended cost: %w", p, trustsync.ErrInvalid)
}

func (p KDFParams) params() keys.Params {
	if p == (KDFParams{}) {
		return keys.DefaultParams
	}
	return keys.Params{Time: p.Time, MemoryKiB: p.MemoryKiB, Threads: p.Threads}
}

func absDir(dir string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("open home: no directory given: %w", trustsync.ErrInvalid)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("open home %s: %w", dir, err)
	}
	return abs, nil
}

// openStore opens the SQLite store with the home's chunk key, wrapped with
// the store key of an encrypted home.
func (h *Home) openStore() error {
	d, err := store.Open(h.dir, store.Options{ChunkKey: chunkKey(h.dir, h.key), Logger: h.opts.Logger})
	if err != nil {
		return err
	}
	h.disk, h.st = d, d
	if h.key == nil {
		return nil
	}
	enc, err := store.Encrypt(context.Background(), d, keys.Derive(h.key, labelHomeStore))
	if err != nil {
		d.Close()
		return fmt.Errorf("open store: %w", err)
	}
	h.st = enc
	return nil
}

func (h *Home) spaceOptions() crdt.Options {
	return crdt.Options{Now: h.opts.Now, Logger: h.opts.Logger}
}

// lostSpace tells a home that was never set up (err, unchanged) from one
// whose database lost its space -- emptied, truncated to 0 bytes, or
// replaced -- while the home keeps other signs of having been set up: an
// encryption header or a journal.
func lostSpace(dir string, err error) error {
	var signs []string
	for _, sign := range []struct{ name, what string }{
		{keys.HeaderFile, "an encryption header (" + keys.HeaderFile + ")"},
		{journal.Dir, "a journal"},
	} {
		if _, serr := os.Stat(filepath.Join(dir, sign.name)); serr == nil {
			signs = append(signs, sign.what)
		}
	}
	if len(signs) == 0 {
		return err
	}
	return fmt.Errorf("open space: %w", &trustsync.DamagedError{
		What: "the database " + filepath.Join(dir, store.FileName),
		Why:  "it is empty, although this home was set up: it has " + strings.Join(signs, " and "),
		Hint: "restore it from a backup, or move the home aside, make a new one with 'trustsync init' and pair it with your partner to get your shared data back",
	})
}

// Dir returns the home's directory, as an absolute path.
func (h *Home) Dir() string { return h.dir }

// Store returns the home's store (encrypted when the home is).
func (h *Home) Store() trustsync.Store { return h.st }

// Space returns the home's space.
func (h *Home) Space() *crdt.Space { return h.space }

// Encrypted reports whether the home is encrypted at rest.
func (h *Home) Encrypted() bool { return h.key != nil }

// Close stops the nodes the home started, then closes the space and the
// store. It is safe to call more than once.
func (h *Home) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	nodes := h.nodes
	h.nodes = nil
	h.mu.Unlock()
	var errs []error
	for _, n := range nodes {
		errs = append(errs, n.Close())
	}
	if h.space != nil {
		errs = append(errs, h.space.Close())
	}
	errs = append(errs, h.st.Close())
	return errors.Join(errs...)
}

// DefaultDir returns where a device keeps its home when none is given, read
// from the environment through getenv: TRUSTSYNC_HOME, else
// $XDG_DATA_HOME/trustsync (when XDG_DATA_HOME is an absolute path), else
// ~/.local/share/trustsync. It does not check that the directory exists.
// A nil getenv reads the process's environment.
func DefaultDir(getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if dir := getenv("TRUSTSYNC_HOME"); dir != "" {
		return filepath.Abs(dir)
	}
	if xdg := getenv("XDG_DATA_HOME"); xdg != "" && filepath.IsAbs(xdg) {
		return filepath.Join(xdg, "trustsync"), nil
	}
	h := getenv("HOME")
	if h == "" {
		var err error
		if h, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("find the home directory: %w", err)
		}
	}
	return filepath.Abs(filepath.Join(h, ".local", "share", "trustsync"))
}

// deviceName is the name given, trimmed, else [defaultDeviceName].
func deviceName(given, dir string) string {
	if given = strings.TrimSpace(given); given != "" {
		return given
	}
	return defaultDeviceName(dir)
}

// defaultDeviceName names a device after its host, and after its home's
// directory too unless that is the usual "trustsync": two homes on one
// machine ("laptop-alex", "laptop-sam") are then told apart in 'devices'
// and 'unpair'.
func defaultDeviceName(home string) string {
	host, _ := os.Hostname()
	host = strings.TrimSpace(host)
	if host == "" {
		host = "device"
	}
	dir := strings.Trim(filepath.Base(home), ". \t")
	if dir == "" || dir == "trustsync" || dir == string(filepath.Separator) {
		return host
	}
	if r := []rune(dir); len(r) > 32 {
		dir = string(r[:32])
	}
	name := host + "-" + dir
	if crdt.CheckText("the device name", name, true) != nil {
		return host
	}
	return name
}
