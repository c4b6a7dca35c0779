package crdt

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// SetCompactShare sets the compaction share (see compactShare) for a
// benchmark and returns a function restoring it. Not for concurrent use.
func SetCompactShare(share int) (restore func()) {
	old := compactShare
	compactShare = share
	return func() { compactShare = old }
}

// SpaceOf returns the space a Peer syncs, for helpers that send a
// document whole when GenerateMessage says so (ErrSendWhole).
func SpaceOf(p *Peer) *Space { return p.s }

// SignAs saves d as a signed bundle whose changes by s's device are signed
// with s's key: what a modified trustsync on that device could send (its
// own key signs whatever it writes).
func SignAs(s *Space, doc string, d *automerge.Doc) ([]byte, error) {
	chs, err := d.Changes()
	if err != nil {
		return nil, err
	}
	if _, err := s.PeerID(context.Background()); err != nil { // loads the key
		return nil, err
	}
	sigs := map[automerge.ChangeHash][]byte{}
	for _, c := range chs {
		if c.ActorID() == s.Self().DeviceID {
			sigs[c.Hash()] = ed25519.Sign(s.key, changeSigInput(doc, c.Hash()))
		}
	}
	return wrapSigned(d.Save(), sigs), nil
}

// Forgery says how a modified trustsync writes a change (Forge).
type Forgery struct {
	Actor    string             // the actor the change claims; default: the device's own
	Unsigned bool               // store it without a signature
	Key      ed25519.PrivateKey // sign with this key instead of the device's
	At       time.Time          // the change's time; default: now
	Message  string             // the change message; default: a plausible one
}

// Forge commits fn's raw edit of doc on s the way a modified trustsync
// would, and stores it as one of the device's own changes (chunk and
// signature, no view rows or history), so that the device's next sync
// sends it like any other.
func Forge(ctx context.Context, s *Space, doc string, f Forgery, fn func(root *automerge.Map) error) (string, error) {
	ds := s.docState(doc)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	var hash string
	err := s.st.Update(ctx, func(tx trustsync.Tx) error {
		if _, err := s.catchUp(tx, ds, true); err != nil {
			return err
		}
		d := ds.doc
		if f.Actor != "" {
			if err := d.SetActorID(f.Actor); err != nil {
				return err
			}
			defer d.SetActorID(s.Self().DeviceID)
		}
		if err := fn(d.RootMap()); err != nil {
			return err
		}
		at := f.At
		if at.IsZero() {
			at = s.now()
		}
		msg := f.Message
		if msg == "" {
			msg = `{"a":"edit","k":"item","s":"changed it"}`
		}
		h, err := d.Commit(msg, automerge.CommitOptions{Time: &at})
		if err != nil {
			return err
		}
		hash = h.String()
		if !f.Unsigned {
			k := f.Key
			if k == nil {
				if k, err = s.loadKey(tx); err != nil {
					return err
				}
			}
			if err := tx.Put(sigMeta+h.String(), ed25519.Sign(k, changeSigInput(doc, h))); err != nil {
				return err
			}
		}
		return s.storeChunk(tx, ds)
	})
	if err != nil {
		ds.drop()
	}
	return hash, err
}
