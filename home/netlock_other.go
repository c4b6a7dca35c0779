//go:build !unix

package home

// NetworkLockFile is the file in a home that the one process of the home
// that is online holds locked while it is (on systems with flock(2)).
const NetworkLockFile = "network.lock"

// LockNetwork does nothing where flock(2) is not available: two processes
// of one home going online at once is then not prevented.
func LockNetwork(dir, purpose string) (release func(), err error) {
	return func() {}, nil
}

// NetworkHolder returns nil where flock(2) is not available.
func NetworkHolder(dir string) *NetworkBusyError { return nil }
