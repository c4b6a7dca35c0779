// Package sandbox applies untrusted Automerge bytes in a disposable child
// process before the caller applies them for real, so that input which
// aborts the process kills only the child.
//
// automerge-go wraps the Rust Automerge core, built with panic=abort: a Rust
// panic on malformed input becomes SIGABRT and kills the whole process, and
// Go's recover cannot catch it. A paired partner's device, buggy or hostile,
// can send any bytes; our process must keep running and our store unharmed.
//
// # How it is used
//
// A [Checker] ([New]) holds one child, which keeps a mirror of each document the
// caller checks against. Before applying a peer's bytes to a document d, the
// caller asks the checker, holding d still until it has applied them, and
// applies them only when the error is nil:
//
//	if err := checker.CheckMessage(ctx, key, d, syncState.Save(), msg); err != nil {
//		return err // errors.Is(err, sandbox.ErrRejected): the peer sent bad bytes
//	}
//	syncState.ReceiveMessage(msg)
//
// [Checker.CheckImport], [Checker.CheckLoad], [Checker.CheckIncremental] and
// [Checker.CheckChanges] do the same for saved documents, incremental chunks
// and change bytes. [ErrRejected] means
// the input is bad (wrapped with [ErrCrashed] when it killed the child or
// took too long); [ErrUnavailable] means the check could not be made, and
// the input must not be applied either.
//
// The child is the running binary itself, started with [EnvVar] set; this
// package's init function sees the variable and serves requests instead of
// main. So every binary that imports the crdt package gets the protection
// without writing anything.
//
// # More
//
// docs/SANDBOX.md has the long form: what is untrusted, what the child does
// to a mirror and how mirrors are kept in step, how the child is found,
// started and restarted, what a check costs, and what it does not protect
// against.
package sandbox
