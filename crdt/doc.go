// Package crdt keeps a couple's shared space -- boundaries, goals with their
// steps, check-ins, the practices of rebuilding trust, and the partners'
// devices -- as Automerge CRDT documents in a [trustsync.Store], and gives
// typed edits, listings, history and sync states over them. It is the only
// package that imports automerge-go.
//
// # Main types
//
//   - [Space]: one couple's space on one device. [Create] makes it on the
//     first device, [Open] opens it afterwards; a second device joins its
//     partner's space through the sync package's pairing. Its methods edit
//     ([Space.AddBoundary], [Space.AgreeBoundary], [Space.AddCheckIn], ...),
//     list ([Space.Boundaries], [Space.CheckIns], ...), tell what happened
//     ([Space.History]) and report changes as they happen
//     ([Space.Subscribe], which delivers [Event] values).
//   - [Peer]: the Automerge sync states of one remote device, which the sync
//     package drives ([Space.Peer], [Peer.GenerateMessage],
//     [Peer.ReceiveMessage]).
//   - [RefusedChangeError]: a received change that writes what only the
//     other partner may write, refused with the rule it breaks.
//
// A space is a set of documents: the space itself (members and devices),
// boundaries, goals, one document of check-ins per UTC month, and one for
// each practice (commitments, apologies, setbacks, rhythm, questions,
// moments). Items live under each document's root keyed by a random ID, so
// edits made apart always merge; IDs given to the methods may be shortened
// to a unique prefix of [trustsync.MinIDPrefix] characters or more.
// Listings read a materialized view and never load an Automerge document. A
// Space is safe for concurrent use, also by several processes on one store.
//
// Every kind of item is one row of the table [Kinds] (see [Kind]): the
// document that holds it, its words in reports and history, its place in
// exports. Which documents a peer may send ([ValidDoc]), the view rows and
// the write rules checked on receipt are derived from it (docs/KINDS.md).
//
//	st, err := store.Open(dir, store.Options{})
//	space, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: "Alex"})
//	id, err := space.AddBoundary(ctx, "I tell you when my plans change")
//	err = space.AgreeBoundary(ctx, id)
//	bs, err := space.Boundaries(ctx, crdt.ListOptions{})
//	events, stop := space.Subscribe()
//
// # What an app calls
//
// An app edits and reads through the typed methods (Add..., Agree...,
// Edit..., Archive..., the listings and single-item reads, [Space.History],
// [Space.Due], [Space.Members], [Space.Partner]) and watches
// [Space.Subscribe]; [Space.Save] exports a document as Automerge bytes. Errors wrap the root package's sentinels:
// [trustsync.ErrInvalid] for input a rule refuses, [trustsync.ErrNotFound]
// and [trustsync.ErrAmbiguous] for an ID, [trustsync.ErrClosed] after
// [Space.Close]. The methods that move documents and devices between
// devices ([Space.Peer], [Space.Import], [Space.SaveSigned],
// [Space.Heads], [Space.Signatures], [Space.Refresh], [Space.Adopt],
// [Space.Admit], [Space.JoinAs], [Space.JoinSpace], [Space.TrustDevice],
// [Space.AddDevice], [Space.RemoveDevices], [Space.SetDevicePeer],
// [Space.NoteAddrs], [Space.NotePaired], [Space.KnownAddrs]) are the sync
// package's: pairing, unpairing and syncing through a sync Node call them
// in the order their checks need.
//
// # Answered together
//
// [Space.AskQuestion] adds a question both partners answer, and
// [Space.AnswerQuestion] an answer sealed with AES-256-GCM under a key that
// stays on the answering device until the partner's answer is there. So
// neither reads the other's answer first, with no server; what this does
// not protect (sincerity, the answering device itself, a fair exchange
// against a modified client) is said in docs/CRDT.md.
//
// # Untrusted bytes
//
// Some malformed input aborts automerge-go's Rust core and the whole
// process with it. So no byte from a peer, and no stored chunk, reaches a
// document of this process before a disposable child process (this binary,
// re-executed) applied it and survived; what it refuses is an error wrapping
// [trustsync.ErrInvalid], and when the child cannot run, the operation fails
// closed with [trustsync.ErrCheckUnavailable]. Every program that imports
// this package gets this protection without writing anything.
// Options.NoSandbox turns it off, for bytes the caller made itself.
//
// # More
//
// docs/CRDT.md has the long form: the document model, merge semantics, the
// practices, sealed answers, concurrency and compaction, the guards around
// automerge-go, damaged documents, untrusted bytes and who may write what.
// docs/DESIGN.md places the package among the others.
package crdt
