package crdt

// Temporary stubs: the signatures are final, the bodies are being written.
// Each method moves to its real file as it is implemented; this file is then
// deleted.

import (
	"context"
	"errors"
	"time"

	"github.com/trustsync/trustsync"
)

var errTODO = errors.New("crdt: not implemented yet")

// Space is one couple's shared space on this device: every shared document,
// kept in a [trustsync.Store]. It is safe for concurrent use by several
// goroutines, and several processes may open spaces on one store.
type Space struct{}

// Create makes a new space in an empty store, with the caller as its first
// member and this device as its first device. It fails with
// [trustsync.ErrAlreadyInitialized] if the store already holds a space.
func Create(ctx context.Context, st trustsync.Store, opts CreateOptions) (*Space, error) {
	return nil, errTODO
}

// Open opens the space held in st. It fails with [trustsync.ErrNotInitialized]
// if there is none. Open reads no Automerge document; documents are loaded
// when first written or synced.
func Open(ctx context.Context, st trustsync.Store, opts Options) (*Space, error) {
	return nil, errTODO
}

// Close releases the space's documents and subscriptions; it does not close
// the store. Safe to call twice.
func (s *Space) Close() error { return errTODO }

// Self returns who writes on this device.
func (s *Space) Self() Identity { return Identity{} }

// Members returns the partners of the space with their devices.
func (s *Space) Members(ctx context.Context) ([]trustsync.Member, error) { return nil, errTODO }

// Partner returns the other member, or an error wrapping
// [trustsync.ErrNotFound] before pairing.
func (s *Space) Partner(ctx context.Context) (trustsync.Member, error) {
	return trustsync.Member{}, errTODO
}

// AddBoundary proposes a boundary; the proposer's agreement is not implied.
func (s *Space) AddBoundary(ctx context.Context, text string) (string, error) { return "", errTODO }

// Boundaries lists boundaries, oldest first.
func (s *Space) Boundaries(ctx context.Context, opts ListOptions) ([]trustsync.Boundary, error) {
	return nil, errTODO
}

// Boundary returns one boundary; id may be an unambiguous prefix of at least
// [trustsync.MinIDPrefix] characters.
func (s *Space) Boundary(ctx context.Context, id string) (trustsync.Boundary, error) {
	return trustsync.Boundary{}, errTODO
}

// EditBoundary replaces a boundary's text. Earlier agreements stop counting.
func (s *Space) EditBoundary(ctx context.Context, id, text string) error { return errTODO }

// AgreeBoundary records this member's agreement to the current text.
func (s *Space) AgreeBoundary(ctx context.Context, id string) error { return errTODO }

// ArchiveBoundary hides a boundary; RestoreBoundary brings it back.
func (s *Space) ArchiveBoundary(ctx context.Context, id string) error { return errTODO }

// RestoreBoundary undoes ArchiveBoundary.
func (s *Space) RestoreBoundary(ctx context.Context, id string) error { return errTODO }

// AddGoal adds a goal.
func (s *Space) AddGoal(ctx context.Context, title, why string) (string, error) {
	return "", errTODO
}

// EditGoal changes a goal's title or why.
func (s *Space) EditGoal(ctx context.Context, id string, e GoalEdit) error { return errTODO }

// AddStep adds a step to a goal and returns the step's ID.
func (s *Space) AddStep(ctx context.Context, goalID, text string) (string, error) {
	return "", errTODO
}

// MarkDone marks a goal or a step (given either's ID or prefix) done. It
// returns the kind it marked: [KindGoal] or [KindStep].
func (s *Space) MarkDone(ctx context.Context, id string) (string, error) { return "", errTODO }

// ArchiveGoal hides a goal; RestoreGoal brings it back.
func (s *Space) ArchiveGoal(ctx context.Context, id string) error { return errTODO }

// RestoreGoal undoes ArchiveGoal.
func (s *Space) RestoreGoal(ctx context.Context, id string) error { return errTODO }

// Goals lists goals, oldest first.
func (s *Space) Goals(ctx context.Context, opts ListOptions) ([]trustsync.Goal, error) {
	return nil, errTODO
}

// Goal returns one goal by ID or prefix.
func (s *Space) Goal(ctx context.Context, id string) (trustsync.Goal, error) {
	return trustsync.Goal{}, errTODO
}

// AddCheckIn records a check-in by this member.
func (s *Space) AddCheckIn(ctx context.Context, c trustsync.NewCheckIn) (string, error) {
	return "", errTODO
}

// CheckIns lists check-ins, newest first.
func (s *Space) CheckIns(ctx context.Context) ([]trustsync.CheckIn, error) { return nil, errTODO }

// CheckIn returns one check-in by ID or prefix.
func (s *Space) CheckIn(ctx context.Context, id string) (trustsync.CheckIn, error) {
	return trustsync.CheckIn{}, errTODO
}

// AckCheckIn records this member's acknowledgement of a check-in, with an
// optional reply.
func (s *Space) AckCheckIn(ctx context.Context, id, reply string) error { return errTODO }

// History returns who changed what, newest first.
func (s *Space) History(ctx context.Context, opts HistoryOptions) ([]trustsync.Change, error) {
	return nil, errTODO
}

// Subscribe returns a channel of events and a function that ends the
// subscription and closes the channel.
func (s *Space) Subscribe() (<-chan Event, func()) { return nil, func() {} }

// Refresh catches up with writes made by other processes on the same store and
// returns the documents that changed. Sync calls it periodically.
func (s *Space) Refresh(ctx context.Context) ([]string, error) { return nil, errTODO }

// Docs returns the IDs of every shared document in the space.
func (s *Space) Docs(ctx context.Context) ([]string, error) { return nil, errTODO }

// Heads returns the current heads of a document as hex change hashes, sorted;
// nil for a document this device does not have.
func (s *Space) Heads(ctx context.Context, doc string) ([]string, error) { return nil, errTODO }

// Save returns the whole document as Automerge bytes (what JavaScript
// Automerge.load reads), or nil for a document this device does not have.
func (s *Space) Save(ctx context.Context, doc string) ([]byte, error) { return nil, errTODO }

// Import merges a whole saved document from a peer (the bytes of Save) into
// the local one and stores the result durably.
func (s *Space) Import(ctx context.Context, doc string, data []byte, from string) (Received, error) {
	return Received{}, errTODO
}

// Adopt joins this device's documents to another space, the partner's: it
// sets the space ID, and at the next sync this device's documents and the
// partner's merge (nothing either wrote is lost, since every item has its own
// random key). Pairing calls it on the joining device.
func (s *Space) Adopt(ctx context.Context, spaceID string) error { return errTODO }

// AddDevice records a device of a member (this one or the partner) in the
// space document; the member record is created from d.Owner when missing.
// Pairing calls it on the inviting device.
func (s *Space) AddDevice(ctx context.Context, d trustsync.Device) error { return errTODO }

// SetDeviceAddrs records this device's libp2p peer ID and listen addresses in
// the space document, so that partner devices can redial it.
func (s *Space) SetDeviceAddrs(ctx context.Context, peerID string, addrs []string) error {
	return errTODO
}

// Peer returns the sync state of this space with one remote device, loading
// what was persisted for it.
func (s *Space) Peer(deviceID string) *Peer { return nil }

// Peer holds the Automerge sync states of a space with one remote device, one
// per document, persisted in the store so a reconnect sends only what is
// missing. Its methods are safe for concurrent use.
type Peer struct{}

// GenerateMessage returns the next sync message for doc, or ok == false when
// there is nothing to send.
func (p *Peer) GenerateMessage(ctx context.Context, doc string) (msg []byte, ok bool, err error) {
	return nil, false, errTODO
}

// ReceiveMessage applies a sync message for doc from this peer and stores the
// result durably together with the updated sync state.
func (p *Peer) ReceiveMessage(ctx context.Context, doc string, msg []byte) (Received, error) {
	return Received{}, errTODO
}

// Reset forgets the in-flight part of every sync state (after a broken
// connection), keeping what was persisted.
func (p *Peer) Reset() {}

var _ = time.Now
