package crdt

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt/internal/sandbox"
)

// identityKey is the store meta key holding the JSON of this device's
// [Identity].
const identityKey = "identity"

// Space is one couple's shared space on this device: every shared document,
// kept in a [trustsync.Store]. It is safe for concurrent use by several
// goroutines, and several processes may open spaces on one store.
type Space struct {
	// The methods live by seam: the lifecycle in this file, loading in
	// load.go, local edits in write.go, syncing in exchange.go and
	// peer.go, who may write what in trust.go and verify.go, one file per
	// kind of item; docs/CODEMAP.md lists every file.

	st           trustsync.Store
	log          *slog.Logger
	now          func() time.Time
	compactAfter int
	mem          *memGuard
	checker      *sandbox.Checker // nil with Options.NoSandbox
	peers        peerSet          // the exchange state with each remote device, under its own lock (peer.go)

	clock clock // hands out s.now's times (clock.go)

	mu       sync.Mutex // guards everything below; never held while waiting for a document
	id       Identity
	closed   bool
	docs     map[string]*docState
	seen     map[string]int64 // per document, the highest chunk Seq this space has seen
	lastSeen int64            // the store's LastSeq at the last Refresh (or Open)
	subs     map[*subscriber]struct{}
	key      ed25519.PrivateKey // this device's signing key, once loaded (sign.go)
}

func newSpace(st trustsync.Store, opts Options) *Space {
	s := &Space{
		st:           st,
		log:          opts.Logger,
		compactAfter: opts.CompactAfter,
		mem:          newMemGuard(),
		docs:         map[string]*docState{},
		seen:         map[string]int64{},
		subs:         map[*subscriber]struct{}{},
	}
	if !opts.NoSandbox {
		s.checker = sandbox.New(sandbox.Options{})
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.clock.src = opts.Now
	if s.clock.src == nil {
		s.clock.src = time.Now
	}
	s.now = s.clock.now
	if s.compactAfter <= 0 {
		s.compactAfter = 64
	}
	return s
}

// Create makes a new space in an empty store, with the caller as its first
// member and this device as its first device. It fails with
// [trustsync.ErrAlreadyInitialized] if the store already holds a space.
func Create(ctx context.Context, st trustsync.Store, opts CreateOptions) (*Space, error) {
	name := strings.TrimSpace(opts.MemberName)
	if name == "" {
		return nil, fmt.Errorf("create space: a member name is required: %w", trustsync.ErrInvalid)
	}
	if err := CheckText("the name", name, true); err != nil {
		return nil, fmt.Errorf("create space: %w", err)
	}
	if err := checkLen("the name", name, MaxNameLen); err != nil {
		return nil, fmt.Errorf("create space: %w", err)
	}
	dev, lineErr := optionalLine("the device name", opts.DeviceName, MaxNameLen)
	if lineErr != nil {
		return nil, fmt.Errorf("create space: %w", lineErr)
	}
	if dev == "" {
		dev, _ = os.Hostname()
		if dev == "" {
			dev = "device"
		}
	}
	s := newSpace(st, opts.Options)
	s.id = Identity{
		SpaceID:    newID(),
		MemberID:   newID(),
		MemberName: name,
		DeviceID:   newDeviceID(),
		DeviceName: dev,
	}
	ds := s.docState(SpaceDoc)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	var e edit
	err := st.Update(ctx, func(tx trustsync.Tx) error {
		if _, err := tx.Get(identityKey); err == nil {
			return trustsync.ErrAlreadyInitialized
		} else if !errors.Is(err, trustsync.ErrNotFound) {
			return err
		}
		b, err := json.Marshal(s.id)
		if err != nil {
			return err
		}
		if err := tx.Put(identityKey, b); err != nil {
			return err
		}
		// Every change of a new space is signed: there is nothing to seal.
		if err := tx.Put(sealedMeta, []byte("new")); err != nil {
			return err
		}
		at := s.now()
		e, err = s.writeTx(tx, ds, at, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
			if err := putMember(root, s.id.MemberID, name, at); err != nil {
				return edit{}, err
			}
			if err := putDevice(root, trustsync.Device{
				ID: s.id.DeviceID, Name: dev, Owner: trustsync.Person{ID: s.id.MemberID}, AddedAt: at,
			}, at); err != nil {
				return edit{}, err
			}
			return edit{action: "create", kind: "space", summary: fmt.Sprintf("created the space on %q", dev),
				touched: []ItemRef{{KindMember, s.id.MemberID}, {KindDevice, s.id.DeviceID}}}, nil
		})
		if err != nil {
			return err
		}
		s.lastSeen, err = tx.LastSeq()
		return err
	})
	if err != nil {
		ds.drop()
		return nil, fmt.Errorf("create space: %w", err)
	}
	s.noteSeen(SpaceDoc, ds.seq)
	_ = e
	return s, nil
}

// Open opens the space held in st. It fails with [trustsync.ErrNotInitialized]
// if there is none. Open reads no Automerge document; documents are loaded
// when first written or synced.
func Open(ctx context.Context, st trustsync.Store, opts Options) (*Space, error) {
	s := newSpace(st, opts)
	err := st.View(ctx, func(tx trustsync.ReadTx) error {
		b, err := tx.Get(identityKey)
		if errors.Is(err, trustsync.ErrNotFound) {
			return trustsync.ErrNotInitialized
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &s.id); err != nil {
			return &trustsync.DamagedError{What: "the identity record", Why: err.Error(),
				Hint: "restore a backup, or create the space again and pair"}
		}
		if !validDeviceID(s.id.DeviceID) {
			return &trustsync.DamagedError{What: "the identity record", Why: "invalid device ID",
				Hint: "restore a backup, or create the space again and pair"}
		}
		s.lastSeen, err = tx.LastSeq()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open space: %w", err)
	}
	if err := s.beginSigning(ctx); err != nil {
		return nil, fmt.Errorf("open space: %w", err)
	}
	return s, nil
}

// Close releases the space's documents and subscriptions; it does not close
// the store. Safe to call twice.
func (s *Space) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for sub := range s.subs {
		close(sub.ch)
		delete(s.subs, sub)
	}
	s.docs = map[string]*docState{}
	s.peers.close()
	if s.checker != nil {
		return s.checker.Close()
	}
	return nil
}

// CheckReady reports whether bytes that must be checked before they are
// loaded (stored chunks of a document not in memory, a peer's sync messages
// and documents) can be checked now: nil, or an error wrapping
// [trustsync.ErrCheckUnavailable] that says why. It starts the sandbox
// child when none runs, so a caller that waits for the child to become
// available again (the sync node before a session) calls it to find out.
// Without a sandbox (Options.NoSandbox) it returns nil.
func (s *Space) CheckReady(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.vet(ctx, "", func(c *sandbox.Checker) error { return c.Start(ctx) })
}

// Self returns who writes on this device.
func (s *Space) Self() Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// check returns ErrClosed once the space is closed.
func (s *Space) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("space: %w", trustsync.ErrClosed)
	}
	return nil
}

// docState returns the cache entry of a document, creating it.
func (s *Space) docState(id string) *docState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.docs[id]
	if ds == nil {
		ds = &docState{id: id}
		s.docs[id] = ds
	}
	return ds
}

func (s *Space) noteSeen(doc string, seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq > s.seen[doc] {
		s.seen[doc] = seq
	}
}

// Adopt joins this device's documents to another space, the partner's: it
// sets the space ID, and at the next sync this device's documents and the
// partner's merge (nothing either wrote is lost, since every item has its own
// random key). Pairing uses [Space.JoinSpace] instead, which takes the
// space ID only together with the partner's records, in one transaction.
func (s *Space) Adopt(ctx context.Context, spaceID string) error {
	spaceID = strings.TrimSpace(spaceID)
	if spaceID == "" {
		return fmt.Errorf("adopt: no space ID given: %w", trustsync.ErrInvalid)
	}
	if err := s.check(); err != nil {
		return err
	}
	s.mu.Lock()
	id := s.id
	s.mu.Unlock()
	id.SpaceID = spaceID
	b, err := json.Marshal(id)
	if err != nil {
		return err
	}
	if err := s.st.Update(ctx, func(tx trustsync.Tx) error { return tx.Put(identityKey, b) }); err != nil {
		return fmt.Errorf("adopt space: %w", err)
	}
	s.mu.Lock()
	s.id.SpaceID = spaceID
	s.mu.Unlock()
	return nil
}
