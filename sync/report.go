package sync

import (
	"fmt"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/trustsync/trustsync/crdt"
)

// Report says what [Node.SyncOnce] did with each paired device.
type Report struct {
	Peers []PeerReport
}

// PeerReport is what one sync with one device moved.
type PeerReport struct {
	Peer   peer.ID
	Remote Remote
	OK     bool  // synced: both sides hold the same heads
	Err    error // why not
	// Received and Sent count items by kind (see the crdt Kind constants).
	Received, Sent    map[string]int
	BytesIn, BytesOut int64
	// Damaged lists the documents left out because they are damaged on
	// either side, as the session ended or finished syncing; the others
	// were synced. Restored lists the damaged documents of this device
	// that the device's copy restored.
	Damaged []DocDamage
	// Refused lists the documents left out because a change for them
	// was refused (a bad signature, or a write in the other person's
	// name), on this device or on the peer; the others were synced.
	Refused  []DocRefusal
	Restored []string
}

// Synced returns how many devices were synced.
func (r Report) Synced() int {
	n := 0
	for _, p := range r.Peers {
		if p.OK {
			n++
		}
	}
	return n
}

// String describes the report in words, one line per device, for example
// "received 2 boundaries and 1 check-in from Sam (sam-laptop); sent 1 goal".
func (r Report) String() string {
	var lines []string
	for _, p := range r.Peers {
		lines = append(lines, p.String())
	}
	return strings.Join(lines, "\n")
}

func (p PeerReport) name() string {
	switch {
	case p.Remote.MemberName != "" && p.Remote.DeviceName != "":
		return fmt.Sprintf("%s (%s)", p.Remote.MemberName, p.Remote.DeviceName)
	case p.Remote.MemberName != "":
		return p.Remote.MemberName
	}
	s := p.Peer.String()
	if len(s) > 12 {
		s = "device " + s[len(s)-8:]
	}
	return s
}

func (p PeerReport) String() string {
	if !p.OK {
		return fmt.Sprintf("could not sync with %s: %v", p.name(), p.Err)
	}
	recv, sent := Words(p.Received), Words(p.Sent)
	switch {
	case recv == "" && sent == "":
		return fmt.Sprintf("already in sync with %s", p.name())
	case sent == "":
		return fmt.Sprintf("received %s from %s", recv, p.name())
	case recv == "":
		return fmt.Sprintf("sent %s to %s", sent, p.name())
	}
	return fmt.Sprintf("received %s from %s; sent %s", recv, p.name(), sent)
}

var kindWords = map[string][2]string{
	crdt.KindBoundary: {"boundary", "boundaries"},
	crdt.KindGoal:     {"goal", "goals"},
	crdt.KindStep:     {"goal step", "goal steps"},
	crdt.KindCheckIn:  {"check-in", "check-ins"},
}

// Words renders a tally of items by kind, as in "2 boundaries and 1 check-in".
// Changes to members and devices read "changes to the devices".
func Words(tally map[string]int) string {
	var parts []string
	for _, k := range []string{crdt.KindBoundary, crdt.KindGoal, crdt.KindStep, crdt.KindCheckIn} {
		if c := tally[k]; c > 0 {
			w := kindWords[k][1]
			if c == 1 {
				w = kindWords[k][0]
			}
			parts = append(parts, fmt.Sprintf("%d %s", c, w))
		}
	}
	var other []string
	for k, c := range tally {
		if _, ok := kindWords[k]; !ok && c > 0 && k != crdt.KindMember && k != crdt.KindDevice {
			other = append(other, fmt.Sprintf("%d %s", c, k))
		}
	}
	slices.Sort(other)
	parts = append(parts, other...)
	if tally[crdt.KindMember] > 0 || tally[crdt.KindDevice] > 0 {
		parts = append(parts, "changes to the devices")
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
