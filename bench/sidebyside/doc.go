// Package sidebyside compares trustsync's whole-program sync with
// automerge-repo's on the same machine, in the same run: the same three
// workloads against automerge-repo (JavaScript, two Node processes on
// 127.0.0.1, each with its storage on disk) and against trustsync (the
// workloads of cmd/trustsync's benchmarks, from internal/benchkit). It
// holds no code of its own beyond its benchmark; run it from the
// repository root with
//
//	go test ./bench/sidebyside -run '^$' -bench SideBySide -benchtime 1x -timeout 1h
//
// It needs node and npm (Node 20 or later) on the PATH, and runs `npm ci`
// in bench/sidebyside/js when node_modules is missing there (and, should
// npm ci refuse the lock file because the registry lacks an optional
// native build, `npm install --no-save`, which installs the same locked
// versions); the npm packages are pinned exactly in js/package.json and
// js/package-lock.json.
// Flags after -args make a quick try: -checkins 100 -edits 100 -live 20
// -rounds 2.
//
// # Workloads
//
//   - First sync: a new, empty device fetches 1,825 daily check-ins with
//     ~500-character notes, one document per UTC month (60 documents) on
//     both sides. Time from starting the new device's process to every
//     document present locally and stored; bytes both ways; and the ratio
//     of those bytes to the sum of one Save() of every document.
//   - Reconnect: two devices synced once, then 1,000 small items added on
//     each side while apart (one change each); time from starting the
//     client's process until both sides hold all 2,000 items and have
//     stored them, and bytes both ways.
//   - Live: both connected; an edit on A until B has it, isolated edits
//     150 ms apart (-gap), in several rounds (fresh devices each round); p50
//     and p99 of each round, reported as the median and range over rounds.
//     The gap is longer than cmd/trustsync's 20 ms because automerge-repo
//     sends a document's changes at most once per 100 ms (its
//     DocSynchronizer's syncDebounceRate, not configurable through the Repo):
//     edits 20 ms apart measure that throttle (p50 about 75 ms), not an
//     isolated edit.
//
// # What is measured how
//
// trustsync: see internal/benchkit. Bytes are what 'trustsync sync --json'
// reports: the sync protocol's frames on the libp2p stream (compressed),
// without libp2p's own framing and encryption. A live edit is committed to
// A's store by the benchmark process, as another trustsync command would,
// and timed until B's store shows it.
//
// automerge-repo (js/peer.mjs): bytes are counted in the client process
// by wrapping the websocket (ws) send and message event: the payload of
// every websocket message both ways, without the websocket framing and the
// HTTP upgrade. The client is given the 60 documents' URLs (trustsync's new
// device learns its documents from the peer's hello instead); a find that
// automerge-repo answers with "unavailable" (it happened once in five
// runs, for a document the server held) is tried again 100 ms later, and
// the benchmark says so on its standard error. A live edit
// is made in A's serving process (a handle.change) and timed, on the
// monotonic clock both processes share, until B's change event shows it
// in memory; automerge-repo writes it to storage later (its save debounce
// is 100 ms) and without fsync, where trustsync's B has committed it
// durably. Check-in notes are plain strings on both sides (Automerge
// ImmutableString in JavaScript), as trustsync stores them.
package sidebyside
