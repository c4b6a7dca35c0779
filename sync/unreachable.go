package sync

import (
	"context"
	"errors"
	"net"
	"syscall"

	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

// UnreachableError is a device that could not be reached. Its Error says
// why in a few words a person can act on ("nothing is listening at its
// address (connection refused)"), rather than libp2p's list of every
// address tried; Unwrap returns libp2p's error, with all of that.
type UnreachableError struct {
	Err error
}

func (e *UnreachableError) Error() string {
	var mismatch sec.ErrPeerIDMismatch
	var pmismatch *sec.ErrPeerIDMismatch
	var timeout interface{ Timeout() bool }
	err := e.Err
	switch {
	case errors.As(err, &mismatch), errors.As(err, &pmismatch):
		return "another device answers at its address: it may have been set up again, so pair again"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing is listening at its address (connection refused)"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "this device has no route to its address: check the network"
	case errors.Is(err, swarm.ErrDialBackoff):
		return "it did not answer a moment ago: try again in a minute"
	case errors.Is(err, swarm.ErrNoAddresses), errors.Is(err, swarm.ErrNoGoodAddresses):
		return "no address is known for it"
	case errors.Is(err, swarm.ErrGaterDisallowedConnection):
		return "it is not a device this one syncs with"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &timeout) && timeout.Timeout():
		return "it did not answer in time"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "its address names a host that cannot be found (" + dns.Name + ")"
	}
	return "the connection failed"
}

// Unwrap returns libp2p's error.
func (e *UnreachableError) Unwrap() error { return e.Err }
