// Package sync keeps a couple's space in step between their devices, peer to
// peer, with no server. It is the only package of trustsync that imports
// go-libp2p.
//
// # Main types
//
//   - [Node]: one device online. It listens with libp2p (TCP and QUIC),
//     admits only the devices recorded in the space, dials them (at the
//     addresses it keeps for them, from [Config.Peers] and from mDNS unless
//     [Config.NoMDNS]), redials with backoff, and runs one [Session] with
//     each. [Node.SyncOnce] syncs until both sides hold the same changes and
//     returns a [Report] that reads like "received 2 boundaries and 1
//     check-in from Sam (sam-laptop)"; [Node.Subscribe] reports [Event]
//     values (online, offline, changes received, synced, refused, paired).
//   - [Session]: the sync protocol ([ProtocolID], version [ProtocolVersion])
//     with one remote device over any [io.ReadWriteCloser], so it is tested
//     over [net.Pipe] and libp2p is only the edge.
//   - [Invite], [Node.Invite] and [Node.Join]: pairing with a one-time
//     invite and a six-digit code both people compare; [Node.Unpair] leaves,
//     from one side, at once.
//   - Across networks: the node keeps a reservation on the couple's relays
//     (circuit relay v2; the space's and [Config.Relays], see
//     [ParseRelayAddr]), dials devices through them after their direct
//     addresses, moves a session to a direct connection when DCUtR hole
//     punching or a direct dial makes one, and says how each device is
//     reached ([Node.Path], [Path]). [Config.NoRelay], [Config.NoHolePunch]
//     and [Config.NoAutoNAT] turn each part off.
//
// On the wire a frame is a uvarint length, a type byte (HELLO, SNAPSHOT,
// SYNC, STATUS, ERROR, DAMAGED, REFUSED, PING) and a body; SNAPSHOT and SYNC
// bodies may be DEFLATE-compressed. A paired device's bytes stay untrusted:
// frames are bounded ([DefaultMaxFrame]), malformed or refused data ends the
// session with a [*RefusedError] naming the device, never a panic, and a
// document one side cannot read is left out while every other document
// syncs.
//
//	n, err := sync.New(sync.Config{Space: space, Store: st})
//	if err != nil { ... }
//	if err := n.Start(ctx); err != nil { ... }
//	defer n.Close()
//	report, err := n.SyncOnce(ctx) // what `trustsync sync` does
//
// # More
//
// docs/SYNC.md has the long form: the protocol and its frames, damage and
// refusals, what is checked before any byte is trusted, reconnecting,
// relays, hole punching and paths, the pairing exchange step by step,
// unpairing and the events. docs/PAIRING.md
// tells pairing from the user's side; docs/THREATS.md says whom it protects
// against.
package sync
