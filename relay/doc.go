// Package relay runs a circuit relay (libp2p circuit relay v2) for couples
// whose devices cannot reach each other directly: two devices behind home
// routers each keep a reservation on the relay, and one reaches the other
// through it. Their sync stays end-to-end encrypted and authenticated as
// on a direct connection; the relay passes ciphertext along and sees only
// the two devices' peer IDs and network addresses. Where the routers
// allow, the devices then punch a direct connection and the relay steps
// aside.
//
// # Running one
//
// [New] makes a relay from [Options] (only Dir is needed), [Relay.Start]
// brings it online on its own libp2p host (TCP and QUIC), [Relay.Addrs]
// gives the addresses to hand to both partners, [Relay.Close] stops it.
// The relay's identity key is the one file it keeps: made once in Dir
// (mode 0600) and read back on every start, so its addresses -- which end
// in its peer ID -- stay the same across restarts. Nothing else is
// written: no reservations, no logs on disk, no content.
//
//	r, err := relay.New(relay.Options{Dir: dir, Listen: []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}})
//	if err != nil { ... }
//	if err := r.Start(ctx); err != nil { ... }
//	defer r.Close()
//	fmt.Println(r.Addrs()) // /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW...
//
// The trustsync command runs it as 'trustsync relay'.
//
// # What it serves
//
//   - circuit relay v2 (hop protocol), with the limits below;
//   - identify and AutoNAT (v1 and v2) servers, so that a device learns
//     its public address through the relay and whether it is reachable;
//   - nothing else: it has no sync protocol and no space, so it cannot
//     sync with anyone or read anything it carries.
//
// # Limits
//
// The defaults, sized for a couple's sync (a first sync of a year of
// check-ins is a few megabytes, a live edit a few kilobytes), each can be
// changed in [Options]:
//
//   - a reservation lasts [DefaultReservationTTL] (1 hour; devices renew
//     it), one per device, at most [DefaultMaxReservationsPerIP] (8) from
//     one IP address, [DefaultMaxReservationsPerASN] (32) from one network
//     operator and [DefaultMaxReservations] (128) in all;
//   - a relayed connection (circuit) carries at most [DefaultCircuitData]
//     (32 MiB) each way and lasts at most [DefaultCircuitDuration] (30
//     minutes); then it is closed and the devices dial again (a live
//     session resumes where it was);
//   - at most [DefaultMaxCircuits] (16) circuits at once for one device;
//   - libp2p's resource manager bounds connections, streams and memory in
//     all, with its default limits scaled to the machine.
//
// A reservation over any of these limits is refused, and logged so.
//
// # Log
//
// [Options.Logger] receives one line for each reservation made or refused
// and each circuit opened, refused or closed, naming devices by the first
// characters of their peer IDs (never a document, never content: the relay
// has none). Default: discard.
package relay
