// Package trustsync keeps what a couple rebuilding trust shares -- the
// boundaries they agree on, their goals, their regular check-ins -- on each
// partner's own devices, and syncs it peer to peer with no server.
//
// This root package holds the domain words every other package speaks: the
// values a couple reads ([Boundary], [Goal], [CheckIn], [Change]), the errors
// callers can test for, and the [Store] interface that keeps a space durably.
//
// # Packages
//
//   - crdt: a couple's space as Automerge documents; open it, edit it, read it,
//     subscribe to its changes.
//   - store: durable storage for a space (SQLite on disk) and an in-memory one.
//   - sync: peer-to-peer sync of a space over libp2p.
//   - cli: the trustsync command.
package trustsync
