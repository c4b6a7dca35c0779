package sync

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/stagetrace"
)

// Session defaults.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultKeepAlive = 10 * time.Second
)

// SessionConfig configures a [Session]. Conn is required; every other field
// has a working zero value.
type SessionConfig struct {
	// Conn carries the frames: a libp2p stream, a net.Conn, one end of a
	// net.Pipe. If it has SetReadDeadline and SetWriteDeadline, every read
	// and write runs under a deadline. The session closes it.
	Conn io.ReadWriteCloser
	// Initiator is true on the side that opened Conn. It sends its hello
	// first; the other side answers only after checking it, so a stranger
	// learns nothing of the space.
	Initiator bool
	// RemotePeer is the authenticated libp2p peer ID of the other side, when
	// known. A device whose recorded peer ID differs is refused.
	RemotePeer string
	// TrustDevice, when set, is asked about a device the space does not
	// list (yet), for example one configured by the caller during pairing.
	// Removed devices are refused regardless. Default: refuse.
	TrustDevice func(deviceID, memberID string) bool
	// MaxFrame is the largest frame accepted or sent. Default:
	// [DefaultMaxFrame].
	MaxFrame int
	// Timeout bounds every write and the wait for the peer's hello.
	// Default: [DefaultTimeout].
	Timeout time.Duration
	// KeepAlive is how often an idle session sends a ping. A peer silent
	// for three times as long is dropped. A session in which no byte
	// moved either way for KeepAlive/5, with nothing queued, while the two
	// sides' heads differ, counts as stalled and restarts the sync states;
	// a side busy working through received frames therefore sends an
	// empty ping every KeepAlive/20 while it sends nothing else. Default:
	// [DefaultKeepAlive].
	KeepAlive time.Duration
	// Logger receives debug messages. Default: discard.
	Logger *slog.Logger

	hooks sessionHooks
}

// sessionHooks let a Node follow a session.
type sessionHooks struct {
	hello    func(Remote)
	received func(Remote, crdt.Received)
	synced   func(Remote)
	damaged  func(Remote, DocDamage)  // a document left out, on either side
	refused  func(Remote, DocRefusal) // a document left out for a refused change, on either side
	restored func(Remote, string)     // a document of this device restored from the peer
	progress func(Remote, Transfer)   // how far the transfer after the hello is (see progress.go)
	// listen returns this device's listen addresses, sent to the peer
	// after the hello and again when they change; addrs receives the
	// peer's. others returns the addresses other devices of the space
	// told this one (the peer's own left out), passed on the same way;
	// relayed receives what the peer passes on. Addresses travel only in
	// the live session, never in a document.
	listen  func() []string
	addrs   func(Remote, []string)
	others  func(peerDevice string) map[string][]string
	relayed func(Remote, map[string][]string)
}

// Remote describes the device on the other side of a session, as its hello
// and the space's members name it.
type Remote struct {
	DeviceID   string
	DeviceName string
	MemberID   string
	MemberName string
	PeerID     string // the libp2p peer ID, when known
}

// Stats counts what a session moved so far.
type Stats struct {
	BytesIn, BytesOut int64
	// Received counts the distinct items (by kind) that changes received
	// from the peer touched; Sent is the peer's own count of what it
	// received from us, as its last STATUS said.
	Received, Sent map[string]int
	// Changes is the number of Automerge changes received that were new.
	Changes int
	// Restarts counts how often the session found the sync stalled (no
	// byte moved either way, nothing queued, the two sides' heads still
	// differ) and restarted the sync states, sending again what the peer
	// may lack. A peer busy with what it received shows it (see
	// [SessionConfig.KeepAlive]) and is not counted as stalled.
	Restarts int
}

// Session runs the sync protocol with one peer over one connection. Make it
// with [NewSession], then call [Session.Run].
type Session struct {
	cfg  SessionConfig
	r    replica
	self crdt.Identity
	log  *slog.Logger

	bytesIn, bytesOut atomic.Int64
	pokes             chan chan struct{}
	notify            chan []string
	done              chan struct{}
	started           atomic.Bool

	mu       stdsync.Mutex
	remote   Remote
	hello    bool
	synced   bool
	changed  chan struct{}
	err      error
	received map[string]map[string]bool
	sent     map[string]int
	changes  int
	damage   map[DocDamage]bool // Reason left empty: the key is the document and side
	reasons  map[DocDamage]string
	restored map[string]bool
	refusals map[DocRefusal]bool // documents left out for a refused change
	restarts int

	prog progress
}

// NewSession prepares a session syncing space over cfg.Conn.
func NewSession(space *crdt.Space, cfg SessionConfig) *Session {
	return newSession(spaceReplica{space}, cfg)
}

func newSession(r replica, cfg SessionConfig) *Session {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Session{
		cfg:      cfg,
		r:        r,
		self:     r.Self(),
		log:      log,
		pokes:    make(chan chan struct{}),
		notify:   make(chan []string, 1),
		done:     make(chan struct{}),
		changed:  make(chan struct{}),
		received: map[string]map[string]bool{},
		sent:     map[string]int{},
		damage:   map[DocDamage]bool{},
		reasons:  map[DocDamage]string{},
		restored: map[string]bool{},
		refusals: map[DocRefusal]bool{},
	}
}

// Remote returns the peer's device as its hello named it; the zero value
// before the hello exchange succeeded.
func (s *Session) Remote() Remote {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote
}

// Stats returns what the session moved so far.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		BytesIn:  s.bytesIn.Load(),
		BytesOut: s.bytesOut.Load(),
		Received: map[string]int{},
		Sent:     maps.Clone(s.sent),
		Changes:  s.changes,
		Restarts: s.restarts,
	}
	for k, ids := range s.received {
		st.Received[k] = len(ids)
	}
	return st
}

// Done is closed when Run has returned.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it runs.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Notify tells the session that documents changed (for example found by
// [crdt.Space.Refresh]) so that it sends what is new. It never blocks.
func (s *Session) Notify(docs []string) {
	for {
		select {
		case s.notify <- docs:
			return
		default:
		}
		select {
		case old := <-s.notify:
			docs = append(slices.Clone(docs), old...)
		default:
		}
	}
}

// WaitSynced waits until both sides hold the same heads of every document:
// it compares the peer's latest STATUS with this device's heads as they are
// when WaitSynced is called, or later.
func (s *Session) WaitSynced(ctx context.Context) error {
	req := make(chan struct{})
	select {
	case s.pokes <- req:
	case <-s.done:
		return s.endErr()
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-req:
	case <-s.done:
		return s.endErr()
	case <-ctx.Done():
		return ctx.Err()
	}
	for {
		s.mu.Lock()
		synced, ch := s.synced, s.changed
		s.mu.Unlock()
		if synced {
			return nil
		}
		select {
		case <-ch:
		case <-s.done:
			return s.endErr()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Session) endErr() error {
	if err := s.Err(); err != nil {
		return fmt.Errorf("session ended: %w", err)
	}
	return fmt.Errorf("session ended: %w", trustsync.ErrClosed)
}

func (s *Session) setState(f func()) {
	s.mu.Lock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// outQueue is the unbounded queue between the protocol loop and the writer,
// so that the loop never blocks on a slow peer and always keeps reading.
type outQueue struct {
	mu       stdsync.Mutex
	frames   []outFrame
	finished bool
	wake     chan struct{}
}

// outFrame is an encoded frame, with the document whose data it carries
// (for progress reports), if any.
type outFrame struct {
	b   []byte
	doc string
}

func (q *outQueue) push(f []byte) { q.pushDoc(f, "") }

func (q *outQueue) pushDoc(f []byte, doc string) {
	q.mu.Lock()
	q.frames = append(q.frames, outFrame{f, doc})
	q.mu.Unlock()
	q.signal()
}

func (q *outQueue) finish() {
	q.mu.Lock()
	q.finished = true
	q.mu.Unlock()
	q.signal()
}

func (q *outQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *outQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.frames) == 0
}

func (q *outQueue) pop() (f outFrame, ok, finished bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.frames) == 0 {
		return outFrame{}, false, q.finished
	}
	f = q.frames[0]
	q.frames[0] = outFrame{}
	q.frames = q.frames[1:]
	return f, true, false
}

type deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// Run syncs until ctx is cancelled, the peer goes away or a protocol error
// happens, and returns why. A refused or malformed peer gets an ERROR frame
// with the reason before the connection closes. When this device cannot
// check what the peer sends (the space's sandbox child cannot start), Run
// ends with an error wrapping [trustsync.ErrCheckUnavailable] before the
// hello exchange, or at the first message that needs a check, and tells
// the peer it will take its data later; nothing was applied. Run closes the connection
// and, however the session ended, resets the peer's in-flight sync state so
// that the next session resumes from what was persisted. Run may be called
// once.
func (s *Session) Run(ctx context.Context) (err error) {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("sync: session already run")
	}
	var peer syncPeer
	defer func() {
		if peer != nil {
			peer.Reset()
		}
		s.setState(func() {
			s.synced = false
			s.err = err
			if s.err == nil {
				s.err = trustsync.ErrClosed
			}
		})
		close(s.done)
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, unsub := s.r.Subscribe()
	defer unsub()

	in := make(chan frame, 16)
	readErr := make(chan error, 1)
	writeErr := make(chan error, 1)
	out := &outQueue{wake: make(chan struct{}, 1)}
	var wg stdsync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); readErr <- s.readLoop(ctx, in) }()
	go func() { defer wg.Done(); writeErr <- s.writeLoop(ctx, out) }()

	p := &proto{s: s, out: out, pending: map[string]bool{}, dirty: map[string]bool{}, inStep: map[string][]string{},
		damaged: map[string]string{}, announced: map[string]string{}, theirDamaged: map[string]string{}, snapSent: map[string]bool{},
		refused: map[string]string{}, theyRefused: map[string]string{}}
	loopDone := make(chan struct{})
	wg.Add(1)
	go func() { defer wg.Done(); s.showBusy(ctx, loopDone, p) }()
	err = p.loop(ctx, in, readErr, writeErr, events)
	close(loopDone)
	peer = p.peer

	writerGone := errors.Is(err, errWriter)
	var pe *RemoteError
	unchecked := errors.Is(err, trustsync.ErrCheckUnavailable)
	if err != nil && !writerGone && !errors.As(err, &pe) && ctx.Err() == nil && (isProtocolError(err) || unchecked) {
		// Tell the peer why, then close.
		reason := err.Error()
		if unchecked {
			// Not the peer's fault, and our details are ours.
			reason = uncheckedReason
		}
		out.push(encodeFrame(frameError, appendString(nil, truncate(reason, maxString-8))))
		out.finish()
		t := time.NewTimer(min(s.cfg.Timeout, 2*time.Second))
		select {
		case <-writeErr:
		case <-t.C:
		}
		t.Stop()
	}
	cancel()
	s.cfg.Conn.Close()
	wg.Wait()
	if errors.Is(err, errWriter) {
		// Return the write's own error: errors.Unwrap gives nil for an
		// error wrapping two.
		var both interface{ Unwrap() []error }
		if errors.As(err, &both) && len(both.Unwrap()) == 2 {
			err = both.Unwrap()[1]
		}
	}
	var gone *offlineError
	if errors.As(err, &gone) && !p.helloSeen.Load() {
		// Before the device's hello, a closed or reset connection is as
		// likely a refusal (the device does not know this one) as the
		// device going offline: keep what happened.
		err = gone.beforeHello()
	}
	return err
}

var errWriter = errors.New("write")

func isProtocolError(err error) bool {
	for _, e := range []error{ErrFrameTooLarge, ErrMalformed, ErrSpaceMismatch, ErrUnknownDevice, ErrBadDoc, ErrVersion, errRejected} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// uncheckedReason is what a peer is told when this device ends a session
// because it cannot check received data (trustsync.ErrCheckUnavailable).
const uncheckedReason = "it cannot check received data right now (it takes them once it can; nothing is lost): try again later"

// errRejected marks data from the peer that crdt refused.
var errRejected = errors.New("rejected data from peer")

func (s *Session) readLoop(ctx context.Context, in chan<- frame) error {
	dl, _ := s.cfg.Conn.(deadliner)
	br := bufio.NewReaderSize(countingReader{s.cfg.Conn, &s.bytesIn}, 64<<10)
	idle := 3 * s.cfg.KeepAlive
	for {
		if dl != nil {
			dl.SetReadDeadline(time.Now().Add(idle))
		}
		f, err := readFrame(br, s.cfg.MaxFrame)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("peer silent for %v: %w", idle, err)
			}
			return offline(err)
		}
		if f.typ == frameSync {
			stagetrace.Mark("read")
		}
		select {
		case in <- f:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// showBusy tells the peer that this side is working while its loop handles
// received frames and sends nothing: the loop is one goroutine, a backlog
// of snapshots and sync messages (each checked in the sandbox) can keep it
// from sending for seconds, and the peer's watchdog would take that for a
// stall. While the loop handled a frame (or is in one) since the last
// tick, and no byte went out meanwhile, an empty PING is queued; every
// peer of this protocol version ignores an empty PING's body. It runs
// until stop is closed.
func (s *Session) showBusy(ctx context.Context, stop <-chan struct{}, p *proto) {
	t := time.NewTicker(max(s.cfg.KeepAlive/20, time.Millisecond))
	defer t.Stop()
	lastOut, lastHandled := s.bytesOut.Load(), p.handled.Load()
	for {
		select {
		case <-t.C:
		case <-stop:
			return
		case <-ctx.Done():
			return
		}
		sent, handled := s.bytesOut.Load(), p.handled.Load()
		busy := p.handling.Load() || handled != lastHandled
		if busy && sent == lastOut && p.helloSeen.Load() && p.out.empty() {
			p.out.push(encodeFrame(framePing, nil))
		}
		lastOut, lastHandled = sent, handled
	}
}

func (s *Session) writeLoop(ctx context.Context, q *outQueue) error {
	dl, _ := s.cfg.Conn.(deadliner)
	ping := time.NewTimer(s.cfg.KeepAlive)
	defer ping.Stop()
	write := func(b []byte) error {
		if dl != nil {
			dl.SetWriteDeadline(time.Now().Add(s.cfg.Timeout))
		}
		n, err := s.cfg.Conn.Write(b)
		s.bytesOut.Add(int64(n))
		if err != nil {
			return fmt.Errorf("%w: %w", errWriter, offline(err))
		}
		ping.Reset(s.cfg.KeepAlive)
		return nil
	}
	for {
		f, ok, finished := q.pop()
		if ok {
			if err := write(f.b); err != nil {
				return err
			}
			if f.doc != "" {
				stagetrace.Mark("written")
				s.progressSent(f.doc)
			}
			continue
		}
		if finished {
			return nil
		}
		select {
		case <-q.wake:
		case <-ping.C:
			if err := write(encodeFrame(framePing, nil)); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

const binaryLenMax = 10

// errPending ends a session that received a change signed by a device not
// known yet (its certificate is in a space document change still on its
// way); the next session starts with the space document.
var errPending = errors.New("a change comes from a device whose certificate has not arrived yet; syncing again")

// errResend ends a session that took in a change whose covering signature
// this device had received with it earlier and no longer holds; the next
// session sends it again, with its signature.
var errResend = errors.New("a change arrived earlier without the change it depends on, and its signature is no longer at hand; syncing again")

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
