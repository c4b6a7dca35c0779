package home

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/internal/keys"
)

// Keeper keeps the data keys of unlocked homes between runs, under the ID
// of each home's encryption header. [SystemKeeper] returns the machine's.
type Keeper interface {
	// Put keeps key under id and says where it went.
	Put(id string, key []byte) (where string, err error)
	// Get returns the key kept under id, or an error when none is.
	Get(id string) ([]byte, error)
	// Delete forgets the key kept under id; forgetting a key that is not
	// kept is not an error.
	Delete(id string) error
	// CanKeep reports whether the keeper has anywhere to keep a key.
	CanKeep() bool
}

// SystemKeeper returns the keeper of this machine, configured from the
// environment read by getenv: the operating system's keyring (unless
// TRUSTSYNC_KEYRING=off; on Linux only when DBUS_SESSION_BUS_ADDRESS is
// set), else a file of mode 0600 in $XDG_RUNTIME_DIR/trustsync or
// /run/user/UID/trustsync, memory file systems emptied at logout.
func SystemKeeper(getenv func(string) string) Keeper {
	return keys.SystemKeeper(getenv)
}

// NoKeeper returns a keeper that keeps nothing: every [Open] of an
// encrypted home then needs the passphrase.
func NoKeeper() Keeper { return &keys.Keeper{} }

// header reads the encryption header of dir; it returns nil, nil for a
// home without encryption.
func header(dir string) (*keys.Header, error) {
	hd, err := keys.ReadHeader(dir)
	switch {
	case errors.Is(err, keys.ErrNotEncrypted):
		return nil, nil
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("open home: %w", err)
	case err != nil:
		return nil, &HeaderError{Path: filepath.Join(dir, keys.HeaderFile), Err: err}
	}
	return hd, nil
}

// dataKey returns the data key of an encrypted home, from the keeper, else
// from the passphrase of opts; nil for a home without encryption.
func dataKey(dir string, opts Options) ([]byte, error) {
	hd, err := header(dir)
	if hd == nil || err != nil {
		return nil, err
	}
	if k, err := opts.Keeper.Get(hd.ID); err == nil && hd.Check(k) {
		return k, nil
	}
	p, err := passphrase(opts)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("open %s: %w", dir, ErrLocked)
	}
	return openHeader(hd, p)
}

func passphrase(opts Options) ([]byte, error) {
	if len(opts.Passphrase) > 0 || opts.AskPassphrase == nil {
		return opts.Passphrase, nil
	}
	p, err := opts.AskPassphrase()
	if err != nil {
		return nil, fmt.Errorf("ask the passphrase: %w", err)
	}
	return p, nil
}

func openHeader(hd *keys.Header, p []byte) ([]byte, error) {
	k, err := hd.Open(p)
	if errors.Is(err, keys.ErrWrongPassphrase) {
		return nil, fmt.Errorf("open encryption header: %w", ErrWrongPassphrase)
	}
	if err != nil {
		return nil, fmt.Errorf("open encryption header: %w", err)
	}
	return k, nil
}

// Unlock checks a passphrase of the encrypted home in dir (opts.Passphrase,
// else opts.AskPassphrase) and keeps the home's key in opts.Keeper, so that
// [Open] needs no passphrase until [Lock]. It says where the key went. It
// does not open the store. It fails with an error wrapping
// [ErrNotEncrypted], [ErrLocked] (no passphrase), [ErrWrongPassphrase] or
// [ErrNowhereToKeep].
func Unlock(dir string, opts Options) (where string, err error) {
	opts.fill()
	hd, err := encryptedHeader(dir)
	if err != nil {
		return "", err
	}
	p, err := passphrase(opts)
	if err != nil {
		return "", err
	}
	if len(p) == 0 {
		return "", fmt.Errorf("unlock %s: no passphrase: %w", dir, ErrLocked)
	}
	k, err := openHeader(hd, p)
	if err != nil {
		return "", err
	}
	return keep(opts.Keeper, hd.ID, k)
}

// KeepKey keeps the key of this open encrypted home in its keeper, as
// [Unlock] does, and says where. A home without encryption gives
// [ErrNotEncrypted].
func (h *Home) KeepKey() (where string, err error) {
	if h.key == nil {
		return "", fmt.Errorf("keep key: %w", ErrNotEncrypted)
	}
	hd, err := encryptedHeader(h.dir)
	if err != nil {
		return "", err
	}
	return keep(h.opts.Keeper, hd.ID, h.key)
}

func keep(k Keeper, id string, key []byte) (string, error) {
	if !k.CanKeep() {
		return "", fmt.Errorf("keep key: %w", ErrNowhereToKeep)
	}
	where, err := k.Put(id, key)
	if errors.Is(err, keys.ErrNowhere) {
		return "", fmt.Errorf("keep key: %w: %w", ErrNowhereToKeep, err)
	}
	if err != nil {
		return "", fmt.Errorf("keep key: %w", err)
	}
	return where, nil
}

// encryptedHeader reads the header of the home in dir, failing with an
// error wrapping trustsync.ErrNotInitialized when there is no home and
// ErrNotEncrypted when it has no header.
func encryptedHeader(dir string) (*keys.Header, error) {
	dir, err := absDir(dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("open home %s: %w", dir, ErrNotDir)
	}
	hd, err := header(dir)
	if err != nil {
		return nil, err
	}
	if hd == nil {
		if _, serr := os.Stat(dir); serr != nil {
			return nil, fmt.Errorf("open %s: %w", dir, trustsync.ErrNotInitialized)
		}
		return nil, fmt.Errorf("%s: %w", dir, ErrNotEncrypted)
	}
	return hd, nil
}

// LockReport says what [Lock] found and did.
type LockReport struct {
	// Forgot is set when a key of the home was kept and is now forgotten.
	Forgot bool
	// CanKeep is false when the keeper has nowhere to keep a key at all:
	// the home was never unlocked on this machine.
	CanKeep bool
	// Online is the process that is online for this home (see
	// [LockNetwork]), which holds the key in memory until it stops; nil
	// when none is.
	Online *NetworkBusyError
}

// Lock forgets the key of the encrypted home in dir that [Unlock] kept,
// then checks that the keeper no longer returns it. It fails with an error
// wrapping [ErrNotEncrypted] for a home without encryption, and with
// [ErrStillKept] (or the keeper's error) when the key could not be
// forgotten: the home is then still unlocked. The report says whether a
// key was kept at all and which process still holds it in memory.
func Lock(dir string, opts Options) (LockReport, error) {
	opts.fill()
	hd, err := encryptedHeader(dir)
	if err != nil {
		return LockReport{}, err
	}
	r := LockReport{CanKeep: opts.Keeper.CanKeep()}
	if k, err := opts.Keeper.Get(hd.ID); err == nil && len(k) > 0 {
		r.Forgot = true
	}
	if err := opts.Keeper.Delete(hd.ID); err != nil {
		return r, fmt.Errorf("lock: %w", err)
	}
	if k, err := opts.Keeper.Get(hd.ID); err == nil && len(k) > 0 {
		return r, fmt.Errorf("lock: %w", ErrStillKept)
	}
	r.Online = NetworkHolder(dir)
	return r, nil
}

// ChunkKeyFile is the file, in a home without encryption, holding the key
// under which the store marks the chunks it checked, so that they are not
// checked again each time they are loaded. An encrypted home derives that
// key from its data key instead and has no such file.
const ChunkKeyFile = "chunk.key"

// chunkKey returns the chunk key of a home: derived from the data key of
// an encrypted home, else read from ChunkKeyFile, which is made (32 random
// bytes, mode 0600) on first use. When the file can neither be read nor
// made it returns nil, and the store checks every chunk: the key saves
// work, it is never needed.
func chunkKey(dir string, dataKey []byte) []byte {
	if dataKey != nil {
		return keys.Derive(dataKey, labelChunkKey)
	}
	path := filepath.Join(dir, ChunkKeyFile)
	if k, err := os.ReadFile(path); err == nil && len(k) == keys.KeySize {
		return k
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	// Missing or not a key: write a new one. Chunks marked under a key
	// that is gone are checked again, as without a key.
	k, err := writeChunkKey(dir, path)
	if err != nil {
		return nil
	}
	return k
}

// writeChunkKey writes a new random key to path, or reads the one another
// process wrote first. The key is complete on disk before it takes the
// name: it is written to a temporary file, synced and linked into place
// (or renamed over a file that is not a key).
func writeChunkKey(dir, path string) ([]byte, error) {
	k := make([]byte, keys.KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, ChunkKeyFile+".*.tmp") // mode 0600
	if err != nil {
		return nil, err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(k); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp, path); err == nil {
		return k, nil
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	// Another process was first, or the file there is not a key.
	if got, err := os.ReadFile(path); err == nil && len(got) == keys.KeySize {
		return got, nil
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("replace %s: %w", path, err)
	}
	return k, nil
}
