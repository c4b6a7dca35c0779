// Package sandbox applies untrusted Automerge bytes in a disposable child
// process before the caller applies them for real, so that input which
// aborts the process kills only the child.
//
// # Why
//
// automerge-go wraps the Rust Automerge core, built with panic=abort: a
// Rust panic on malformed input becomes SIGABRT and kills the whole
// process; Go's recover cannot catch it. A structured probe aborted the
// process on 41 of 15,000 inputs (Load, LoadIncremental, LoadChanges and
// SyncState.ReceiveMessage, once on an empty document). The chunk checksum
// stops random bit flips, but an attacker recomputes it, and sync messages
// have no outer checksum. A paired partner's device, buggy or hostile, can
// send any bytes: our process must keep running and our store unharmed.
//
// # What is untrusted
//
// Everything a peer sends: sync messages (CheckMessage), whole saved
// documents (CheckImport, what crdt.Space.Import takes; CheckLoad for bytes
// the caller gives to automerge.Load), incremental chunks
// (CheckIncremental) and change bytes (CheckChanges). The caller's own
// document, its sync state bytes and the document name are trusted.
//
// # How it is used
//
// A Checker holds one child. Before applying a peer's bytes to a document
// d, the caller asks the checker, holding d still until it has applied
// them, and applies them only when the error is nil:
//
//	if err := checker.CheckMessage(ctx, key, d, syncState.Save(), msg); err != nil {
//		return err // errors.Is(err, sandbox.ErrRejected): the peer sent bad bytes
//	}
//	syncState.ReceiveMessage(msg)
//
// The child keeps a mirror of each document, named by key, and does to it
// what the caller will do: decode the sync state, receive the message,
// generate the next message (this reads the Bloom filter the peer sent:
// bad filters abort there, in the caller's next GenerateMessage), list and
// read the new changes, read every value of the document, and, when the
// input carried changes, save the document and load the result (some
// accepted inputs leave a document whose Save does not load, which would
// leave a store that does not open). It answers ok or the error
// automerge gave. A Go panic in the child is answered as a rejection.
//
// The save-and-reload is skipped for a sync message only when the message
// changed nothing: every change it carried was already in the document and
// the heads did not move (a retransmission), so the document saves to what
// it saved before, which was checked then. It is not skipped merely
// because every carried change was applied: the hostile battery found
// such messages whose document then failed to load ("changes out of
// order"). CheckImport, for crdt.Space.Import, loads a snapshot into an
// empty document once (into the mirror, which is then walked and
// reloaded) instead of also loading it alone first; into a non-empty
// document it still loads it alone, since LoadIncremental there accepts
// garbage.
//
// Mirrors are kept in step cheaply. The parent remembers the heads each
// mirror had after its last request. When the caller's document is at
// those heads nothing is sent; when the mirror's heads are all changes of
// the caller's document, the parent sends the changes the mirror lacks
// (Doc.Changes since the mirror's heads: trusted bytes); otherwise, and
// after a restart, it sends a whole Save. The child verifies the heads
// before and after, and asks for a whole Save when they differ, so a
// wrong belief costs a round trip, never a wrong verdict. A mirror ends
// up ahead of the caller when the caller checks bytes and does not apply
// them; that is fine, the next check reloads it.
//
// # How the child is found and started
//
// The child is the running binary itself, started with the environment
// variable TRUSTSYNC_SANDBOX_CHILD set. On Linux it is executed through
// /proc/self/exe, which the kernel resolves to the image the parent runs,
// not to a path: removing or replacing the binary while a long-running
// process (serve) runs neither stops the checker nor starts a different
// program as the checker. Elsewhere it is found with os.Executable. This
// package's init function sees the variable and serves requests until its
// request pipe closes, then exits: main never runs, nor do the tests of a
// test binary. So every binary that imports the crdt package (the CLI, go
// test binaries, applications embedding the library) gets the protection
// without writing anything. Packages that do not depend on this one may
// run their init functions in the child before it takes over; they should
// not have side effects beyond their process.
//
// The child is started lazily on the first check, restarted lazily after
// it dies (a child found gone before it got a request, killed from outside
// say, is replaced and the request sent again: only a child that dies after
// it got the input blames the input), killed and reaped by Close, and exits by itself when the parent
// dies (its request pipe reaches end of file). Requests and replies are
// length-prefixed frames on file descriptors 3 and 4, not on stdin and
// stdout, so that nothing printed by other code can corrupt them; the
// child's stdout and stderr are kept (first and last 4 KiB) to explain a
// crash, e.g. "panicked at 'attempt to calculate the remainder with a
// divisor of zero', automerge/src/sync/bloom.rs:74:13". The child runs in
// its own process group with GOMAXPROCS=1. One request runs at a time per
// Checker (a mutex).
//
// Errors: ErrRejected means "do not apply, the input is bad"; it is
// wrapped with ErrCrashed when the input killed the child or exceeded
// Options.Timeout. ErrUnavailable means the check could not be made (the
// child cannot start, or died loading the caller's own document); the
// input must not be applied either. A canceled context returns its error.
//
// # What it costs
//
// Measured on a shared 2-core machine (go test -bench . in this package):
// a small sync message carrying one change, against a 200-item document
// (each item a map with a Text), costs about 12 ms to check, against
// 0.04 ms to receive it directly; most of it is the save-and-reload of the
// mirror (Save 4 ms, Load 8 ms) and the walk over every value (3 ms),
// which grow with the document. A message without changes costs a round
// trip and a receive. A local edit between messages adds a delta sync
// (under 1 ms here). Starting a child costs about 3-6 ms; a restart
// followed by a check (the mirror loaded from a whole Save) about 17-25 ms.
// The child's memory grows with the documents it mirrors (at most
// Options.MaxMirrors of them, holding at most Options.MaxMirrorBytes).
//
// Text-heavy documents cost more: a month of check-ins (30 maps, each with
// a 500-character Text; 2.4 KB saved) takes about 30 ms to Load, the same
// to LoadIncremental into an empty document, 7 ms to Save and 2 ms to walk,
// so CheckImport of such a snapshot into an empty document costs about
// 70 ms (LoadIncremental, walk, Save, Load), against about 100 ms with
// CheckLoad, which loads it alone first. For a first sync of 60 such
// documents that is the floor: the sync package no longer runs a sync
// round after a snapshot (see crdt.Peer.Assume), so the snapshots are the
// only checks. A reconnect that brings 1,000 changes in one message
// checks it once (about 0.35 s for a 1,000-item document on a loaded
// 2-core machine, most of it the reload).
//
// # What it does not protect against
//
//   - Inputs that abort only in state the child does not reproduce: the
//     sync state is decoded from its saved bytes (shared heads), not the
//     caller's in-memory state (sent hashes, the peer's last have and
//     need); Rust hash-map order differs between processes.
//   - Later operations the child does not do: it reads every value and
//     reloads, but not every API (Fork, Merge, Path, Text.Splice on the
//     new state); a document that passes may still fail in such a call.
//   - CPU exhaustion: a huge input is bounded by Options.MaxInput and a
//     slow one by Options.Timeout. Memory is bounded by Options.MaxMemory
//     (default 1 GiB, the child's RLIMIT_DATA, on Linux only): an input
//     that needs more kills the child and is rejected as a crash, the
//     reply naming the limit. The child keeps what it once mapped, so
//     several large mirrors together can reach the limit while it loads
//     the caller's own document: that check fails with ErrUnavailable and
//     the next starts a fresh child.
//   - Semantic attacks: well-formed changes that delete or rewrite shared
//     content, forged actors or timestamps. The checker only keeps the
//     process alive and the store loadable.
//   - Bugs in the caller's own documents: if the caller's document itself
//     aborts the loader, every check returns ErrUnavailable.
//   - Platforms where the running binary cannot be found or re-executed
//     (some sandboxes), or a process out of file descriptors, processes or
//     memory: checks then fail with ErrUnavailable, closed, and the next
//     check tries to start the child again.
package sandbox
