package sync

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/trustsync/trustsync/internal/stagetrace"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
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

// DocDamage names a document that a session leaves out because it is
// damaged on one side, while it syncs every other document.
type DocDamage struct {
	Doc string
	// Remote is true when the document is damaged on the peer's device, as
	// the peer said; false when this device cannot read it.
	Remote bool
	// Reason says what is damaged, on one line.
	Reason string
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

// Damaged returns the documents the session leaves out because they are
// damaged, now: first those this device cannot read, then those the peer
// said it cannot read, each sorted by ID. A damaged document of this device
// is restored when the peer sends its copy (see [crdt.Space.Import]); it
// is then listed by [Session.Restored] instead.
func (s *Session) Damaged() []DocDamage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DocDamage
	for k := range s.damage {
		out = append(out, DocDamage{Doc: k.Doc, Remote: k.Remote, Reason: s.reasons[k]})
	}
	slices.SortFunc(out, func(a, b DocDamage) int { return bySide(a.Remote, b.Remote, a.Doc, b.Doc) })
	return out
}

// Refusals returns the documents left out of the session because a change
// for them was refused, on either side, sorted.
func (s *Session) Refusals() []DocRefusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Collect(maps.Keys(s.refusals))
	slices.SortFunc(out, func(a, b DocRefusal) int { return bySide(a.Remote, b.Remote, a.Doc, b.Doc) })
	return out
}

// bySide orders documents left out of a session: this device's first, then
// the peer's, each by document.
func bySide(aRemote, bRemote bool, aDoc, bDoc string) int {
	if aRemote != bRemote {
		if aRemote {
			return 1
		}
		return -1
	}
	return strings.Compare(aDoc, bDoc)
}

// Restored returns the documents of this device that were damaged and were
// restored from the peer's copy during the session, sorted.
func (s *Session) Restored() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.restored))
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

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// proto is the state of the loop goroutine of Run.
type proto struct {
	s    *Session
	out  *outQueue
	peer syncPeer

	remote     Remote
	helloDone  bool
	theirDocs  map[string]bool
	theirHeads map[string][]string // the heads the peer's hello advertised, sorted
	inStep     map[string][]string // docs imported from the peer's snapshot at these heads, no message since
	myHeads    map[string][]string
	pending    map[string]bool // docs to generate messages for
	dirty      map[string]bool // docs whose heads may have changed
	allDirty   bool
	peerDigest *[sha256.Size]byte
	sentDigest *[sha256.Size]byte
	sentTally  map[string]int
	tally      map[string]int
	waiters    []chan struct{}

	// Damage stays per document: a document this device cannot read is
	// left out of the hello and the digest, the peer is told (DAMAGED),
	// and the peer's copy, sent whole, restores it. A document the peer
	// cannot read is sent to it whole once, then left out until it says
	// it is readable again.
	damaged      map[string]string // docs this device cannot read -> why
	announced    map[string]string // what the peer was last told of them
	theirDamaged map[string]string // docs the peer said it cannot read -> why
	snapSent     map[string]bool   // docs sent whole in this session
	// A document for which this device refused a change the peer sent
	// (a forged or unverifiable one), or the peer refused one of this
	// device's, is left out for the rest of the session.
	refused     map[string]string // doc -> why this device refused the peer's change
	theyRefused map[string]string // doc -> why the peer refused this device's

	addrsSent  []string            // the listen addresses last sent to the peer
	othersSent map[string][]string // the other devices' addresses last passed on

	// Read by showBusy: whether the loop is handling a frame, how many it
	// handled, whether the hello exchange is done.
	handling  atomic.Bool
	handled   atomic.Int64
	helloSeen atomic.Bool
}

// handleFrame handles f, marked as work in progress for showBusy.
func (p *proto) handleFrame(ctx context.Context, f frame) error {
	p.handling.Store(true)
	defer func() {
		p.handling.Store(false)
		p.handled.Add(1)
	}()
	return p.handle(ctx, f)
}

func (p *proto) send(typ byte, body []byte) error { return p.sendDoc(typ, body, "") }

// sendDoc queues a frame carrying doc's data (none when doc is empty).
func (p *proto) sendDoc(typ byte, body []byte, doc string) error {
	f := encodeFrame(typ, body)
	if len(f) > p.s.cfg.MaxFrame+binaryLenMax {
		return fmt.Errorf("%w: outgoing frame of %d bytes", ErrFrameTooLarge, len(f))
	}
	p.out.pushDoc(f, doc)
	return nil
}

const binaryLenMax = 10

func (p *proto) loop(ctx context.Context, in <-chan frame, readErr, writeErr <-chan error, events <-chan crdt.Event) error {
	s := p.s
	if s.cfg.Initiator {
		if err := s.r.CheckReady(ctx); err != nil {
			return err
		}
		if err := p.sendHello(ctx); err != nil {
			return err
		}
	}
	helloTimer := time.NewTimer(s.cfg.Timeout)
	defer helloTimer.Stop()
	// The watchdog restarts the Automerge sync protocol when a session that
	// is not synced made no progress for a while. crdt.Peer restarts the
	// stall we know of (a message left in flight by the bundled core,
	// automerge issue 702) at once; this is the backstop for any other.
	watchdog := time.NewTicker(s.cfg.KeepAlive / 5)
	defer watchdog.Stop()
	lastProgress := int64(-1)
	for {
		select {
		case <-watchdog.C:
			if err := p.sendAddrs(); err != nil {
				return err
			}
			// A genuine stall only: frames read and not handled yet, or
			// frames waiting to go out, are work under way, not a stall.
			progress := s.bytesIn.Load() + s.bytesOut.Load()
			stalled := progress == lastProgress && len(in) == 0 && p.out.empty()
			lastProgress = progress
			if !stalled || !p.helloDone || p.peerDigest == nil || p.sentDigest == nil || *p.peerDigest == *p.sentDigest {
				continue
			}
			s.log.Debug("sync stalled; restarting the sync states", "device", p.remote.DeviceID)
			s.mu.Lock()
			s.restarts++
			s.mu.Unlock()
			p.peer.Reset()
			clear(p.inStep)
			for d := range p.theirDocs {
				p.pending[d] = true
			}
			for d := range p.myHeads {
				p.pending[d] = true
			}
			p.allDirty = true
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			return p.drain(ctx, in, err)
		case err := <-writeErr:
			if err == nil {
				err = io.ErrClosedPipe
			}
			return p.drain(ctx, in, err)
		case <-helloTimer.C:
			if !p.helloDone {
				return fmt.Errorf("no hello from the peer within %v", s.cfg.Timeout)
			}
		case f := <-in:
			if err := p.handleFrame(ctx, f); err != nil {
				return err
			}
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			p.event(ev)
		case docs := <-s.notify:
			for _, d := range docs {
				if ValidDoc(d) {
					p.pending[d] = true
					p.dirty[d] = true
				}
			}
		case req := <-s.pokes:
			p.allDirty = true
			p.waiters = append(p.waiters, req)
		}
		if p.helloDone && len(in) == 0 {
			if err := p.flush(ctx); err != nil {
				return err
			}
		}
	}
}

// drain handles the frames already read when the connection failed with
// err, then returns err: a peer that refuses sends an ERROR frame, then
// closes, and its reason must not be lost to the closed connection.
func (p *proto) drain(ctx context.Context, in <-chan frame, err error) error {
	for {
		select {
		case f := <-in:
			if herr := p.handleFrame(ctx, f); herr != nil {
				return herr
			}
		default:
			return err
		}
	}
}

func (p *proto) event(ev crdt.Event) {
	if ev.Lost {
		p.allDirty = true
		for d := range p.theirDocs {
			p.pending[d] = true
		}
		for d := range p.myHeads {
			p.pending[d] = true
		}
		return
	}
	if !ValidDoc(ev.Doc) {
		return
	}
	p.pending[ev.Doc] = true
	p.dirty[ev.Doc] = true
}

func (p *proto) sendHello(ctx context.Context) error {
	if err := p.refreshHeads(ctx, true); err != nil {
		return err
	}
	h := hello{
		Version:  ProtocolVersion,
		SpaceID:  p.s.self.SpaceID,
		DeviceID: p.s.self.DeviceID,
		MemberID: p.s.self.MemberID,
		Docs:     map[string][]string{},
	}
	for d, hs := range p.myHeads {
		if len(hs) > 0 {
			h.Docs[d] = hs
		}
	}
	body, err := h.encode()
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	return p.send(frameHello, body)
}

// refreshHeads re-reads the heads of dirty documents (all when all is set)
// and marks those that changed as pending.
func (p *proto) refreshHeads(ctx context.Context, all bool) error {
	r := p.s.r
	if p.myHeads == nil {
		p.myHeads = map[string][]string{}
		all = true
	}
	docs := sortedKeys(p.dirty)
	if all || p.allDirty {
		ds, err := r.Docs(ctx)
		if err != nil {
			return fmt.Errorf("list documents: %w", err)
		}
		docs = append(ds, sortedKeys(p.myHeads)...)
	}
	for _, d := range docs {
		if !ValidDoc(d) {
			continue
		}
		hs, err := r.Heads(ctx, d)
		if errors.Is(err, trustsync.ErrDamaged) {
			p.markDamaged(d, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("heads of %s: %w", d, err)
		}
		if _, ok := p.damaged[d]; ok {
			p.healed(d, false) // restored meanwhile, by another session
		}
		hs = slices.Clone(hs)
		slices.Sort(hs)
		if !slices.Equal(hs, p.myHeads[d]) {
			p.pending[d] = true
		}
		if len(hs) == 0 {
			delete(p.myHeads, d)
		} else {
			p.myHeads[d] = hs
		}
	}
	clear(p.dirty)
	p.allDirty = false
	return nil
}

func (p *proto) handle(ctx context.Context, f frame) error {
	s := p.s
	switch f.typ {
	case framePing:
		return p.onPing(f.body)
	case frameError:
		d := &decoder{b: f.body}
		reason := d.string("reason")
		if d.err != nil {
			reason = "(unreadable reason)"
		}
		return &RemoteError{Reason: reason}
	case frameHello:
		if p.helloDone {
			return fmt.Errorf("%w: second hello", ErrMalformed)
		}
		return p.onHello(ctx, f.body)
	}
	if !p.helloDone {
		return fmt.Errorf("%w: frame type %d before hello", ErrMalformed, f.typ)
	}
	switch f.typ {
	case frameSnapshot:
		doc, data, err := decodeDocPayload(f.body)
		if err != nil {
			return err
		}
		if _, no := p.refused[doc]; no {
			return nil // left out for this session; the peer was told
		}
		if p.pending[doc] && p.theirDocs[doc] {
			// Answer the peer's earlier message first, as a flush
			// between the two frames would: this device's document,
			// before it takes in the peer's, may be the smaller to
			// send whole (crdt.ErrWholeSmaller).
			if err := p.flush(ctx); err != nil {
				return err
			}
		}
		_, wasDamaged := p.damaged[doc]
		rec, err := s.r.Import(ctx, doc, data, p.remote.DeviceID)
		if leftOut, err := p.notApplied(ctx, doc, "document "+doc, err); leftOut || err != nil {
			return err
		}
		p.theirDocs[doc] = true
		if wasDamaged || rec.Restored > 0 {
			p.healed(doc, true)
		}
		inStep, err := p.assumeSnapshot(ctx, doc)
		if errors.Is(err, trustsync.ErrDamaged) {
			p.markDamaged(doc, err)
			return nil
		}
		if err != nil {
			return err
		}
		p.received(doc, rec)
		if inStep {
			// Nothing to exchange for doc until either side edits it: a
			// sync round from fresh states would resend the history.
			p.inStep[doc] = p.theirHeads[doc]
		}
	case frameSync:
		doc, msg, err := decodeDocPayload(f.body)
		if err != nil {
			return err
		}
		delete(p.inStep, doc)
		if _, no := p.refused[doc]; no {
			return nil // left out for this session; the peer was told
		}
		if _, bad := p.damaged[doc]; bad {
			// Cannot be applied here; the peer was told and sends its
			// whole copy instead.
			p.theirDocs[doc] = true
			return nil
		}
		rec, err := p.peer.ReceiveMessage(ctx, doc, msg)
		if leftOut, err := p.notApplied(ctx, doc, "sync message for "+doc, err); leftOut || err != nil {
			return err
		}
		p.theirDocs[doc] = true
		p.received(doc, rec)
	case frameStatus:
		st, err := decodeStatus(f.body)
		if err != nil {
			return err
		}
		p.peerDigest = &st.Digest
		s.setState(func() { s.sent = st.Received })
		p.updateSynced()
	case frameDamaged:
		n, err := decodeDamaged(f.body)
		if err != nil {
			return err
		}
		p.theirDamage(n)
	case frameRefused:
		n, err := decodeDamaged(f.body)
		if err != nil {
			return err
		}
		if _, was := p.theyRefused[n.Doc]; !was {
			p.theyRefused[n.Doc] = n.Reason
			s.setState(func() { s.refusals[DocRefusal{Doc: n.Doc, Remote: true, Reason: n.Reason}] = true })
			delete(p.inStep, n.Doc)
			delete(p.pending, n.Doc)
			s.log.Warn("the device refused a change this device sent", "doc", n.Doc, "device", p.remote.DeviceID, "why", n.Reason)
			if s.cfg.hooks.refused != nil {
				s.cfg.hooks.refused(p.remote, DocRefusal{Doc: n.Doc, Remote: true, Reason: n.Reason})
			}
		}
	default:
		return fmt.Errorf("%w: unknown frame type %d", ErrMalformed, f.typ)
	}
	return nil
}

// assumeSnapshot is called after importing the peer's snapshot of doc.
// When this device's heads of doc are now exactly those the peer's hello
// advertised (the snapshot was taken there, and this device had nothing
// else), both sides hold the same document: the sync state with the peer
// starts from these heads (crdt.Peer.Assume) and it reports true. Otherwise
// (an edit on either side meanwhile) the Automerge sync protocol runs as
// usual.
func (p *proto) assumeSnapshot(ctx context.Context, doc string) (bool, error) {
	want := p.theirHeads[doc]
	if len(want) == 0 {
		return false, nil
	}
	hs, err := p.s.r.Heads(ctx, doc)
	if err != nil {
		return false, fmt.Errorf("heads of %s: %w", doc, err)
	}
	hs = slices.Clone(hs)
	slices.Sort(hs)
	if !slices.Equal(hs, want) {
		return false, nil
	}
	if err := p.peer.Assume(ctx, doc, hs); err != nil {
		return false, fmt.Errorf("sync state of %s: %w", doc, err)
	}
	return true, nil
}

func (p *proto) received(doc string, rec crdt.Received) {
	p.s.progressGot(doc)
	p.pending[doc] = true
	p.dirty[doc] = true
	if rec.Changes == 0 && len(rec.Items) == 0 {
		return
	}
	s := p.s
	s.setState(func() {
		s.changes += rec.Changes
		for _, it := range rec.Items {
			if s.received[it.Kind] == nil {
				s.received[it.Kind] = map[string]bool{}
			}
			s.received[it.Kind][it.ID] = true
		}
	})
	if s.cfg.hooks.received != nil {
		s.cfg.hooks.received(p.remote, rec)
	}
}

func (p *proto) onHello(ctx context.Context, body []byte) error {
	s := p.s
	h, err := decodeHello(body)
	if err != nil {
		return err
	}
	if h.SpaceID != s.self.SpaceID {
		return fmt.Errorf("%w: hello names space %q", ErrSpaceMismatch, truncate(h.SpaceID, 64))
	}
	if h.DeviceID == s.self.DeviceID {
		return fmt.Errorf("%w: peer claims to be this device", ErrUnknownDevice)
	}
	members, err := s.r.Members(ctx)
	if err != nil {
		return fmt.Errorf("read members: %w", err)
	}
	remote := Remote{DeviceID: h.DeviceID, MemberID: h.MemberID, PeerID: s.cfg.RemotePeer}
	dev, mem, found := findDevice(members, h.DeviceID)
	switch {
	case found && dev.Removed:
		return fmt.Errorf("%w: device %s was removed", ErrUnknownDevice, truncate(h.DeviceID, 64))
	case found && dev.Owner.ID != "" && dev.Owner.ID != h.MemberID:
		return fmt.Errorf("%w: device %s belongs to another member", ErrUnknownDevice, truncate(h.DeviceID, 64))
	case found && s.cfg.RemotePeer != "" && dev.PeerID != "" && dev.PeerID != s.cfg.RemotePeer:
		return fmt.Errorf("%w: device %s has another peer ID", ErrUnknownDevice, truncate(h.DeviceID, 64))
	case found:
		remote.DeviceName = dev.Name
		remote.MemberName = mem.Name
		if remote.MemberName == "" {
			remote.MemberName = dev.Owner.Name
		}
	case s.cfg.TrustDevice != nil && s.cfg.TrustDevice(h.DeviceID, h.MemberID):
		for _, m := range members {
			if m.ID == h.MemberID {
				remote.MemberName = m.Name
			}
		}
	default:
		return fmt.Errorf("%w: %s is not a device of this space", ErrUnknownDevice, truncate(h.DeviceID, 64))
	}
	p.remote = remote
	p.peer = s.r.syncPeer(h.DeviceID)
	if p.peer == nil {
		return fmt.Errorf("no sync state for device %s", h.DeviceID)
	}
	// Nothing can be taken from the peer while nothing can be checked: no
	// session then (the peer is told why), rather than one that fails at
	// its first message. Asked only once the peer is known.
	if !s.cfg.Initiator {
		if err := s.r.CheckReady(ctx); err != nil {
			return err
		}
	}
	if !s.cfg.Initiator {
		if err := p.sendHello(ctx); err != nil {
			return err
		}
	} else if err := p.refreshHeads(ctx, true); err != nil {
		return err
	}
	p.theirDocs = map[string]bool{}
	p.theirHeads = map[string][]string{}
	for d, hs := range h.Docs {
		if len(hs) > 0 {
			p.theirDocs[d] = true
			p.theirHeads[d] = slices.Sorted(slices.Values(hs))
		}
		if !slices.Equal(hs, p.myHeads[d]) && len(p.myHeads[d]) > 0 {
			p.pending[d] = true
		}
	}
	for d := range p.myHeads {
		if !p.theirDocs[d] {
			p.pending[d] = true
		}
	}
	// Docs only the peer has arrive as snapshots; docs with equal heads
	// need nothing until they change.
	for d := range p.pending {
		if p.theirDocs[d] && slices.Equal(h.Docs[d], p.myHeads[d]) {
			delete(p.pending, d)
		}
	}
	p.helloDone = true
	p.helloSeen.Store(true)
	s.setState(func() { s.remote = remote; s.hello = true })
	s.log.Debug("hello", "device", remote.DeviceID, "member", remote.MemberName, "docs", len(h.Docs))
	if s.cfg.hooks.hello != nil {
		s.cfg.hooks.hello(remote)
	}
	p.startProgress()
	if err := p.announce(); err != nil {
		return err
	}
	if err := p.sendAddrs(); err != nil {
		return err
	}
	if s.cfg.hooks.damaged != nil {
		for _, d := range sortedKeys(p.damaged) {
			s.cfg.hooks.damaged(remote, DocDamage{Doc: d, Reason: p.damaged[d]})
		}
	}
	return nil
}

// startProgress starts following the documents the hello exchange found to
// differ: those the peer holds at other heads (to receive) and those this
// device holds at other heads or alone (to send), damaged ones left out.
func (p *proto) startProgress() {
	var receive, send []string
	for d, hs := range p.theirHeads {
		if _, bad := p.damaged[d]; !bad && !slices.Equal(hs, p.myHeads[d]) {
			receive = append(receive, d)
		}
	}
	for d := range p.pending {
		if _, bad := p.damaged[d]; !bad && len(p.myHeads[d]) > 0 {
			send = append(send, d)
		}
	}
	p.s.progressStart(p.remote, receive, send)
}

// sendAddrs tells the peer this device's listen addresses, after the hello
// exchange, when they differ from what it was told last. They go in a PING
// frame's body, which peers from before this note ignore.
func (p *proto) sendAddrs() error {
	if !p.helloDone || p.s.cfg.hooks.listen == nil {
		return nil
	}
	addrs := p.s.cfg.hooks.listen()
	if len(addrs) > maxAddrs {
		addrs = addrs[:maxAddrs]
	}
	if p.addrsSent != nil && slices.Equal(addrs, p.addrsSent) {
		return p.sendOthers()
	}
	p.addrsSent = slices.Clip(append([]string{}, addrs...))
	if err := p.send(framePing, encodeAddrNote(addrs)); err != nil {
		return err
	}
	return p.sendOthers()
}

// sendOthers passes on to the peer the addresses other devices of the space
// told this one, when they differ from what it passed on last.
func (p *proto) sendOthers() error {
	if p.s.cfg.hooks.others == nil {
		return nil
	}
	others := p.s.cfg.hooks.others(p.remote.DeviceID)
	for _, id := range sortedKeys(others) {
		if len(others) <= maxOthers {
			break
		}
		delete(others, id)
	}
	for id, as := range others {
		if len(as) > maxAddrs {
			others[id] = as[:maxAddrs]
		}
	}
	if p.othersSent != nil && maps.EqualFunc(others, p.othersSent, slices.Equal) {
		return nil
	}
	p.othersSent = others
	if p.othersSent == nil {
		p.othersSent = map[string][]string{}
	}
	return p.send(framePing, encodeOthersNote(others))
}

// onPing takes a PING: a keepalive, whose body, after the hello, may be the
// peer's note of its listen addresses. A body of a kind this version does
// not know is ignored, as peers from before the note ignore every body.
func (p *proto) onPing(body []byte) error {
	if len(body) == 0 || !p.helloDone {
		return nil
	}
	if body[0] == noteOthers {
		others, err := decodeOthersNote(body)
		if err != nil {
			return err
		}
		if p.s.cfg.hooks.relayed != nil {
			p.s.cfg.hooks.relayed(p.remote, others)
		}
		return nil
	}
	addrs, ok, err := decodeAddrNote(body)
	if err != nil || !ok {
		return err
	}
	if p.s.cfg.hooks.addrs != nil {
		p.s.cfg.hooks.addrs(p.remote, addrs)
	}
	return nil
}

// flush sends what is pending: snapshots of documents the peer lacks, sync
// messages for the others, then a STATUS when the digest or tally changed.
func (p *proto) flush(ctx context.Context) error {
	s := p.s
	if p.allDirty || len(p.dirty) > 0 {
		if err := p.refreshHeads(ctx, false); err != nil {
			return err
		}
	}
	for _, doc := range spaceFirst(sortedKeys(p.pending)) {
		delete(p.pending, doc)
		if _, bad := p.damaged[doc]; bad {
			continue
		}
		if _, no := p.refused[doc]; no {
			continue
		}
		if _, no := p.theyRefused[doc]; no {
			continue
		}
		if !p.theirDocs[doc] {
			if len(p.myHeads[doc]) == 0 {
				continue
			}
			if err := p.sendWhole(ctx, doc); err != nil {
				return err
			}
			continue
		}
		if _, bad := p.theirDamaged[doc]; bad {
			continue // until the peer says it can read it again
		}
		if hs, ok := p.inStep[doc]; ok {
			if slices.Equal(hs, p.myHeads[doc]) {
				continue // imported the peer's snapshot; no edit since
			}
			delete(p.inStep, doc)
		}
		stagetrace.Mark("generate")
		msg, ok, err := p.peer.GenerateMessage(ctx, doc)
		if ok {
			stagetrace.Mark("generated")
		}
		if errors.Is(err, crdt.ErrSendWhole) {
			// The message could not carry the signatures of its changes.
			if err := p.sendWhole(ctx, doc); err != nil {
				return err
			}
			continue
		}
		if errors.Is(err, trustsync.ErrDamaged) {
			p.markDamaged(doc, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("generate sync message for %s: %w", doc, err)
		}
		if !ok {
			continue
		}
		body, err := encodeDocPayload(doc, msg)
		if err != nil {
			return err
		}
		if err := p.sendDoc(frameSync, body, doc); err != nil {
			return err
		}
	}
	if err := p.announce(); err != nil {
		return err
	}
	d := digest(p.digestHeads())
	st := s.Stats()
	if p.sentDigest == nil || *p.sentDigest != d || !maps.Equal(p.sentTally, st.Received) {
		if err := p.send(frameStatus, status{Digest: d, Received: st.Received}.encode()); err != nil {
			return err
		}
		p.sentDigest = &d
		p.sentTally = st.Received
	}
	p.updateSynced()
	for _, w := range p.waiters {
		close(w)
	}
	p.waiters = nil
	return nil
}

// sendWhole sends doc as a SNAPSHOT: its signed Save(), for a document
// the peer lacks or whose sync message could not carry its signatures.
func (p *proto) sendWhole(ctx context.Context, doc string) error {
	data, err := p.s.r.SaveSigned(ctx, doc)
	if errors.Is(err, trustsync.ErrDamaged) {
		p.markDamaged(doc, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("save %s: %w", doc, err)
	}
	if len(data) == 0 {
		return nil
	}
	body, err := encodeDocPayload(doc, data)
	if err != nil {
		return err
	}
	if err := p.sendDoc(frameSnapshot, body, doc); err != nil {
		return err
	}
	p.theirDocs[doc] = true
	p.snapSent[doc] = true
	return nil
}

func (p *proto) updateSynced() {
	s := p.s
	synced := p.helloDone && p.peerDigest != nil && p.sentDigest != nil &&
		*p.peerDigest == *p.sentDigest && !p.allDirty && len(p.dirty) == 0
	s.mu.Lock()
	was := s.synced
	s.mu.Unlock()
	if synced == was {
		return
	}
	s.setState(func() { s.synced = synced })
	if synced {
		s.progressDone()
	}
	if synced && s.cfg.hooks.synced != nil {
		s.cfg.hooks.synced(p.remote)
	}
}

// markDamaged leaves doc out of the session: this device cannot read it.
// The peer is told at the next flush.
// notApplied sorts out err, from applying the peer's document or sync
// message for doc (what names it): nil when it was applied. A document this
// device cannot take -- damaged beyond what the peer's copy could mend, or
// its history forked from the peer's -- is left out of the session while the
// other documents sync on (leftOut). Checks that cannot run, and a session
// going away, are this device's state, not the peer's data; anything else
// is a refusal of the peer's data.
func (p *proto) notApplied(ctx context.Context, doc, what string, err error) (leftOut bool, _ error) {
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, trustsync.ErrCheckUnavailable):
		return false, fmt.Errorf("%s: %w", what, err)
	case errors.Is(err, trustsync.ErrDamaged) || forkedDoc(err):
		p.theirDocs[doc] = true
		p.markDamaged(doc, err)
		return true, nil
	case pendingDevice(err):
		// Signed by a further device whose certificate has not arrived
		// yet: not a refusal. The session ends and the next one, which
		// sends the space document first, takes it in.
		return false, fmt.Errorf("%s: %w", what, errPending)
	case errors.Is(err, trustsync.ErrForged):
		p.theirDocs[doc] = true
		return true, p.refuseDoc(doc, err)
	case ctx.Err() != nil:
		return false, ctx.Err()
	}
	return false, fmt.Errorf("%w: %s: %w", errRejected, what, err)
}

// forkedDoc reports whether err refused a document whose history forked
// between the two devices (a [*crdt.ForkError]): like a damaged document, it
// can no longer be exchanged with this peer, and is left out of the session
// while the other documents sync on.
func forkedDoc(err error) bool {
	var fe *crdt.ForkError
	return errors.As(err, &fe)
}

// errPending ends a session that received a change signed by a device not
// known yet (its certificate is in a space document change still on its
// way); the next session starts with the space document.
var errPending = errors.New("a change comes from a device whose certificate has not arrived yet; syncing again")

// pendingDevice reports whether err refused a change only because its
// device is not known yet.
func pendingDevice(err error) bool {
	var re *crdt.RefusedChangeError
	return errors.As(err, &re) && re.Unknown
}

// refuseDoc leaves doc out of the rest of the session: the peer sent a
// change for it that this device refuses (crdt recorded it). The peer is
// told why, and the other documents sync on. A change by a device whose
// certificate is still on its way is tried again in a later session.
func (p *proto) refuseDoc(doc string, err error) error {
	var re *crdt.RefusedChangeError
	reason := err.Error()
	if errors.As(err, &re) {
		reason = re.Reason
	}
	reason = printable(truncate(reason, maxString-8))
	delete(p.myHeads, doc)
	delete(p.inStep, doc)
	delete(p.pending, doc)
	if _, was := p.refused[doc]; was {
		return nil
	}
	p.refused[doc] = reason
	s := p.s
	s.setState(func() { s.refusals[DocRefusal{Doc: doc, Reason: reason}] = true })
	s.log.Info("refused a change from the device; syncing the other documents", "doc", doc, "device", p.remote.DeviceID, "why", reason)
	if s.cfg.hooks.refused != nil {
		s.cfg.hooks.refused(p.remote, DocRefusal{Doc: doc, Reason: reason})
	}
	return p.send(frameRefused, damagedNote{Doc: doc, Reason: reason}.encode())
}

// DocRefusal names a document left out of a session because a change for
// it was refused: by this device (Remote false) or by the peer.
type DocRefusal struct {
	Doc    string
	Remote bool
	Reason string
}

func (p *proto) markDamaged(doc string, err error) {
	reason := printable(truncate(err.Error(), maxString-8))
	delete(p.myHeads, doc)
	delete(p.inStep, doc)
	delete(p.pending, doc)
	if p.damaged[doc] == reason {
		return
	}
	p.damaged[doc] = reason
	s := p.s
	s.log.Info("a document is damaged on this device; syncing the others", "doc", doc, "err", reason)
	key := DocDamage{Doc: doc}
	s.setState(func() {
		s.damage[key] = true
		s.reasons[key] = reason
	})
	if !p.helloDone {
		return // told after the hello exchange
	}
	// Told at once, so that the peer hears of it even when its copy mends
	// it right away.
	p.announce()
	if s.cfg.hooks.damaged != nil {
		s.cfg.hooks.damaged(p.remote, DocDamage{Doc: doc, Reason: reason})
	}
}

// healed takes doc back into the session: it can be read again, restored
// from the peer's copy (restored) or otherwise.
func (p *proto) healed(doc string, restored bool) {
	_, was := p.damaged[doc]
	delete(p.damaged, doc)
	p.pending[doc] = true
	p.dirty[doc] = true
	s := p.s
	s.setState(func() {
		delete(s.damage, DocDamage{Doc: doc})
		delete(s.reasons, DocDamage{Doc: doc})
		if restored {
			s.restored[doc] = true
		}
	})
	if !was && !restored {
		return
	}
	if p.helloDone {
		p.announce()
	}
	s.log.Info("a damaged document of this device was restored from the peer's copy", "doc", doc, "device", p.remote.DeviceID)
	if restored && s.cfg.hooks.restored != nil {
		s.cfg.hooks.restored(p.remote, doc)
	}
}

// theirDamage takes in the peer's word on a document it cannot read (or can
// again, when the reason is empty).
func (p *proto) theirDamage(n damagedNote) {
	s := p.s
	key := DocDamage{Doc: n.Doc, Remote: true}
	if n.Reason == "" {
		if _, ok := p.theirDamaged[n.Doc]; !ok {
			return
		}
		delete(p.theirDamaged, n.Doc)
		p.theirDocs[n.Doc] = true
		s.setState(func() {
			delete(s.damage, key)
			delete(s.reasons, key)
		})
		s.log.Debug("the peer can read a document again", "doc", n.Doc, "device", p.remote.DeviceID)
		// The sync states may think messages are still in flight for it:
		// restart them, as the watchdog does.
		p.peer.Reset()
		clear(p.inStep)
		for d := range p.theirDocs {
			p.pending[d] = true
		}
		p.allDirty = true
		return
	}
	first := p.theirDamaged[n.Doc] == ""
	p.theirDamaged[n.Doc] = n.Reason
	delete(p.inStep, n.Doc)
	if !p.snapSent[n.Doc] && len(p.myHeads[n.Doc]) > 0 {
		// Send this device's whole copy: importing it restores theirs.
		delete(p.theirDocs, n.Doc)
		p.pending[n.Doc] = true
	}
	s.setState(func() {
		s.damage[key] = true
		s.reasons[key] = n.Reason
	})
	if first {
		s.log.Info("a document is damaged on the peer's device; syncing the others", "doc", n.Doc, "device", p.remote.DeviceID, "err", n.Reason)
		if s.cfg.hooks.damaged != nil {
			s.cfg.hooks.damaged(p.remote, DocDamage{Doc: n.Doc, Remote: true, Reason: n.Reason})
		}
	}
}

// announce tells the peer which documents this device cannot read, and
// which it can read again.
func (p *proto) announce() error {
	for _, doc := range sortedKeys(p.damaged) {
		if p.announced[doc] == p.damaged[doc] {
			continue
		}
		if err := p.send(frameDamaged, damagedNote{Doc: doc, Reason: p.damaged[doc]}.encode()); err != nil {
			return err
		}
		p.announced[doc] = p.damaged[doc]
	}
	for _, doc := range sortedKeys(p.announced) {
		if _, ok := p.damaged[doc]; ok {
			continue
		}
		if err := p.send(frameDamaged, damagedNote{Doc: doc}.encode()); err != nil {
			return err
		}
		delete(p.announced, doc)
	}
	return nil
}

// digestHeads is what the STATUS digest covers: this device's heads of
// every document neither side says is damaged.
func (p *proto) digestHeads() map[string][]string {
	if len(p.theirDamaged) == 0 && len(p.theyRefused) == 0 && len(p.refused) == 0 {
		return p.myHeads
	}
	hs := maps.Clone(p.myHeads)
	for d := range p.theirDamaged {
		delete(hs, d)
	}
	for d := range p.theyRefused {
		delete(hs, d)
	}
	for d := range p.refused {
		delete(hs, d)
	}
	return hs
}

// spaceFirst moves the space document to the front: its certificates of
// further devices must arrive before the changes those devices signed.
func spaceFirst(docs []string) []string {
	if i := slices.Index(docs, crdt.SpaceDoc); i > 0 {
		docs = append(append([]string{crdt.SpaceDoc}, docs[:i]...), docs[i+1:]...)
	}
	return docs
}
