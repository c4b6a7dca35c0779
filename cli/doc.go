// Package cli is the trustsync command: every subcommand, its flags, its
// output and its exit codes. docs/CLI.md and `trustsync COMMAND --help` are
// its contract for users and scripts: commands and JSON fields are added,
// never changed or removed. It is the only package of the module that
// imports cobra.
//
// # Structure
//
// [NewCmdRoot] builds the command tree; every subcommand is added there, in
// one place. Each command has one constructor, NewCmdX(f, runF), and an
// options struct XOptions that holds its flags and arguments; runF, when not
// nil, replaces the command's work so that tests can check what was parsed.
// [Execute] runs the tree and turns an error into one line on standard error
// and an exit code ([ExitOK], [ExitFailure], [ExitUsage]).
//
// A [Factory] carries what commands share: the [IOStreams] they print to, the
// environment, the passphrase prompt, and, opened lazily on first use through
// package home, the home directory with its [trustsync.Store] and its
// [crdt.Space]. Everything about the home itself (files, keys, lock and
// unlock, the network lock, listen ports) lives in package home; the
// Factory adds the flags, the environment and the words a user reads.
// Commands that only read or edit local documents never start networking;
// the commands that sync start the home's node with [Factory.StartNode].
//
// # Output
//
// Text for people by default, with aligned columns, relative times and, when
// standard output is a terminal and NO_COLOR is unset, a little colour.
// --json prints one JSON value and nothing else. Commands that create
// something print the new ID alone on standard output; friendly words go to
// standard error.
//
// # Errors and exit codes
//
// Exit code 2 means wrong usage: an unknown command or flag, a missing or
// extra argument, or a flag value out of range (--mood 7, --limit -1, an
// unknown --format, a malformed --listen). Exit code 1 means the command ran
// and failed: an unknown or ambiguous ID, empty text, a home with no space,
// damaged data, a busy store. The library's errors are mapped to messages
// that say what to do ([ErrorLine]).
package cli
