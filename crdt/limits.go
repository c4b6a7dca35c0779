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

// Limits on what a device accepts from a peer, checked on receipt before
// anything is stored (rules.go). A change, sync message or document past
// one of them is refused whole with a [*RefusedChangeError] that names the
// limit. Each is far above what an honest device ever sends, however long
// its person writes: every write of this package keeps within the length
// limits above, so the largest honest change stays under MaxChangeOps:
// an apology or a check-in with every text at MaxNoteLen, written by an
// older version as Automerge Text (about 40,000 operations, one per
// character; this version writes those texts as strings, one operation
// each).
const (
	// MaxChangeOps bounds the operations of one change: 100,000, two and
	// a half times the largest honest change.
	MaxChangeOps = 100_000
	// MaxValueBytes bounds, in bytes, a string value of a field that has
	// no length limit of its own above (IDs, times written as text, a
	// check-in's feelings, a sealed answer, a device certificate, a seal
	// listing every document's heads): 64 KiB. A sealed answer at
	// MaxNoteLen is at most about 54 KiB.
	MaxValueBytes = 64 << 10
	// MaxDocObjects bounds the objects (maps and texts) of one document:
	// 1,000,000. The largest honest document, the commitments, grows by
	// at most four objects per entry (three since the entry's note is a
	// string): two people recording an entry every day for a hundred
	// years stay under 300,000.
	MaxDocObjects = 1_000_000
	// MaxReceivedChanges bounds the changes of one sync message or
	// imported document that are new to this device: 500,000, more than
	// a hundred edits a day to one document for ten years.
	MaxReceivedChanges = 500_000
)
