package sync

import (
	"fmt"
	stdsync "sync"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trustsync/trustsync/crdt"
)

// EventType says what an [Event] reports.
type EventType int

// Event types.
const (
	// PeerOnline: a hello exchange with a paired device succeeded.
	PeerOnline EventType = iota + 1
	// PeerOffline: the session with a device ended; Err says why: an
	// error wrapping [ErrOffline] when the device went offline (its
	// trustsync stopped, its connection closed or was reset), which is no
	// failure; one wrapping [trustsync.ErrClosed] (and context.Canceled)
	// when this node is closing; a [*RefusedError] when one side refused
	// the other.
	PeerOffline
	// ChangesReceived: changes from a device were applied; Received says
	// which items they touched.
	ChangesReceived
	// Synced: both sides hold the same heads of every document.
	Synced
	// DocDamaged: a session leaves a document out because it is damaged
	// on one side; Damage says which, where and why. The other documents
	// sync on.
	DocDamaged
	// DocRestored: a damaged document of this device was restored from the
	// device's copy; Damage.Doc names it.
	DocRestored
	// Refused: a session ended because one side refused the other; Err is
	// a [*RefusedError]. A device that keeps sending what is refused is
	// reported again at each attempt.
	Refused
	// ChecksUnavailable: a session ended, or did not start, because this
	// device cannot check what peers send before applying it (the space's
	// sandbox child cannot start: too few file descriptors, say); Err
	// says why and wraps [trustsync.ErrCheckUnavailable]. Nothing was
	// applied. It is reported once; the node keeps redialing with backoff
	// and reports ChecksRestored when a session passes its hello again.
	ChecksUnavailable
	// ChecksRestored: after ChecksUnavailable, a session passed its hello:
	// checks work again and syncing resumed.
	ChecksRestored
	// ChangeRefused: a change for a document failed its signature or a
	// write rule, on this device (Refusal.Remote false: the device sent a
	// change this one refuses; the space records it, see
	// [crdt.Space.Refusals]) or on the peer (it refused one of this
	// device's). The document is left out for the rest of the session;
	// the others sync on.
	ChangeRefused
	// Progress: how far a session is with the documents its hello
	// exchange found to differ; Progress says how many of them were
	// received and sent so far, of how many, and the bytes both ways. It
	// is reported after the hello exchange, then at most every 100 ms as
	// documents move, and last (Progress.Done) when both sides first
	// hold the same heads, just before Synced. A session whose devices
	// were in step already reports none. A session that ends before it
	// is done reports PeerOffline without a last Progress.
	Progress
	// PathChanged: how a device is reached changed (see [Node.Path]):
	// it came online, its session moved from a relay to a direct
	// connection, or it went offline. Path says the new one.
	PathChanged
)

func (t EventType) String() string {
	switch t {
	case PeerOnline:
		return "online"
	case PeerOffline:
		return "offline"
	case ChangesReceived:
		return "changes received"
	case Synced:
		return "synced"
	case DocDamaged:
		return "document damaged"
	case DocRestored:
		return "document restored"
	case Refused:
		return "refused"
	case ChecksUnavailable:
		return "checks unavailable"
	case ChecksRestored:
		return "checks restored"
	case ChangeRefused:
		return "change refused"
	case Progress:
		return "progress"
	case PathChanged:
		return "path changed"
	case Paired:
		return "paired"
	case PairRefused:
		return "pairing refused"
	case Unpaired:
		return "unpaired"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is something that happened to a sync session.
type Event struct {
	Type     EventType
	Peer     peer.ID
	Remote   Remote
	Received crdt.Received // ChangesReceived only
	Err      error         // PeerOffline, Refused and ChecksUnavailable only
	Damage   DocDamage     // DocDamaged and DocRestored only
	Refusal  DocRefusal    // ChangeRefused only
	Progress Transfer      // Progress only
	Path     Path          // PathChanged only
}

// Subscribe returns a channel of session events and a function that ends the
// subscription. A subscriber that falls behind by more than 64 events misses
// the excess; the channel closes at Close.
func (n *Node) Subscribe() (<-chan Event, func()) { return n.events.subscribe() }

func (n *Node) emit(ev Event) { n.events.emit(ev) }

// eventHub hands a node's events to its subscribers. Its mutex is never
// held while taking another.
type eventHub struct {
	mu      stdsync.Mutex
	stopped bool // the node is closing: no new subscribers
	subs    map[chan Event]struct{}
}

// subscribe is [Node.Subscribe]. Once the hub is stopped it returns a
// closed channel.
func (h *eventHub) subscribe() (<-chan Event, func()) {
	c := make(chan Event, 64)
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		close(c)
		return c, func() {}
	}
	if h.subs == nil {
		h.subs = map[chan Event]struct{}{}
	}
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[c]; ok {
			delete(h.subs, c)
			close(c)
		}
	}
}

// emit hands ev to every subscriber with room for it.
func (h *eventHub) emit(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c <- ev:
		default:
		}
	}
}

// stop refuses new subscribers; those subscribed keep receiving until
// close.
func (h *eventHub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
}

// close closes every subscriber's channel.
func (h *eventHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		close(c)
	}
	clear(h.subs)
}
