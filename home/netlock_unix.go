//go:build unix

package home

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/trustsync/trustsync"
)

// NetworkLockFile is the file in a home that the one process of the home
// that is online holds locked while it is.
const NetworkLockFile = "network.lock"

// LockNetwork makes sure that only one process of the home in dir talks to
// other devices at a time: every node of a home listens under the device's
// one peer ID, and two at once would take turns being reachable. It takes
// an exclusive flock(2) on the home's network.lock, which the kernel
// releases when the process ends however it ends, and writes the process
// ID and purpose (a word such as "serve") into it for the error a second
// process gets: a [*NetworkBusyError]. A home that does not exist fails
// with an error wrapping [trustsync.ErrNotInitialized]. Call release when
// the node is closed.
func LockNetwork(dir, purpose string) (release func(), err error) {
	dir, err = absDir(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open %s: %w", dir, trustsync.ErrNotInitialized)
	}
	path := filepath.Join(dir, NetworkLockFile)
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the network of the home: %w", err)
	}
	err = flock(file)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		busy := readHolder(file)
		file.Close()
		return nil, busy
	}
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := file.Truncate(0); err == nil {
		_, _ = file.WriteAt([]byte(fmt.Sprintf("%d %s\n", os.Getpid(), purpose)), 0)
	}
	return func() { file.Close() }, nil
}

// NetworkHolder returns the process online for the home in dir (holding
// its network lock), or nil when none is. It takes no lock that outlives
// the call.
func NetworkHolder(dir string) *NetworkBusyError {
	file, err := os.Open(filepath.Join(dir, NetworkLockFile))
	if err != nil {
		return nil
	}
	defer file.Close()
	err = flock(file)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return readHolder(file)
	}
	return nil // free (the lock taken here ends with Close), or unknown
}

func flock(file *os.File) error {
	for {
		err := syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// readHolder reads what the holder wrote in the lock file ("PID PURPOSE").
func readHolder(file *os.File) *NetworkBusyError {
	b := make([]byte, 128)
	n, _ := file.ReadAt(b, 0)
	pid, purpose, _ := strings.Cut(strings.TrimSpace(string(b[:n])), " ")
	p, err := strconv.Atoi(pid)
	if err != nil || p <= 0 {
		p = 0
	}
	return &NetworkBusyError{PID: p, Purpose: purpose}
}
