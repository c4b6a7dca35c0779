package crdt

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/trustsync/trustsync"
)

// ForkError reports that bytes from a peer carry a change that claims the
// same author (Automerge actor) and the same number as a different change
// this device already holds for Doc. Automerge numbers each author's changes
// 1, 2, 3...; two different changes with one number are a fork of that
// author's history, and a document can hold only one side of it. The change
// this device received first stays; the other side, and every later change
// that builds on it, can never be merged into Doc here. Other documents are
// not affected.
//
// A fork happens when one device's home exists twice (copied to another
// machine, or restored from an older backup, and then written to in both
// places), or when the sending device runs modified software. It wraps
// [trustsync.ErrInvalid]: the bytes are refused and nothing is stored.
type ForkError struct {
	Doc    string // the document whose history is forked
	Author string // the Automerge actor (device ID) whose history forked
	Seq    uint64 // the change number both sides used
	Own    bool   // Author is this device: a copy of this home wrote it
}

func (e *ForkError) Error() string {
	if e.Own {
		return fmt.Sprintf("document %q: another copy of this device's home wrote a different change number %d; "+
			"a home that was copied or restored from a backup cannot merge with its copy, so %q no longer syncs with devices that took the copy's changes",
			e.Doc, e.Seq, e.Doc)
	}
	return fmt.Sprintf("document %q: device %s sent a change number %d that differs from the one it sent before; "+
		"its history is forked (its home was copied or restored from a backup, or its software is modified), so %q no longer syncs with it",
		e.Doc, short(e.Author), e.Seq, e.Doc)
}

// Unwrap returns [trustsync.ErrInvalid].
func (e *ForkError) Unwrap() error { return trustsync.ErrInvalid }

// forkRE matches the error automerge reports when a change reuses an
// author's number: "duplicate seq 2 found for actor 363f...".
var forkRE = regexp.MustCompile(`duplicate seq ([0-9]+) found for actor ([0-9a-f]+)`)

// forked returns a *ForkError when err, from checking a peer's bytes for
// doc, is automerge refusing a change that reuses an author's number, and
// nil otherwise. self is this device's ID.
func forked(doc, self string, err error) *ForkError {
	m := forkRE.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	seq, perr := strconv.ParseUint(m[1], 10, 64)
	if perr != nil {
		return nil
	}
	return &ForkError{Doc: doc, Author: m[2], Seq: seq, Own: m[2] == self}
}
