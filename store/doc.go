// Package store keeps a trustsync space durably. It provides the two
// implementations of [trustsync.Store]: [Disk], a SQLite database in the
// home directory, opened with [Open], and [Memory], made by [NewMemory], for
// tests and for spaces that need no persistence.
//
// Both behave alike; one conformance test suite runs against each.
//
// # What a store holds
//
// A store holds, changed together in one transaction by
// [trustsync.Store.Update]:
//
//   - chunks: the Automerge bytes of each document, snapshots and
//     incremental change sets, numbered by one global sequence (Seq) that
//     never goes back, not even when chunks are compacted away;
//   - items: the materialized view, one JSON value per item;
//   - history: one entry per Automerge change, deduplicated by change hash
//     and listed newest first (hex hashes are stored as their bytes, and
//     documents and actors by number);
//   - meta: small values such as the space ID and sync states;
//   - heads: each document's heads as of one of its chunks
//     ([trustsync.Tx.PutHeads]), trusted by [trustsync.ReadTx.Heads] only
//     while that chunk is still the document's latest.
//
// Appending bytes that a document already holds returns the existing Seq, so
// a chunk received twice from a partner is stored once.
//
// # Durability and concurrency
//
// [Disk] keeps everything in one file, [FileName], in write-ahead-log mode
// with synchronous=FULL: when Update returns nil, the commit has been
// fsynced and survives kill -9 and power loss. The log is checkpointed into
// the file every 256 pages and truncated to 1 MiB when it restarts, and a
// compaction that leaves more than 64 pages free gives them back to the file
// system (auto_vacuum=INCREMENTAL, set when the file is created, and on
// older stores by the VACUUM that follows their migration). Several processes may open
// the same directory. Update takes SQLite's write lock at once (BEGIN
// IMMEDIATE), so writers, in this process or others, run one at a time;
// one that waits longer than [Options.BusyTimeout] gets an error wrapping
// [trustsync.ErrBusy] that says who held the store and for how long. Readers
// ([trustsync.Store.View]) never wait for writers and see one consistent
// snapshot from their first read to the end.
//
// If the function given to Update returns an error or panics, nothing it
// wrote is kept.
//
// # Damage and repair
//
// Every chunk is stored with its SHA-256. [trustsync.ReadTx.Chunks] checks
// it and returns the intact chunks together with a [*DamagedChunksError]
// naming the damaged ones; it unwraps to one [*trustsync.DamagedError] per
// chunk, whose message tells the user what to do. Intact chunks are never
// dropped because a neighbour is damaged. [trustsync.Tx.Quarantine] moves a
// damaged chunk to a side table, where its bytes stay for inspection
// ([Disk.Quarantined]); the partner's copy of the same changes can then be
// synced in again.
//
// # Chunks checked once
//
// With [Options.ChunkKey], [Disk] stores an HMAC-SHA-256 of each chunk's
// document and bytes beside it and, when reading, marks the chunks whose MAC
// verifies as [trustsync.Chunk.Checked]: bytes written by a holder of the
// key, which its reader need not check again. A chunk whose bytes changed
// (even with a matching checksum), that was written without a key or under
// another one, is not marked and is checked as any other.
//
// [Open] refuses, with one line wrapping [trustsync.ErrDamaged], a file that
// is not a SQLite database or that belongs to another program, and, with
// [ErrNewerVersion], a store whose layout comes from a newer trustsync. The
// layout is versioned (PRAGMA user_version) and older stores are migrated
// when opened.
//
// # Memory
//
// [Memory] runs each Update on a private copy and publishes it when the
// function returns nil; a View reads the copy that was current when it
// started. Bytes are copied in and out, so callers never share a store's
// slices. It keeps nothing after the process ends.
package store
