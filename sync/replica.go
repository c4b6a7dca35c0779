package sync

import (
	"context"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// replica is the part of a [crdt.Space] a session drives. *crdt.Space
// satisfies it through spaceReplica; tests may use another.
type replica interface {
	Self() crdt.Identity
	Members(ctx context.Context) ([]trustsync.Member, error)
	Docs(ctx context.Context) ([]string, error)
	Heads(ctx context.Context, doc string) ([]string, error)
	SaveSigned(ctx context.Context, doc string) ([]byte, error)
	Import(ctx context.Context, doc string, data []byte, from string) (crdt.Received, error)
	Subscribe() (<-chan crdt.Event, func())
	CheckReady(ctx context.Context) error
	syncPeer(deviceID string) syncPeer
}

// syncPeer is the part of a [crdt.Peer] a session drives.
type syncPeer interface {
	GenerateMessage(ctx context.Context, doc string) ([]byte, bool, error)
	ReceiveMessage(ctx context.Context, doc string, msg []byte) (crdt.Received, error)
	Assume(ctx context.Context, doc string, heads []string) error
	Reset()
}

type spaceReplica struct{ *crdt.Space }

func (r spaceReplica) syncPeer(deviceID string) syncPeer { return r.Peer(deviceID) }

// device finds a device of the space by ID.
func findDevice(members []trustsync.Member, deviceID string) (trustsync.Device, trustsync.Member, bool) {
	for _, m := range members {
		for _, d := range m.Devices {
			if d.ID == deviceID {
				return d, m, true
			}
		}
	}
	return trustsync.Device{}, trustsync.Member{}, false
}
