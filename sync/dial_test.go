package sync

import (
	"context"
	"testing"
	"time"
)

// Two devices that come back online together dial each other at the same
// moment. Both must reach the other, over TCP and over QUIC: with TCP port
// reuse, such dials met in one TCP connection on which both sides started
// the handshake as its initiator, and both failed about half the time.
func TestNode_DevicesDialingEachOtherAtOnceBothSync(t *testing.T) {
	for _, listen := range []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"} {
		t.Run(listen, func(t *testing.T) {
			a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
			pairAll(t, a, b)
			na, nb := a.start(t, listen), b.start(t, listen)
			connect(t, na, nb)
			waitSynced(t, na, nb)
			waitAddrs(t, a, b)
			waitAddrs(t, b, a)
			listenA, listenB := addrStrings(na), addrStrings(nb)
			na.Close()
			nb.Close()
			for round := range 20 {
				na, nb := a.start(t, listenA...), b.start(t, listenB...)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				start := make(chan struct{})
				errs := make(chan error, 2)
				for _, n := range []*Node{na, nb} {
					go func() {
						<-start
						_, err := n.SyncOnce(ctx)
						errs <- err
					}()
				}
				close(start)
				for range 2 {
					if err := <-errs; err != nil {
						t.Errorf("round %d: %v", round, err)
					}
				}
				cancel()
				na.Close()
				nb.Close()
			}
		})
	}
}
