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
	// Received and Sent count items by kind (see [crdt.Kinds]).
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
	// Path is how the device was reached, when it synced.
	Path Path
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

// Words renders a tally of items by kind, as in "2 boundaries and 1 check-in",
// in the order and with the words of [crdt.Kinds]. Changes to members and
// devices read "changes to the devices"; a kind this build does not know
// reads as its name ("1 item of kind x").
func Words(tally map[string]int) string {
	var parts []string
	plumbing := false
	for _, k := range crdt.Kinds() {
		c := tally[k.Name]
		switch {
		case c <= 0:
		case k.Plumbing:
			plumbing = true
		default:
			parts = append(parts, k.Count(c))
		}
	}
	var other []string
	for k, c := range tally {
		if _, ok := crdt.KindOf(k); !ok && c > 0 {
			w := "items"
			if c == 1 {
				w = "item"
			}
			other = append(other, fmt.Sprintf("%d %s of kind %q", c, w, k))
		}
	}
	slices.Sort(other)
	parts = append(parts, other...)
	if plumbing {
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
