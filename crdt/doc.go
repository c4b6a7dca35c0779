// Package crdt keeps a couple's shared space -- boundaries, goals with their
// steps, check-ins, and the partners' devices -- as Automerge CRDT documents
// in a [trustsync.Store], and gives typed edits, listings, history and sync
// states over them. It is the only package that imports automerge-go.
//
// A space is made with [Create] on the first device and opened with [Open]
// afterwards; a second device joins its partner's space with [Space.Adopt]
// and syncs through [Space.Peer] or [Space.Import].
//
// # The document model
//
// A space is a set of documents: [SpaceDoc] (members and devices),
// [BoundariesDoc], [GoalsDoc], and one document per UTC month of check-ins
// ([CheckInDoc]). Every document's root holds schema, schema_minor and kind,
// and every item lives directly under the root, keyed by its random ID (16
// characters of lowercase base32). No two devices ever create the same key,
// so items never conflict; nested maps (agreements, steps, acknowledgements)
// are created together with their item. Times are int64 Unix milliseconds.
// The device ID is the Automerge actor ID of every change made on it, and
// each change carries a message naming the action, the item and a summary, so
// [Space.History] reads "Sam on sam-laptop changed the text to ...".
//
// Every kind of item is one row of the table [Kinds] (see [Kind]): the
// document that holds it, its words in reports and history, its place in
// exports. Which documents a peer may send ([ValidDoc]), the view rows and
// the write rules checked on receipt are derived from it.
//
// Next to the documents the store keeps a materialized view: the current
// value of every item as JSON. Listings ([Space.Boundaries],
// [Space.CheckIns], ...) read only the view and never load an Automerge
// document. Names of partners are resolved from the member items when read.
//
// IDs given to [Space.Boundary], [Space.EditBoundary] and the other methods
// may be abbreviated to a unique prefix of at least [trustsync.MinIDPrefix]
// characters; an ambiguous prefix gives a [*trustsync.AmbiguousIDError].
//
// # Merge semantics
//
//   - Two partners editing one boundary's text at once: Automerge Text merges
//     both edits character by character; both survive. An edit splices only
//     the part of the text that changed.
//   - Agreements are keyed by member, so concurrent agreements both count. An
//     agreement stores the exact text agreed to; a boundary is agreed only
//     when both members' stored texts equal the current text. Any edit, even
//     one concurrent with an agreement, asks both again.
//   - Archive is a flag, not a deletion: an edit concurrent with an archive is
//     kept and shows when the boundary is restored.
//   - Concurrent writes to one scalar (a goal's title) end with the same
//     winner on every device; both changes stay in the history with their
//     values.
//   - Edits touch only the fields they change, so fields written by a newer
//     minor version survive. A document whose major schema version is newer
//     than [SchemaMajor] can be read, but every write to it fails with an
//     error wrapping [trustsync.ErrReadOnly].
//
// # The practices of rebuilding trust
//
// Six more documents hold what a couple does to rebuild trust, with the same
// rules (items under the root keyed by random ID, nested maps created with
// their item, history in words, the view for listings):
//
//   - [CommitmentsDoc]: small promises ([Space.AddCommitment]) with a plain
//     timeline of the times each was kept or missed
//     ([Space.RecordCommitment]), each entry acknowledged by the partner who
//     did not write it ([Space.AckCommitmentEntry]). There is no score, no
//     streak and no percentage anywhere: only dated entries in words.
//   - [ApologiesDoc]: a structured apology ([Space.WriteApology]: what
//     happened, its impact as the author understands it, what they take
//     responsibility for, what they will do differently) that the other
//     partner may acknowledge when ready ([Space.AckApology]); nothing ever
//     asks them to.
//   - [SetbacksDoc]: what went wrong, linked to the boundary, goal or
//     commitment it touched ([Space.SetbacksAbout]), what each partner felt
//     (keyed by member, so both are kept), and every revision of the plan
//     (each under its own key, so concurrent revisions are both kept and the
//     later one is current).
//   - [RhythmDoc]: the check-in cadence ([Space.SetRhythm], daily or weekly
//     on a day). Like a boundary, it is agreed only when both partners
//     agreed to the exact cadence in effect; changing it asks both again.
//     [Space.Due] computes locally, with no network, when this partner's
//     next check-in is due and which of the other's check-ins wait for an
//     acknowledgement.
//   - [QuestionsDoc]: questions answered together (below).
//   - [MomentsDoc]: a light log of good moments and thanks ([Space.AddMoment]).
//
// # Answered together
//
// [Space.AskQuestion] adds a question both partners answer, and
// [Space.AnswerQuestion] an answer that the other partner cannot read until
// they have answered too, without any server. Each answer is sealed with
// AES-256-GCM under a fresh random key and bound to its question and author;
// the sealed answer goes into the shared document, and the key stays in this
// device's store (its meta, which is never synced). The author's device
// writes the key into the shared document -- reveals the answer -- only once
// the other partner's answer is there: at once when answering second;
// otherwise in the same transaction that stores the other answer when it
// arrives by sync or import, or at the latest at the next read
// ([Space.RevealAnswers], which [Space.Questions] and [Space.Question] call).
// Answering in either order, offline, or at the same time all work. An
// answer cannot be changed once given ([ErrAnswered]).
//
// What this protects: through any normal use of trustsync, on any device,
// neither partner can read the other's answer before giving their own, and
// the answer's words are never in a shared document, a history summary or a
// sync message before then.
//
// What it does not protect:
//   - A partner can answer with anything, even nonsense, just to make the
//     other's answer appear. The seal enforces the order, not sincerity.
//   - The key sits in the answering device's own store until it is revealed,
//     next to the sealed answer. Anyone who can read that device's disk (or
//     run trustsync on it) can read that device's own answers; the seal is
//     against the other partner's devices, not against the author's.
//   - Who answered which question, and when, is visible to both at once, as
//     is when an answer was revealed, which tells the other that the
//     revealing device received their answer.
//   - Only the device that wrote an answer holds its key. If a partner
//     answers on a laptop and the laptop is lost before it reveals, that
//     answer stays sealed for good; their other devices cannot reveal it.
//   - A modified trustsync on the other partner's device could reveal its
//     own answer early; it can never make this device reveal early by
//     junk. An answer counts only when it sits under the member ID of the
//     actual partner (the other of the space's two members, counted as
//     [Space.Members] counts them) and has the shape of a sealed answer
//     (base64 of a 12-byte nonce, at least one byte of words and a 16-byte
//     AES-256-GCM tag, no longer than [MaxNoteLen] characters can make).
//     Anything else in a question's answer map -- entries under made-up
//     IDs, text that is not a sealed answer -- is ignored: it reveals
//     nothing and is not shown, and the question still waits.
//   - What no design without a third party can give: a fair exchange. The
//     first answerer's device reveals its key as soon as it sees a second
//     answer, so the second answerer's device learns the first answer at
//     once. A modified client answering second can then read it and never
//     reveal its own key (or "answer" with random bytes of the right shape,
//     which no key opens: the shape check cannot tell them from a real
//     answer). Preventing that needs someone both trust to hold both keys
//     and release them together; two devices alone cannot, since one of
//     them always has to let go first. What this device can promise is
//     only its own side: it never reveals before a well-formed answer from
//     the partner is in the document, and the partner's refusal to reveal
//     shows as an answer that stays sealed.
//
// # Concurrency
//
// A [Space] is safe for concurrent use. Each document has a mutex in the
// process, and every write runs inside one store Update, which serialises
// processes: it catches up with chunks other processes appended, edits,
// commits, and stores the new chunk, the view rows and the history entry in
// the same transaction. A document is compacted into one snapshot once its
// incremental chunks hold more than a quarter of the snapshot's bytes (at
// once when it has none, so small documents such as a month of check-ins are
// compacted too), or after [Options.CompactAfter] chunks. When anything fails the cached document is
// dropped and reloaded from the store next time, so memory never holds what
// the disk does not. [Space.Refresh] picks up what other processes wrote;
// [Space.Subscribe] delivers [Event] values and never blocks a writer.
//
// A [Peer] holds one Automerge sync state per document for one remote device,
// persisted in the store's meta under "sync/<device>/<doc>". Received sync
// messages and imported documents are stored with their history and view
// rows in one transaction, exactly like local edits. Two devices that pass
// each other every message [Peer.GenerateMessage] returns until neither has
// anything to send end with the same documents: a sync state that the
// bundled core would leave silent with the heads still different (automerge
// issue 702) is restarted. When a message may have been lost, call
// [Peer.Reset] on both sides.
//
// # The guards
//
// automerge-go has sharp edges; each is guarded in guard.go and tested in
// guard_test.go:
//
//   - Doc.Apply applies the whole batch a change came from: it is never
//     called; changes are applied one by one through their own bytes.
//   - chained Path calls alias: Path is never used; values are read by
//     walking Map.Get.
//   - d.Merge(d) and crossed merges deadlock: merging refuses self-merge and
//     goes through Save and LoadIncremental, holding one lock at a time.
//   - SyncState.Save takes no lock: every sync state sits behind a mutex.
//   - native memory is freed only by finalizers: loaded bytes are counted and
//     runtime.GC runs past a threshold.
//   - a Go int is stored as a float64: integers are written as int64 and read
//     from int64, uint64 or float64.
//   - change timestamps are milliseconds here and seconds in JavaScript:
//     values below 1e11 are read as seconds.
//   - the first SaveIncremental after a load re-exports the whole history: it
//     is called and discarded right after every load.
//   - Load(nil) returns an empty document: empty input is refused first.
//   - LoadIncremental into a non-empty document accepts garbage: input must
//     start with Automerge's magic bytes, and imported documents are decoded
//     on a scratch document first.
//   - LoadSyncState accepts trailing bytes: a sync state read from the store
//     is decoded in Go first and reaches automerge only in the exact form
//     SyncState.Save writes; any other is dropped and the sync starts afresh.
//
// A damaged chunk (failing its checksum, or undecodable) makes its document
// refuse writes and sync with a [*trustsync.DamagedError]; listings keep
// working from the view and nothing is compacted away. The other documents
// are untouched. [Space.Import] of the partner's copy restores the
// document: it sets the damaged chunks aside ([trustsync.Tx.Quarantine]
// keeps their bytes), merges the copy into the intact rest and writes the
// document's view rows again; the sync package does this when a session
// finds a document damaged. A view row that cannot be decoded is written
// again from its document when read; when the document is damaged too,
// [Space.Boundaries] lists the other boundaries and names the damaged one.
//
// # Untrusted bytes
//
// automerge-go wraps a Rust core built to abort on a panic: some malformed
// input kills the whole process, and recover cannot catch it. A paired
// partner's device, buggy or hostile, can send any bytes, and anyone who can
// write the home directory (or a bug) can store any bytes with a valid
// checksum. So no such byte reaches an Automerge document of this process
// before a disposable child process (the running binary, re-executed; see
// crdt/internal/sandbox) applied it to a mirror of that document and
// survived:
//
//   - sync messages ([Peer.ReceiveMessage]) and saved documents
//     ([Space.Import]) from a peer; what the child refuses, or dies of, is
//     rejected with an error wrapping [trustsync.ErrInvalid] and nothing is
//     stored;
//   - stored chunks, when a document is loaded and when chunks appended by
//     other processes are merged; chunks the child refuses make the document
//     damaged (a [*trustsync.DamagedError] naming the first such chunk), and
//     the other documents keep working.
//
// Our own edits are not checked: their bytes come from this process's
// Automerge.
//
// Every check fails closed. When the child cannot be started or does not
// answer (too few file descriptors, processes or memory), the bytes are not
// loaded: the operation fails with an error wrapping
// [trustsync.ErrCheckUnavailable], nothing is stored, a document whose
// stored chunks could not be checked is not cached, and the next use tries
// to start the child again. What needs no check keeps working: listings and
// history (read from the view), writes to documents this space already
// holds in memory, and documents that have no stored chunks yet. Reading or
// writing any other document, and anything received from a peer, waits for
// the child. On Linux the child is started through /proc/self/exe, so
// removing or replacing the binary while a space is open does not stop it.
//
// Options.NoSandbox turns the child off, as a deliberate choice for bytes the
// caller produced itself (benchmarks of the raw library): then every byte,
// stored or received, is applied directly and can abort the process.
// docs/RELIABILITY.md lists the fault battery that holds this to account
// (hostile sync messages, documents and stored chunks, kill -9, a full disk,
// clock skew, stalls and partitions) with its figures.
//
// # Who may write what
//
// A received change that survived the child and whose signature verifies
// is still read operation by operation before it is stored: each
// operation is placed in its document (item, field, member key) and the
// change is refused, with the sync message or document that carried it,
// when its device's person writes what only the other may -- an agreement,
// acknowledgement, feeling or answer under the other's member key, the
// other's check-in, apology, commitment, setback, question or moment, an
// item's author, or the other's member and device records. The error is a
// [*RefusedChangeError] (wrapping [trustsync.ErrForged]) whose Reason says
// which rule, for example "agreement written in Alex's name". The same
// reading bounds what one change, document or message may hold
// ([MaxChangeOps], [MaxValueBytes], [MaxDocObjects], [MaxReceivedChanges],
// and the text limits), and decides what the history and the view record
// of a received change: what its operations touched, not what its message
// says. docs/DESIGN.md, "Who may write what", has the full table.
package crdt
