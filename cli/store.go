package cli

import (
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// openDiskStore opens the SQLite store of a home directory.
func openDiskStore(dir string) (trustsync.Store, error) {
	return store.Open(dir, store.Options{})
}
