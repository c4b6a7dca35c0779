package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/internal/showtext"
	"github.com/trustsync/trustsync/store"
)

// Exit codes of the trustsync command.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the command ran and failed, or the library refused
	ExitUsage   = 2 // wrong usage: unknown flag or command, bad flag value, wrong arguments
)

// UsageError is wrong usage of a command: an unknown flag or command, a
// missing or extra argument, a flag value out of range. It exits with
// [ExitUsage] and points to the command's help.
type UsageError struct {
	Err error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// usageErrorf makes a [UsageError].
func usageErrorf(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// userError is a failure whose message is written for the person at the
// terminal: what went wrong and what to do. It keeps the error it explains,
// so errors.Is still sees the library's sentinels.
type userError struct {
	msg string
	err error
}

func (e *userError) Error() string { return e.msg }
func (e *userError) Unwrap() error { return e.err }

// failf makes a failure with a message for the user.
func failf(format string, a ...any) error {
	return &userError{msg: fmt.Sprintf(format, a...)}
}

// errSilent ends a command with [ExitFailure] after it has already told the
// user why.
var errSilent = errors.New("silent failure")

// lookupError explains a failed lookup of an item by ID. kind names what was
// looked up ("boundary", "goal or step", "check-in") and listCmd is the
// command that shows the IDs.
func lookupError(err error, kind, id, listCmd string) error {
	if err == nil {
		return nil
	}
	var amb *trustsync.AmbiguousIDError
	switch {
	case errors.As(err, &amb):
		return &userError{
			msg: fmt.Sprintf("ID %q could mean %d %s items (%s): type more of the ID",
				amb.Prefix, len(amb.Candidates), kind, strings.Join(amb.Candidates, ", ")),
			err: err,
		}
	case errors.Is(err, trustsync.ErrNotFound):
		return &userError{
			msg: fmt.Sprintf("no %s with ID %q: see '%s'", kind, id, listCmd),
			err: err,
		}
	}
	return err
}

// checkIDArg refuses an ID shorter than [trustsync.MinIDPrefix] before the
// library is asked, with a message that says how long it must be.
func checkIDArg(id string) error {
	if len([]rune(strings.TrimSpace(id))) < trustsync.MinIDPrefix {
		return &userError{
			msg: fmt.Sprintf("ID %q is too short: give at least %d characters of it", id, trustsync.MinIDPrefix),
			err: trustsync.ErrInvalid,
		}
	}
	return nil
}

// ErrorLine turns any error of a command into the one line the user sees on
// standard error, without the "trustsync: " prefix, and the exit code.
// home is the data directory in use, for messages that name it.
func ErrorLine(err error, home string) (string, int) {
	var (
		usage     *UsageError
		user      *userError
		damaged   *trustsync.DamagedError
		amb       *trustsync.AmbiguousIDError
		unchecked *trustsync.CheckUnavailableError
	)
	code := ExitFailure
	var msg string
	switch {
	case errors.As(err, &usage):
		code = ExitUsage
		msg = err.Error()
	case errors.As(err, &user):
		msg = user.msg
	case errors.Is(err, context.Canceled):
		msg = "interrupted: nothing was left half-written"
	case errors.Is(err, fs.ErrPermission):
		msg = permissionLine(err, home)
	case errors.Is(err, trustsync.ErrNotInitialized):
		msg = fmt.Sprintf("no space in %s: run 'trustsync init --name NAME' first", home)
	case errors.Is(err, trustsync.ErrAlreadyInitialized):
		msg = fmt.Sprintf("%s already holds a space: use it as it is, or give another --home for a second device", home)
	case errors.As(err, &damaged):
		msg = damaged.Error()
	case errors.Is(err, trustsync.ErrDamaged):
		msg = fmt.Sprintf("the data in %s is damaged (%s): restore it from a backup, or make a new home with 'trustsync init' and sync it with your partner", home, stripSentinel(err, trustsync.ErrDamaged))
	case errors.As(err, &amb):
		msg = amb.Error()
	case errors.Is(err, trustsync.ErrNotFound):
		msg = stripSentinel(err, trustsync.ErrNotFound)
	case errors.Is(err, trustsync.ErrBusy):
		msg = fmt.Sprintf("another trustsync process is busy with %s: try again in a moment", home)
	case errors.Is(err, trustsync.ErrNoSpace):
		msg = fmt.Sprintf("no space left on the disk holding %s: free some space, then try again; nothing was changed", home)
	case errors.As(err, &unchecked):
		msg = uncheckedLine(unchecked)
	case errors.Is(err, trustsync.ErrCheckUnavailable):
		msg = uncheckedLine(&trustsync.CheckUnavailableError{Why: err.Error()})
	case errors.Is(err, trustsync.ErrReadOnly):
		msg = "this space was written by a newer version of trustsync, so this one can only read it: update trustsync"
	case errors.Is(err, trustsync.ErrInvalid):
		msg = stripSentinel(err, trustsync.ErrInvalid)
	default:
		msg = err.Error()
	}
	return oneLine(msg), code
}

// uncheckedLine explains data that was not loaded because the process
// that checks it first could not run: nothing changed, and what to do.
func uncheckedLine(e *trustsync.CheckUnavailableError) string {
	what := "the data"
	if e.What != "" {
		what = e.What
	}
	why := ""
	if e.Why != "" {
		why = " (" + e.Why + ")"
	}
	return fmt.Sprintf("cannot load %s safely right now: the process that checks data before it is loaded could not run%s; nothing was changed: raise the open-file limit (ulimit -n) or free memory, then try again", what, why)
}

// permissionLine explains a file of the home this user may not read or
// write: the usual cause is running trustsync as another user (sudo), or
// a home copied with the wrong owner. It is never a damaged home.
func permissionLine(err error, home string) string {
	if errors.Is(err, store.ErrNotWritable) {
		return fmt.Sprintf("permission denied writing the data in %s (its database is read-only to this user): run trustsync as the user who owns it, or make it writable again", home)
	}
	return fmt.Sprintf("permission denied reading %s: run trustsync as the user who owns it", home)
}

// permissionError is a failure to read or write a file of the home because
// of its permissions, with the line [ErrorLine] gives it.
func permissionError(err error, home string) error {
	return &userError{msg: permissionLine(err, home), err: err}
}

// stripSentinel removes the text of a sentinel that err wraps (": invalid
// input") and the package prefix of the library ("crdt: "), leaving what the
// library said about the input itself.
func stripSentinel(err, sentinel error) string {
	s := err.Error()
	if t := strings.TrimSuffix(s, ": "+sentinel.Error()); t != s && t != "" {
		s = t
	}
	for _, p := range []string{"crdt: ", "store: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

// oneLine folds a message onto a single line.
func oneLine(s string) string { return showtext.OneLine(s) }
