package home

import (
	"errors"
	"fmt"
)

// ErrLocked is returned by [Open] for an encrypted home whose key is not
// kept (see [Unlock]) when no passphrase was given.
var ErrLocked = errors.New("home is locked")

// ErrWrongPassphrase is returned when a passphrase does not open the
// encryption header of a home or of its journal. Nothing was read or
// changed.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// ErrNotEncrypted is returned by [Lock] and [Unlock] for a home without
// encryption: there is no key to keep or forget.
var ErrNotEncrypted = errors.New("home is not encrypted")

// ErrNowhereToKeep is returned by [Unlock] and [Home.KeepKey] when the
// [Keeper] has nowhere to keep a key: no keyring and no runtime directory.
var ErrNowhereToKeep = errors.New("nowhere to keep the key")

// ErrNotDir is returned by [Open], [Create], [Lock] and [Unlock] when the
// home path is a file.
var ErrNotDir = errors.New("not a directory")

// ErrShortPassphrase is returned by [Create] and
// [Home.SetJournalPassphrase] for a new passphrase of fewer than
// [MinPassphrase] characters.
var ErrShortPassphrase = errors.New("passphrase too short")

// ErrJournalLocked is returned by [Home.OpenJournal] when the journal has a
// passphrase of its own and none was given.
var ErrJournalLocked = errors.New("journal has a passphrase of its own")

// ErrStillKept is returned by [Lock] when the key is still kept after it
// was forgotten: the keyring did not delete it, or did not answer. The
// home stays unlocked.
var ErrStillKept = errors.New("the key is still kept")

// ErrOnline is returned by [Home.StartNode] while a node it started earlier
// for the same home still runs: a device is online through one node at a
// time, since every node of a home has the device's one peer ID. Close the
// running node first, or keep using it.
var ErrOnline = errors.New("this home already has a node online")

// HeaderError reports an encryption header that exists but cannot be read
// or is not one this version reads. Its message is the reader's own.
type HeaderError struct {
	Path string // the header file
	Err  error
}

func (e *HeaderError) Error() string { return e.Err.Error() }

// Unwrap returns the error of the read.
func (e *HeaderError) Unwrap() error { return e.Err }

// NetworkBusyError is returned by [LockNetwork] when another process of
// the same home is online.
type NetworkBusyError struct {
	PID     int    // the process holding the lock; 0 when unknown
	Purpose string // what it said it does ("serve", "sync", ...); "" when unknown
}

func (e *NetworkBusyError) Error() string {
	pid := "unknown"
	if e.PID > 0 {
		pid = fmt.Sprint(e.PID)
	}
	if e.Purpose != "" {
		return fmt.Sprintf("another process (pid %s, %s) is online for this home", pid, e.Purpose)
	}
	return fmt.Sprintf("another process (pid %s) is online for this home", pid)
}

// PortInUseError is returned by [Home.StartNode] when a listen port is
// taken by another program.
type PortInUseError struct {
	Port int
	Err  error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d is in use by another program: %v", e.Port, e.Err)
}

// Unwrap returns the error of the failed listen.
func (e *PortInUseError) Unwrap() error { return e.Err }
