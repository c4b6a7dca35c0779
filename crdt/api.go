package crdt

// This file is the public API of the package, fixed first so that the CLI and
// the sync layer can be written against it. Bodies live in the other files.

import (
	"context"
	"log/slog"
	"time"

	"github.com/trustsync/trustsync"
)

// SchemaMajor and SchemaMinor are the document schema version this build
// writes. A document whose major version is higher opens read-only.
const (
	SchemaMajor = 1
	SchemaMinor = 0
)

// Identity is who writes on this device: the partner (member) and the device.
// DeviceID is 32 lowercase hex characters and doubles as the Automerge actor
// ID of every change made here.
type Identity struct {
	SpaceID    string `json:"space_id"`
	MemberID   string `json:"member_id"`
	MemberName string `json:"member_name"`
	DeviceID   string `json:"device_id"`
	DeviceName string `json:"device_name"`
}

// Options configure Create and Open. The zero value works for every field
// but the store, which is passed separately.
type Options struct {
	// Logger receives debug and warning messages. Default: discard.
	Logger *slog.Logger
	// Now returns the current time. Default: time.Now.
	Now func() time.Time
	// CompactAfter is how many incremental chunks a document may collect
	// before it is compacted into one snapshot. Default: 64. A document is
	// also compacted, whatever this says, once its incremental chunks hold
	// more than a quarter of its snapshot's bytes.
	CompactAfter int
	// NoSandbox turns off the child process that applies every sync message
	// and imported document from a peer before it reaches the real document
	// (see "Untrusted bytes" in the package documentation). Without it, a
	// malformed message can abort the whole process. Default: false (the
	// sandbox is on); turn it off only for inputs you produced yourself,
	// such as benchmarks of the raw library. With it, stored chunks are
	// loaded unchecked too. Without it, an operation whose bytes cannot be
	// checked (the child cannot start) fails with
	// trustsync.ErrCheckUnavailable rather than load them.
	NoSandbox bool
}

// CreateOptions name the first partner and device of a new space.
type CreateOptions struct {
	Options
	MemberName string // required
	DeviceName string // default: the host name
}

// ListOptions select what a listing returns.
type ListOptions struct {
	All bool // include archived items
}

// HistoryOptions select history entries.
type HistoryOptions struct {
	Limit  int    // at most this many, newest first; 0 means all
	Offset int    // skip this many of the newest
	Item   string // only changes of this item (full ID)
}

// GoalEdit changes a goal's fields; nil fields are left alone.
type GoalEdit struct {
	Title *string
	Why   *string
}

// ItemRef names one item of the view: its kind (see [Kinds]) and ID, as
// events and receipts carry it. It has the fields of [trustsync.ItemRef],
// which a [trustsync.Setback] names what it is about with, and converts to
// it.
type ItemRef trustsync.ItemRef

// Event tells a subscriber that documents changed, locally or from a peer.
type Event struct {
	Doc    string    // the document that changed
	Items  []ItemRef // the items it touched, when known
	Remote bool      // the change came from another device or process
	From   string    // the device ID of the peer, for changes received by sync
	// Lost is set instead of Doc when the subscriber fell behind and events
	// were dropped; re-read everything.
	Lost bool
}

// Received summarises what a sync message or imported document brought.
type Received struct {
	Doc     string
	Changes int       // Automerge changes applied that were new here
	Items   []ItemRef // items they touched
	// Restored is the number of damaged chunks that [Space.Import] set
	// aside before merging the peer's copy into the intact rest of the
	// document; 0 when the document was not damaged.
	Restored int
}

var (
	_ = context.Background
	_ trustsync.Store
)
