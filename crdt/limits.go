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
// before anything is written. They are generous for what each field is
// for, and they keep what one device asks of its partner's device bounded:
// every character written is merged, checked, stored and shown there, and
// Automerge holds about 1.2 KB of memory per character of Text while the
// partner's device checks a document (a note of a million characters took
// about 2 GB and 50 s). A month's check-in document holding a note at the
// limit every day (300,000 characters) is checked in about half a GiB,
// under the checker's memory limit (docs/RELIABILITY.md).
//
// A modified client can still put longer text into a document; the memory
// limit of the child process that checks received bytes refuses what it
// cannot check.
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
	// entry's note, and what was felt about a setback: about 1,600 words.
	MaxNoteLen = 10000
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
