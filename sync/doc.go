// Package sync keeps a couple's space in step between their devices, peer to
// peer, with no server. It is the only package of trustsync that imports
// go-libp2p.
//
// A [Node] keeps one device online: it listens with libp2p (TCP and QUIC),
// admits only the devices recorded in the space, dials them, and runs one
// [Session] with each. A Session speaks the sync protocol over any
// [io.ReadWriteCloser], so the protocol is tested over [net.Pipe] and libp2p
// is only the edge.
//
//	n, err := sync.New(sync.Config{Space: space, Store: st})
//	if err != nil { ... }
//	if err := n.Start(ctx); err != nil { ... }
//	defer n.Close()
//	report, err := n.SyncOnce(ctx) // `trustsync sync`
//
// # The protocol
//
// One libp2p stream per pair of devices carries protocol [ProtocolID]. The
// device with the lower peer ID opens it; the other waits, and a newer stream
// from the same device replaces an older one (the device restarted). The
// opener sends its HELLO first; the other side answers with its own HELLO
// only after checking the first, so a stranger learns nothing.
//
// After the hellos, each side compares heads. A document the other side
// lacks entirely is sent as one SNAPSHOT: its compressed Save(), which costs
// about as much as the document on disk, where the Automerge sync protocol
// of the wrapped core would send every change raw (about 88 times as much).
// Documents both sides hold with different heads run the Automerge sync
// protocol through [crdt.Peer]: each SYNC carries one compressed message,
// and a reply is generated after every message received until neither side
// has anything to say. Documents with equal heads cost nothing.
//
// A sync message lists its changes one by one, each with its dependencies'
// hashes, actor and time; a saved document stores the same history column
// by column. After many edits on both sides while apart, a message of at
// least 32 KiB that would take more bytes on the wire, deflated, than the
// whole document saved is replaced by a SNAPSHOT of the document
// ([crdt.ErrWholeSmaller]): a reconnect after 1,000 offline edits on each
// side moves 94 KB instead of 195 KB. The exchange that follows the import
// carries heads and a Bloom filter, not changes; smaller messages, such as
// live edits, never pay for saving the document. A SNAPSHOT for a document
// this side owes the peer an answer for is taken in after that answer is
// sent, so that both sides can send their own document whole at once.
//
// While connected, the session subscribes to the space and sends a message
// as soon as a document changes, locally, through another session (so three
// devices converge through any one of them) or in another process on the
// same store, which the node notices by polling [crdt.Space.Refresh] every
// [Config.RefreshInterval].
//
// Whenever a side has nothing more to send and its heads changed, it sends a
// STATUS with a digest of all its heads. Two sides are synced when the peer's
// latest digest equals this side's digest of its current heads:
// [Session.WaitSynced] and [Node.WaitSynced] wait for that.
//
// # Damage stays per document
//
// A document this device cannot read (a damaged chunk: see
// [crdt.Space.Import]) is left out of the session, never the session out of
// sync: it is missing from the hello and from the STATUS digest, the peer is
// told in a DAMAGED frame with the reason, and every other document syncs.
// The peer answers with its whole copy (a SNAPSHOT, once per session), whose
// import sets the damaged chunks aside and restores the document; a DAMAGED
// frame with an empty reason then tells the peer, and the document syncs as
// before. A document the peer cannot read is likewise left out of this
// side's digest and messages until it says it can. Both sides report it:
// [DocDamaged] and [DocRestored] events, and [PeerReport].Damaged and
// Restored. A peer that never had the document leaves it damaged, and
// reported, while the rest syncs.
//
// The space document holds the members and devices, which the hello is
// checked against. The check reads them from the space's view rows
// ([crdt.Space.Members]), not from the document, so a damaged space document
// is synced around and restored like any other. When the view rows of the
// members or devices cannot be read either, no device can be trusted: the
// node does not start, with an error that says to restore a backup or to pair
// again.
//
// # Refusals
//
// A session that refuses what the peer sent (a malformed or oversized frame,
// data crdt rejected) ends with an ERROR frame to the peer and a
// [*RefusedError] here, naming the device: [Node.WaitSynced] and
// [Node.SyncOnce] return it at once instead of waiting for a device that
// will send the same again, and the node reports every such session as a
// [Refused] event.
//
// # Frames
//
// A frame is a uvarint length (of the type byte and body), one type byte and
// the body. Strings are a uvarint length and bytes. Frames larger than
// [DefaultMaxFrame] (8 MiB) are refused before their body is read, and end
// the session.
//
//   - HELLO: protocol version ([ProtocolVersion]), space ID, device ID,
//     member ID, then each document ID with its heads (32-byte hashes).
//   - SNAPSHOT: document ID, codec byte (0 raw, 1 DEFLATE), the document
//     saved with the signatures that cover its changes (a signed bundle,
//     see the crdt package: [crdt.Space.SaveSigned]). Also sent for a
//     document the peer holds when the next sync message could not carry
//     the signatures of its changes ([crdt.ErrSendWhole]), or would be
//     larger ([crdt.ErrWholeSmaller]). A saved document is compressed
//     already: deflating it again gains a few percent (5% for 2,000
//     boundaries), and the payload goes raw (codec 0) whenever deflating
//     does not make it shorter, as for any payload.
//   - SYNC: document ID, codec byte, one Automerge sync message with the
//     signatures that cover the changes it carries (a signed bundle: per
//     device, the signatures of its latest changes in it; protocol
//     version 3).
//   - STATUS: the 32-byte digest of every document's heads, and how many
//     items of each kind this side received from the peer so far (which is
//     how the sender can say "sent 2 boundaries").
//   - ERROR: a reason; the sender closes the connection next.
//   - DAMAGED: a document ID and why the sender cannot read it, one line; an
//     empty reason says it can again. A peer built before this frame ends
//     the session on it, as it did on the damage itself.
//   - REFUSED: a document ID and why the sender refused a change the
//     peer sent for it (a signature that does not verify, or a write in
//     the other person's name); the document is left out for the rest of
//     the session, the others sync on. Protocol version 2.
//   - PING: keepalive, sent after [SessionConfig.KeepAlive] of silence,
//     with no body. After the hello a PING may carry a note instead, its
//     first byte naming the kind: 1, the sender's listen addresses (a
//     count, then each address); 2, the addresses other devices of the
//     space told the sender of themselves (a count, then each device ID
//     with a count and its addresses). A note of an unknown kind is
//     ignored, and peers from before the notes ignore every PING body.
//     A side busy handling received frames (each snapshot or sync message
//     is checked before it is applied) sends an empty PING every
//     KeepAlive/20 while it sends nothing else, so that the peer does not
//     take the silence for a stall: a session restarts its sync states
//     only when no byte moved either way for KeepAlive/5, nothing read
//     waits to be handled, nothing waits to go out, and the two sides'
//     heads still differ ([Stats].Restarts counts it).
//
// Every read waits at most three keepalive intervals and every write at most
// [SessionConfig.Timeout] when the connection supports deadlines (net.Conn,
// libp2p streams). Payloads inflate to at most 256 MiB.
//
// # Security
//
// Anyone on the network is refused before any document byte. The node's
// connection gater admits, once the secure handshake has authenticated the
// peer, only the peer IDs of the space's current devices and of
// [Config.Peers]. As go-libp2p does not tell a refused dialer (its Connect
// returns nil; only its streams fail), a peer counts as online only after the
// hello exchange succeeds: see [PeerOnline].
//
// The hello is checked next: the space ID must be ours ([ErrSpaceMismatch]);
// the device must be a current, not removed, device of the space, owned by
// the member the hello names, whose recorded peer ID is the connection's
// ([ErrUnknownDevice]); document IDs must be space, boundaries, goals or
// checkins/YYYY-MM ([ErrBadDoc]). A paired device's bytes stay untrusted:
// malformed frames ([ErrMalformed]), oversized frames ([ErrFrameTooLarge])
// and data crdt refuses end the session with an ERROR frame, never a panic;
// sync messages and snapshots reach crdt only through
// [crdt.Peer.ReceiveMessage] and [crdt.Space.Import]. Removing a device
// drops its session and its connection at once.
//
// Private networks (a pnet PSK) are never used: they would turn off QUIC.
// Port mapping on the router is off unless [Config.NATPortMap] is set.
//
// # Reconnecting
//
// go-libp2p does not redial. The node dials every trusted device without a
// session at the addresses this device keeps for it in its own store
// ([crdt.KnownAddrs]), from [Config.Peers] and from mDNS announcements (an
// address hint only, off with [Config.NoMDNS]). No address is ever written
// into a shared document, whose history a partner could read back as a
// trail of where the other's devices were. Each side of a session tells
// its current listen addresses right after the hello exchange, in the body
// of a PING frame (which peers from before this note ignore), and again
// when they change; the node keeps what the peer told, the address of the
// connection as the network saw it, and, at pairing, the invite's and the
// pairing connection's addresses. A device that never told any addresses
// (an earlier version) is also dialed at those its version wrote into the
// space ([trustsync.Device.Addrs]), so that an upgraded device still
// reaches a partner that has not upgraded. Failed dials back off exponentially with jitter between
// [Config.RedialMin] and [Config.RedialMax]; fresh addresses clear both that
// backoff and the swarm's own dial backoff. When a session breaks, the
// peer's in-flight sync state is reset ([crdt.Peer.Reset]) so that the next
// session resumes from the persisted state, sending only what is missing.
//
// A device that cannot check what a peer sends (its space's sandbox child
// cannot start; see "Untrusted bytes" in package crdt) holds no session: it
// asks [crdt.Space.CheckReady] before the hello exchange, and a session ends
// at the first message it cannot check, with an error wrapping
// [trustsync.ErrCheckUnavailable]. That is not the peer's fault: the peer is
// told in an ERROR frame to try later, and since nothing was applied nor
// acknowledged, nothing is lost. The node keeps redialing with its backoff
// and resumes by itself once checks work again.
//
// # Pairing and unpairing
//
// [Node.Invite] opens a one-time [Invite] (the inviting device's peer ID and
// addresses, the space ID, an expiry, a 256-bit secret and its [Purpose]:
// the partner's first device, or another device of the inviting device's
// person; [Invite.String] and [ParseInvite] carry it as text). While an
// invitation is open the node serves [PairProtocolID] and its gater lets
// any peer connect, for that protocol only. [Node.Join] on the other device
// dials the invite's peer ID (the secure handshake proves it) and runs the
// exchange, message by message:
//
//  1. joiner: space ID, expiry, a commitment SHA-256(nonceB); then
//     HMAC-SHA256(secret, transcript) over both peer IDs and that message.
//     The inviting device finds the invitation whose secret gives that MAC
//     (none: [ErrInviteInvalid], the invite stays usable), then checks expiry
//     ([ErrInviteExpired]), use ([ErrInviteUsed]) and space
//     ([ErrInviteSpace]); a request in order uses the invite up.
//  2. inviter: its commitment SHA-256(nonceA) and its own MAC over the
//     transcript, proving it made the invite.
//  3. joiner: nonceB, checked against its commitment.
//  4. inviter: nonceA (checked), its device, the space's members and the
//     invite's purpose. Both now derive the six-digit code from the
//     transcript and both nonces; each nonce was committed before either
//     was revealed, so no one can steer two codes to match.
//  5. joiner: decides whom it joins as from the purpose (the partner, as a
//     new member; or the inviting device's person; JoinOptions.As only
//     agrees) and says so, naming, for a further device, the member it was
//     created as. It has stored and sent no document.
//  6. inviter: checks that against the purpose it recorded itself: a
//     joining device asking to be anyone else is refused, with the reason,
//     before anything is stored. Then it says the identity is in order,
//     asks its own [InviteOptions.Confirm], and says yes.
//  7. joiner: asks its [JoinOptions.Confirm], waits for the inviter's yes,
//     and only then sends its space document.
//  8. inviter: takes the joining device in ([crdt.Space.Admit]), in one
//     store transaction or not at all: it merges that document -- the
//     joining device's member and device records come from that device
//     alone, never created twice -- checks the record names the
//     connection's peer ID, hands a further device over to its person,
//     and records the pairing. Then it sends its own space document.
//  9. joiner: takes the space ([crdt.Space.JoinSpace]), also in one
//     transaction: merges that document, takes the space ID (and the
//     member, for a further device) and records the pairing. Then it says
//     so; when it cannot take the document, it refuses instead.
//
// So no shared document crosses before both sides confirmed the code (a
// side without a Confirm callback counts as a yes: see [Confirmation]), and
// syncing starts only after step 8. A pairing refused or interrupted leaves
// each home either as it was or paired, never half: a joining device that
// never got step 8's document keeps its own space, and can pair again (the
// inviting device may already hold it, which a second pairing only
// confirms). An inviting device that hears nothing at step 9 is paired all
// the same, and its [PairResult] says Unconfirmed. An inviting device of an
// earlier version sends no purpose at step 4; the joining device then
// chooses as before and sends its document with step 5, after its own
// Confirm, and the inviting device's state decides.
//
// Either side may instead send a refusal with its reason, which the other
// side returns as an error wrapping the same sentinel. [Node.Unpair] removes
// devices at once ([crdt.Space.RemoveDevices]): their sessions end first,
// the gater refuses them from then on, and each one reachable is told over
// [UnpairProtocolID], whereupon it stops syncing with that person's devices
// and records it too. Unpairing the partner also removes the devices in this
// person's own name that none of this person's devices added
// ([ResolveUnpair]). [Devices] and [Node.Devices] list the couple's
// devices with when this device last saw and synced with each.
//
// # Events
//
// [Node.Subscribe] reports [PeerOnline] after a successful hello,
// [PeerOffline] when a session ends, [ChangesReceived] with the items a
// peer's changes touched, [Progress] with how many of the documents the
// hello exchange found to differ were received and sent so far (and the
// bytes), and [Synced] when both sides hold the same heads;
// [ChecksUnavailable] (once) and [ChecksRestored] report a device that
// cannot check what peers send, and its recovery; [Paired], [PairRefused]
// and [Unpaired] report pairing and unpairing.
// [Node.SyncOnce] returns a [Report] that reads like "received 2 boundaries
// and 1 check-in from Sam (sam-laptop)".
package sync
