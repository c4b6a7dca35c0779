package trustsync

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound is returned when no item, document or key has the given ID.
var ErrNotFound = errors.New("not found")

// ErrAmbiguous is returned when an abbreviated ID matches more than one item.
// The error is an [*AmbiguousIDError] that lists the candidates.
var ErrAmbiguous = errors.New("ambiguous ID")

// ErrInvalid is returned for input that can never be stored as given: empty
// text, a mood outside 1..5, an ID prefix shorter than [MinIDPrefix].
var ErrInvalid = errors.New("invalid input")

// ErrNotInitialized is returned when a home holds no space yet.
var ErrNotInitialized = errors.New("not initialised")

// ErrAlreadyInitialized is returned when creating a space in a home that
// already holds one.
var ErrAlreadyInitialized = errors.New("already initialised")

// ErrReadOnly is returned by every write to a document written by a newer
// major schema version than this build understands. Reading still works.
var ErrReadOnly = errors.New("read-only: written by a newer version of trustsync")

// ErrDamaged is returned when stored bytes fail their checksum or cannot be
// decoded. The error is a [*DamagedError] naming what is damaged.
var ErrDamaged = errors.New("damaged data")

// ErrBusy is returned when another process held the store for longer than the
// store's busy timeout.
var ErrBusy = errors.New("store busy")

// ErrNoSpace is returned when a write failed because the disk holding the
// store is full. Nothing of that write was kept; it can be tried again once
// space is freed.
var ErrNoSpace = errors.New("no space left on the disk")

// ErrCheckUnavailable is returned when bytes that must be checked before
// this process loads them could not be checked: stored chunks of a document
// (someone who can write the home, or a bug, can store bytes that abort the
// process), a sync message or a document from a peer. The check runs in a
// child process; this error means the child could not be started or did not
// answer, most often for lack of a resource (open files, processes, memory).
// Nothing was loaded, applied or stored: the operation can be tried again,
// and works once the child can start. What needs no check (listings, history,
// documents already loaded) keeps working. The error is a
// [*CheckUnavailableError] naming what could not be checked and why.
var ErrCheckUnavailable = errors.New("cannot check the data before loading it")

// ErrForged is returned when a change received from another device fails
// its signature or a write rule: it is not signed by a verified device, or
// it writes what its author may not write (an agreement, acknowledgement or
// answer in the other partner's name). Nothing of the message that carried
// it is applied. The error is a *crdt.RefusedChangeError naming the change,
// its claimed author and the reason.
var ErrForged = errors.New("refused change")

// ErrClosed is returned by any call on a closed space, store or node.
var ErrClosed = errors.New("closed")

// MinIDPrefix is the shortest abbreviation of an ID accepted on input.
const MinIDPrefix = 6

// AmbiguousIDError reports an abbreviated ID that matches several items.
type AmbiguousIDError struct {
	Prefix     string
	Candidates []string
}

func (e *AmbiguousIDError) Error() string {
	return fmt.Sprintf("ID %q matches %d items (%s): type more of it",
		e.Prefix, len(e.Candidates), strings.Join(e.Candidates, ", "))
}

// Unwrap returns [ErrAmbiguous].
func (e *AmbiguousIDError) Unwrap() error { return ErrAmbiguous }

// DamagedError reports stored data that failed verification. Intact data next
// to it is kept and still readable; What says which piece is damaged and Hint
// how to recover.
type DamagedError struct {
	What string // for example `chunk 17 of document "boundaries"`
	Why  string // for example "checksum mismatch"
	Hint string // for example "sync with your partner's device to restore what is missing"
}

func (e *DamagedError) Error() string {
	msg := e.What + " is damaged"
	if e.Why != "" {
		msg += " (" + e.Why + ")"
	}
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

// Unwrap returns [ErrDamaged].
func (e *DamagedError) Unwrap() error { return ErrDamaged }

// CheckUnavailableError reports bytes that were not loaded because they
// could not be checked first (see [ErrCheckUnavailable]).
type CheckUnavailableError struct {
	What string // for example `document "boundaries"`; empty for checks in general
	Why  string // for example "starting the checker: pipe2: too many open files"
}

func (e *CheckUnavailableError) Error() string {
	msg := ErrCheckUnavailable.Error()
	if e.What != "" {
		msg = e.What + ": " + msg
	}
	if e.Why != "" {
		msg += " (" + e.Why + ")"
	}
	return msg
}

// Unwrap returns [ErrCheckUnavailable].
func (e *CheckUnavailableError) Unwrap() error { return ErrCheckUnavailable }
