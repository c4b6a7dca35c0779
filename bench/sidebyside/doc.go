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
// Flags after -args make a quick try: -checkins 100 -edits 100 -live 20
// -rounds 2. It needs node and npm (Node 20 or later) on the PATH, and runs
// `npm ci` in bench/sidebyside/js when node_modules is missing there (or,
// should npm ci refuse the lock file because the registry lacks an
// optional native build, `npm install --no-save`, which installs the same
// locked versions); the npm packages are pinned exactly in js/package.json
// and js/package-lock.json.
//
// # Workloads
//
//   - First sync: a new, empty device fetches 1,825 daily check-ins with
//     ~500-character notes, one document per UTC month (60 documents); time,
//     bytes both ways, and bytes against one Save() of every document.
//   - Reconnect: two devices synced once, then 1,000 small items added on
//     each side while apart; time until both sides hold and stored all
//     2,000 items, and bytes both ways.
//   - Live: both connected; isolated edits on A, 150 ms apart (-gap), timed
//     until B has them; p50 and p99 of each round, as the median and range
//     over rounds. The gap is longer than cmd/trustsync's 20 ms because
//     automerge-repo sends a document's changes at most once per 100 ms.
//
// BENCHMARKS.md, "Side by side with automerge-repo", says how each side is
// measured (bytes, timings, what "has it" means on each side) and gives the
// figures.
package sidebyside
