// Package amwire reads Automerge's binary change and sync-message formats
// without applying them, so that a device can check what a peer sent
// before it touches a document.
//
// automerge-go exposes a change's hash, actor, sequence number, time and
// message, but not its operations, and it cannot decode a sync message
// without applying it. This package is a small, pure-Go parser for both
// formats: [ParseChange] and [ParseChanges] read change chunks (as
// automerge.Change.Save and automerge.SaveChanges write them) into a
// [Change] listing every [Op] (the object and key it edits, its action and
// value, and the operations it overwrites), and [ParseSyncMessage] reads a
// sync message (as automerge.SyncMessage.Bytes writes it) into its heads,
// needs, "have" entries and changes.
//
// # Hostile input
//
// Every input is treated as hostile. The parser never panics, checks each
// count against the bytes left before it allocates, stops inflating at the
// size [Limits] allows, and bounds the number of changes, operations,
// actors and the size of each value. Errors name the part that is wrong, for
// example `amwire: change: op column "action": ...`, and wrap [ErrMalformed],
// [ErrChecksum], [ErrUnsupported] or [ErrLimit] so that callers can tell a
// damaged input from one that is merely too big. Column types the parser
// does not know are skipped, as Automerge skips them; a construct that
// changes the meaning of a change (an unknown action, a deflated column, an
// unknown chunk or message type) is an error.
//
// Results never alias the input: byte slices and strings are copies.
//
// # What it does not read
//
// Document chunks (type 0), bundles (type 3) and whole-document sync
// messages (type 0x43) are refused with [ErrUnsupported]; the automerge-go
// we use sends none of them in a sync. It writes changes only in the plain
// form, but Automerge loads deflated changes too, so they are read as well.
// Each change entry of a sync message must be exactly one change chunk.
// The parser checks the format, not the history: whether an operation's
// predecessors or objects exist is for the caller to judge against its
// document.
//
// docs/CRDT.md, "The Automerge formats", describes the bytes it reads.
package amwire
