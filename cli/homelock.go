//go:build unix

package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// homeLockFile is the file in a home that the one networking command of the
// home holds locked while it runs.
const homeLockFile = "network.lock"

// lockHome makes sure that only one command of this home talks to other
// devices at a time: 'serve', 'sync' and 'pair' all listen under the
// device's one peer ID, and two of them at once would take turns being
// reachable, each recording its own addresses in the shared history. It
// takes an exclusive flock(2) on the home's network.lock, which the kernel
// releases when the process ends however it ends, and writes this
// process's ID and command into it for the refusal that a second command
// gets. A home that does not exist yet is left to the command's own error.
func lockHome(f *Factory, command string) (release func(), err error) {
	home, err := f.Home()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(home); errors.Is(err, os.ErrNotExist) {
		return func() {}, nil
	}
	path := filepath.Join(home, homeLockFile)
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	for {
		err = syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		b := make([]byte, 128)
		n, _ := file.ReadAt(b, 0)
		file.Close()
		return nil, homeBusy(string(b[:n]))
	}
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("cannot lock %s: %w", path, err)
	}
	if err := file.Truncate(0); err == nil {
		_, _ = file.WriteAt([]byte(fmt.Sprintf("%d %s\n", os.Getpid(), command)), 0)
	}
	return func() { file.Close() }, nil
}

// homeBusy explains which command holds the home, from what it wrote in
// the lock file ("PID COMMAND").
func homeBusy(holder string) error {
	pid, command, _ := strings.Cut(strings.TrimSpace(holder), " ")
	if _, err := strconv.Atoi(pid); err != nil {
		pid = "unknown"
	}
	switch command {
	case "serve":
		return failf("'trustsync serve' already runs for this home (pid %s): stop it first, or use it: edits you make are sent by it", pid)
	case "sync", "pair":
		return failf("'trustsync %s' already runs for this home (pid %s): wait until it ends, or stop it first", command, pid)
	}
	return failf("another trustsync command already talks to other devices for this home (pid %s): wait until it ends, or stop it first", pid)
}
