// Package trustsync keeps what a couple rebuilding trust shares -- the
// boundaries they agree on, their goals, their regular check-ins and the
// practices of rebuilding trust -- on each partner's own devices, and syncs
// it peer to peer with no server.
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
// An app opens a device home with the home package, which gives it the
// store, the space, the journal and a started sync node in one call. The
// layers underneath can be used alone: open a store, create (or open) a
// space in it, edit and read typed documents, and start a sync.Node on the
// space to sync with the partner's devices. See the package example below
// and the runnable programs under examples/ in the repository:
//
//	st, err := store.Open(dir, store.Options{})
//	space, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: "Alex"})
//	id, err := space.AddBoundary(ctx, "I tell you when my plans change")
//	events, stop := space.Subscribe()
//
// To sync with the partner's devices, start a sync.Node on the space. Or
// let package home do all of this for a home directory on disk, encrypted
// or not, as the trustsync command does (examples/app):
//
//	h, err := home.Open(dir, home.Options{Passphrase: pass})
//	node, err := h.StartNode(ctx, home.NodeOptions{})
//
// # Packages
//
//   - crdt: a couple's space as Automerge documents; typed edits and reads,
//     history, subscriptions, sync states. The only importer of automerge-go.
//   - crdt/internal/amwire: reads Automerge changes and sync messages
//     without applying them, so received changes can be checked first.
//   - crdt/internal/sandbox: applies untrusted bytes in a disposable child
//     process first, so that input which aborts automerge-go kills only it.
//   - crdt/internal/hostile: makes hostile Automerge inputs for tests.
//   - store: durable storage on disk (SQLite in WAL mode) and in memory.
//   - sync: peer-to-peer sync of a space over libp2p, pairing and
//     unpairing. The only importer of go-libp2p.
//   - journal: one partner's private journal, outside replication.
//   - home: opens a device home -- store, space, journal, lock and unlock,
//     network lock, configuration, started sync node -- for apps; the CLI
//     is a thin layer over it.
//   - cli: the trustsync command, built on the packages above. The only
//     importer of cobra.
//   - ui: 'trustsync ui', the home as a local web page on 127.0.0.1: a
//     per-launch secret exchanged for a cookie, Host, Origin and CSRF
//     checks, a strict Content-Security-Policy, live updates.
//   - cmd/trustsync: the trustsync binary (a few lines of main) and its
//     end-to-end tests.
//   - examples/offline-merge: the demo; two devices pair, edit apart, merge.
//   - examples/two-partners: two devices online together, edits arriving
//     live.
//   - examples/app: an app opens an encrypted home, pairs and syncs.
//   - internal/keys: the passphrase, the key that encrypts a home at rest,
//     and where that key is kept while the home is unlocked.
//   - internal/faults: what the fault batteries share (tests only).
//   - internal/benchkit: the whole-program sync workloads (tests only).
//   - internal/cmem: reads the C allocator, for benchmarks.
//   - internal/stagetrace: times a live edit's stages across processes.
//   - internal/testpair: pairs the devices of tests by hand (tests only).
//   - internal/showtext: shows a partner's text with control and bidi
//     characters made visible, for the command line and the page alike.
//   - bench/sidebyside: the same workloads against automerge-repo.
//
// # Guarantees
//
// Both partners have the same powers: every shared change records who made
// it, when and on which device, and either can read all of it. Edits made
// while apart always merge; nothing either partner wrote is lost. An edit
// reported as saved survives a crash or a power cut. Bytes from a peer are
// applied first in a disposable child process, so a malformed or hostile
// message can be refused but cannot take down the app that embeds trustsync.
// docs/DESIGN.md says how it is built, docs/THREATS.md whom it protects and
// from whom, and docs/CLI.md what the command promises.
package trustsync
