package sync

import (
	"errors"
	"fmt"

	"github.com/trustsync/trustsync"
)

// ErrNotStarted is returned by the methods of a [Node] that need it online
// (Node.SyncOnce, Node.Connect, Node.WaitSynced, Node.Invite, Node.Join,
// Node.Unpair) when they are called before [Node.Start]. After
// [Node.Close] they return an error wrapping [trustsync.ErrClosed] instead.
var ErrNotStarted = errors.New("the node is not started")

// running returns nil while the node is online: started, its host built,
// and not closed. Otherwise it returns an error naming op that wraps
// trustsync.ErrClosed or ErrNotStarted.
func (n *Node) running(op string) error {
	n.mu.Lock()
	closing, started := n.closing, n.started
	n.mu.Unlock()
	switch {
	case closing:
		return fmt.Errorf("%s: %w", op, trustsync.ErrClosed)
	case !started || n.host == nil:
		return fmt.Errorf("%s: %w", op, ErrNotStarted)
	case n.ctx.Err() != nil:
		return fmt.Errorf("%s: %w", op, trustsync.ErrClosed)
	}
	return nil
}

// Running reports whether the node is online: Start succeeded and Close
// was not called.
func (n *Node) Running() bool { return n.running("") == nil }
