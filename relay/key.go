package relay

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// KeyFile is the file in Options.Dir that keeps the relay's identity key
// (a libp2p Ed25519 private key, protobuf-encoded, mode 0600). Its peer ID
// ends every address of the relay: keep the file, and the addresses the
// couple recorded keep working; lose it, and they must record the new ones.
const KeyFile = "relay.key"

// LoadOrCreateKey reads the relay's identity key from dir, or makes one
// and writes it there (the directory with mode 0700, the file 0600) when
// there is none yet. A key file that cannot be read as a key is an error,
// never silently replaced: the relay's address would change.
func LoadOrCreateKey(dir string) (crypto.PrivKey, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("read relay key %s: not a key (%v): restore it from a backup, or move it away to make a new one (the relay's address changes then)", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read relay key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make relay directory: %w", err)
	}
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, fmt.Errorf("make relay key: %w", err)
	}
	b, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("make relay key: %w", err)
	}
	// Written whole to a file of its own, then linked into place: two
	// relays started at once on one Dir never read half a key, and the
	// second keeps the first's.
	tmp, err := os.CreateTemp(dir, KeyFile+".*")
	if err != nil {
		return nil, fmt.Errorf("write relay key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write relay key: %w", err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write relay key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return LoadOrCreateKey(dir)
	} else if err != nil {
		return nil, fmt.Errorf("write relay key: %w", err)
	}
	return k, nil
}
