// Package trustsync keeps what a couple rebuilding trust shares -- the
// boundaries they agree on, their goals, their regular check-ins -- on each
// partner's own devices, and syncs it peer to peer with no server.
//
// This root package holds the words every other package speaks: the values a
// couple reads ([Boundary], [Goal], [CheckIn], the practices' [Commitment],
// [Apology], [Setback], [Rhythm], [Question] and [Moment], [Change],
// [Member], [Device]), the errors callers test for with [errors.Is] ([ErrNotFound],
// [ErrAmbiguous], [ErrInvalid], [ErrDamaged], [ErrBusy], [ErrReadOnly] ...)
// and the [Store] interface that keeps a space durably on one device.
//
// # Getting started
//
// Open a store, create (or open) a space in it, edit and read typed
// documents; see the package example below and the runnable programs under
// examples/ in the repository:
//
//	st, err := store.Open(home, store.Options{})
//	space, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: "Alex"})
//	id, err := space.AddBoundary(ctx, "I tell you when my plans change")
//	events, stop := space.Subscribe()
//
// To sync with the partner's devices, start a sync.Node on the space.
//
// # Packages
//
//   - crdt: a couple's space as Automerge documents; typed edits and reads,
//     history, subscriptions, sync states. The only importer of automerge-go.
//   - store: durable storage on disk (SQLite in WAL mode) and in memory.
//   - sync: peer-to-peer sync of a space over libp2p. The only importer of
//     go-libp2p.
//   - cli: the trustsync command, built on the packages above.
//
// # Guarantees
//
// Both partners have the same powers: every shared change records who made
// it, when and on which device, and either can read all of it. Edits made
// while apart always merge; nothing either partner wrote is lost. An edit
// reported as saved survives a crash or a power cut. Bytes from a peer are
// applied first in a disposable child process, so a malformed or hostile
// message can be refused but cannot take down the app that embeds trustsync.
package trustsync
