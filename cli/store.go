package cli

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/internal/keys"
	"github.com/trustsync/trustsync/store"
)

// ChunkKeyFile is the file, in a home without encryption, holding the key
// under which the store marks the chunks it wrote (see openHomeStore). An
// encrypted home derives that key from its data key instead and has no such
// file.
const ChunkKeyFile = "chunk.key"

// labelChunkKey is the label of the chunk key derived from an encrypted
// home's data key.
const labelChunkKey = "trustsync home chunk check"

// openHomeStore opens the SQLite store of a home with its chunk key, so that
// chunks this device checked or wrote before storing them are not checked
// again every time a command loads them (docs/DESIGN.md, "Chunks checked
// once"). dataKey is the data key of an encrypted home, nil otherwise.
func openHomeStore(home string, dataKey []byte) (trustsync.Store, error) {
	return store.Open(home, store.Options{ChunkKey: homeChunkKey(home, dataKey)})
}

// homeChunkKey returns the chunk key of a home: derived from the data key
// of an encrypted home, else read from ChunkKeyFile, which is made (32
// random bytes, mode 0600) on first use. When the file can neither be read
// nor made it returns nil, and the store checks every chunk as it did
// before keys: the key saves work, it is never needed.
func homeChunkKey(home string, dataKey []byte) []byte {
	if dataKey != nil {
		return keys.Derive(dataKey, labelChunkKey)
	}
	path := filepath.Join(home, ChunkKeyFile)
	if k, err := os.ReadFile(path); err == nil && len(k) == keys.KeySize {
		return k
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	// Missing or not a key: write a new one. Chunks marked under a key
	// that is gone are checked again, as without a key.
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil
	}
	k, err := writeChunkKey(home, path)
	if err != nil {
		return nil
	}
	return k
}

// writeChunkKey writes a new random key to path, or reads the one another
// process wrote first. The key is complete on disk before it takes the
// name: it is written to a temporary file, synced and linked into place
// (or renamed over a file that is not a key).
func writeChunkKey(home, path string) ([]byte, error) {
	k := make([]byte, keys.KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(home, ChunkKeyFile+".*.tmp") // mode 0600
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
