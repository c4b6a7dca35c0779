// Package store keeps a trustsync space durably. It provides the two
// implementations of [trustsync.Store], which behave alike (one conformance
// suite runs against both):
//
//   - [Disk], opened with [Open]: one SQLite file, [FileName], in the home
//     directory, in write-ahead-log mode with synchronous=FULL. When Update
//     returns nil the commit is on disk and survives kill -9 and power loss.
//     Several processes may use one home at once: writers take turns
//     (waiting at most [Options.BusyTimeout], then an error wrapping
//     [trustsync.ErrBusy] that says who held the store), readers never wait.
//   - [Memory], made with [NewMemory]: for tests and for spaces that need no
//     persistence.
//
// A store holds, changed together in one transaction: the Automerge chunks
// of each document, the materialized view (one JSON value per item), the
// history (one entry per change), small meta values (such as sync states)
// and each document's heads. Every chunk is stored with its SHA-256; a
// damaged chunk is reported as a [*DamagedChunksError] and can be set aside
// while the intact ones keep working. [Open] refuses a file that is not a
// trustsync store, and one from a newer trustsync ([ErrNewerVersion]);
// older stores are migrated when opened.
//
//	st, err := store.Open(home, store.Options{})
//	if err != nil { ... }
//	defer st.Close()
//	err = st.Update(ctx, func(tx trustsync.Tx) error { return tx.Put("k", v) })
//
// # More
//
// docs/STORE.md has the long form: what a store holds, durability and
// concurrency, damage and repair, chunks checked once ([Options.ChunkKey]),
// and the memory store. docs/DESIGN.md, "The store", shows its tables and
// how a write in the crdt package uses them.
package store
