package crdt

import (
	"fmt"
	"unicode/utf8"

	"github.com/trustsync/trustsync"
)

// Limits on the length of the text a member gives, in characters (Unicode
// code points), counted after trimming. Every write of this package that
// takes text refuses longer input with an error wrapping
// [trustsync.ErrInvalid] that names the field, the limit and the length,
// before anything is written. The limits keep what one device asks of its
// partner's device bounded: every word written is merged, stored and shown
// there, and the largest allowed note costs the partner's device
// milliseconds, where a note of a million characters cost it seconds and
// gigabytes. They are generous for what each field is for.
//
// A modified client can still put longer text into a document; that is
// bounded by the size limits on received bytes and by the memory limit of
// the child process that checks them (docs/RELIABILITY.md).
const (
	// MaxNameLen bounds a member's or device's name and a check-in
	// feeling.
	MaxNameLen = 100
	// MaxTitleLen bounds a goal's title.
	MaxTitleLen = 200
	// MaxTextLen bounds a boundary, a question, a goal's why and its steps,
	// a commitment, a moment, a setback and its plan.
	MaxTextLen = 2000
	// MaxNoteLen bounds the longer writing: a check-in's note, needs,
	// concerns and appreciation, each part of an apology, an answer, a
	// reply to a check-in, apology or commitment entry, a commitment
	// entry's note, and what was felt about a setback.
	MaxNoteLen = 20000
)

// checkLen refuses s when it has more than max characters. what names the
// field ("the note").
func checkLen(what, s string, max int) error {
	if len(s) <= max { // at most len(s) characters
		return nil
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%s is %d characters long, more than the %d allowed: shorten it: %w", what, n, max, trustsync.ErrInvalid)
	}
	return nil
}
