package sync

import (
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/libp2p/go-libp2p/core/network"
)

// ErrOffline is what a session ends with when the other device ended it,
// after the hello exchange, without a word: its trustsync stopped (serve
// interrupted, a one-shot sync done), or its connection closed or was
// reset. It is how a session normally ends, not a failure of either side;
// a [PeerOffline] event carries it in Event.Err. Nothing received before
// is lost: every document is stored as it arrives.
var ErrOffline = errors.New("the device went offline")

// offlineError is [ErrOffline] keeping the transport's own error, for
// errors.Is and debug logs only: what a user reads is one line without
// transport internals ("connection reset by peer", "stream reset").
type offlineError struct {
	cause error
}

func (e *offlineError) Error() string { return ErrOffline.Error() }

// Unwrap returns ErrOffline and the transport's error.
func (e *offlineError) Unwrap() []error { return []error{ErrOffline, e.cause} }

// beforeHello is what a session that ended this way before the device's
// hello reports instead: not ErrOffline, since a device that refuses this
// one closes or resets the connection too.
func (e *offlineError) beforeHello() error {
	if errors.Is(e.cause, io.EOF) {
		return fmt.Errorf("peer closed the connection: %w", e.cause)
	}
	return e.cause
}

// offline returns err as an error wrapping [ErrOffline] when it says the
// other device closed or reset the connection, and err itself otherwise
// (nil stays nil), or when this node closed a QUIC connection normally on
// purpose. A connection that fell silent is not offline in this sense (the
// session reports the silence), nor is a stream or connection this side
// reset, nor any error of the protocol.
func offline(err error) error {
	if err == nil || errors.Is(err, ErrOffline) || !wentOffline(err) {
		return err
	}
	return &offlineError{cause: err}
}

// wentOffline reports whether err is the other end closing or resetting the
// connection.
func wentOffline(err error) bool {
	var se *network.StreamError
	if errors.As(err, &se) {
		return se.Remote
	}
	var ce *network.ConnError
	if errors.As(err, &ce) {
		// A QUIC connection closed with code 0 on this side too: the
		// node closed it on purpose (this device changed network, or the
		// session moved to a direct connection) and dials again at once.
		return ce.Remote || ce.ErrorCode == 0
	}
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// A close, possibly in the middle of a frame: what was cut off
		// is not applied.
		return true
	case errors.Is(err, network.ErrReset):
		// A stream reset without a side (yamux over TCP): this side
		// resets its streams only after its session ended.
		return true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}
