package crdt

import (
	"context"
	"crypto/ed25519"

	"github.com/automerge/automerge-go"
)

// SetCompactShare sets the compaction share (see compactShare) for a
// benchmark and returns a function restoring it. Not for concurrent use.
func SetCompactShare(share int) (restore func()) {
	old := compactShare
	compactShare = share
	return func() { compactShare = old }
}

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
