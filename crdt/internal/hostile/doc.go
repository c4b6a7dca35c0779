// Package hostile makes hostile Automerge inputs from valid ones, for tests
// that must show that untrusted bytes cannot kill the process.
//
// go test -fuzz alone finds none of the inputs that abort automerge-go: it
// sees no coverage inside the Rust core, and random changes to a chunk are
// refused by its checksum. This generator knows the format. An Automerge
// chunk is the magic bytes 0x85 0x6f 0x4a 0x83, a 4-byte checksum, a type
// byte (0 document, 1 change, 2 compressed change), the uLEB128 length of
// the body, and the body; the checksum is the first 4 bytes of SHA-256 over
// the type byte, the encoded length and the body (for a change, the whole
// SHA-256 is its hash). Tests in this package check this against the bytes
// automerge-go writes and the hashes it reports. A sync message is the
// byte 0x42, the sender's heads, the hashes it needs, its "have" entries
// (last-sync heads and a Bloom filter) and its changes as length-prefixed
// chunks; it has no checksum of its own.
//
// From seeds made with automerge-go (Seeds: documents, one of about 200
// items; incremental chunks; single changes and change sets; the messages
// of recorded sync sessions) Gen.Next makes random bytes, truncations,
// valid prefixes (whole chunks, or a body cut short with its header made to
// match), bit and byte flips, insertions, deletions, uLEB128 numbers and
// copied runs inside chunk bodies with the length and checksum recomputed,
// type changes, chunks spliced, shuffled, duplicated and dropped across
// seeds, oversized inputs, and for sync messages changes mutated inside
// (checksums recomputed), added, reordered and dropped, odd heads and
// needs, and Bloom filters with odd parameters. Gen.Session returns a
// recorded conversation duplicated, reordered, dropped or with one message
// mutated. Everything is deterministic from the seed number.
package hostile
