package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/automerge/automerge-go"
)

// ErrRejected is wrapped by every error that means "do not apply these
// bytes, they are bad": automerge refused them in the checker, they
// crashed the checker (see ErrCrashed), they took longer than
// Options.Timeout, or they are larger than Options.MaxInput.
var ErrRejected = errors.New("untrusted Automerge input rejected")

// ErrCrashed is wrapped, together with ErrRejected, when the input killed
// the checker process (a Rust panic aborts it with SIGABRT) or made it
// exceed Options.Timeout. The same bytes would have killed or hung the
// caller's process.
var ErrCrashed = errors.New("input crashed the checker process")

// ErrUnavailable is wrapped when the check could not be made: the checker
// could not be started, it died while loading the caller's own (trusted)
// document, the Checker is closed. The input was not judged; it must not be
// applied either.
var ErrUnavailable = errors.New("sandbox checker unavailable")

// Options tune a Checker. The zero value is usable.
type Options struct {
	// Timeout bounds one request to the child, including bringing its
	// mirror in step. Input that takes longer is rejected and the child is
	// killed. Default 30s.
	Timeout time.Duration
	// MaxInput bounds the untrusted bytes of one check. Larger input is
	// rejected without being sent. Default 64 MiB.
	MaxInput int
	// MaxMirrors bounds the documents the child mirrors; the least
	// recently used mirror is dropped beyond it. Default 256.
	MaxMirrors int
	// MaxMirrorMemory bounds the native memory the child may keep in use
	// for its mirrors, as its C allocator reports it after every op (where
	// Automerge's documents live): beyond it, the least recently used
	// mirror other than the one just checked is dropped at each check
	// until the child is back under it. A mirror costs what its document
	// costs loaded, from about 10 times its saved bytes for plain values
	// to 2,000 times for Text (a month of 30 check-ins with 500-character
	// Text notes saves to 2.4 KB and takes about 5 MB loaded), so it is
	// measured rather than estimated. Default 64 MiB.
	MaxMirrorMemory int64
	// MaxMirrorBytes bounds what the child's mirrors hold, counted as the
	// bytes loaded into them (the caller's saved document when a mirror
	// is loaded whole, then the changes and checked inputs applied to
	// it): the least recently used mirrors are dropped beyond it, a
	// mirror that alone exceeds it right after its check. Where the
	// child cannot report its memory (a C library without mallinfo2),
	// this is the only bound, and its default assumes Text (2,000 times
	// the bytes: two fifths of MaxMemory, about 200 KB); otherwise the
	// default is 16 MiB, a backstop behind MaxMirrorMemory.
	MaxMirrorBytes int64
	// MaxMemory bounds the memory the child may take for data, in bytes:
	// its Go heap, Automerge's native heap and its thread stacks. The child
	// sets it as its RLIMIT_DATA before it reads any request, so an input
	// that needs more makes an allocation fail there, the child dies ("out
	// of memory") and the input is rejected as a crash (ErrCrashed); the
	// next check starts a new child. Default DefaultMaxMemory; negative
	// means no limit. Enforced on Linux (see limit_linux.go); elsewhere it
	// is not set.
	MaxMemory int64
	// Command, when set, returns the command that starts a child; it must
	// run a binary that imports this package, with the environment it is
	// given. Tests use it; by default the running binary
	// (os.Executable) is re-executed.
	Command func() (*exec.Cmd, error)
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxInput <= 0 {
		o.MaxInput = 64 << 20
	}
	if o.MaxMirrors <= 0 {
		o.MaxMirrors = 256
	}
	if o.MaxMemory == 0 {
		o.MaxMemory = DefaultMaxMemory
	}
	if o.MaxMirrorMemory <= 0 {
		o.MaxMirrorMemory = 64 << 20
	}
	return o
}

// mirrorBytes is the bound on the bytes loaded into mirrors
// (Options.MaxMirrorBytes), by default larger when the child reports the
// memory it has in use.
func (c *Checker) mirrorBytes() int64 {
	if c.opts.MaxMirrorBytes > 0 {
		return c.opts.MaxMirrorBytes
	}
	if c.childMem > 0 {
		return 16 << 20
	}
	mem := c.opts.MaxMemory
	if mem < 0 {
		mem = DefaultMaxMemory
	}
	return max(mem*2/5/nativeFactor, 1)
}

// DefaultMaxMemory is the default Options.MaxMemory: 1 GiB. The child
// starts with about 40 MiB of data mappings; Automerge then holds about
// 1.2 KB per character of Text while it checks a document, so a month's
// check-in document with a 10,000-character note every day is checked in
// about half of the limit, while no single input can take the machine's
// memory (a note of a million characters once took 2 GB).
const DefaultMaxMemory = 1 << 30

// memoryEnvVar carries Options.MaxMemory to the child, in bytes; absent or
// 0 means no limit.
const memoryEnvVar = "TRUSTSYNC_SANDBOX_MAX_MEMORY"

// Stats counts what a Checker did.
type Stats struct {
	Checks      int // inputs checked (sent to the child)
	Rejected    int // inputs rejected, of which:
	Crashes     int //   inputs that killed the child (or timed out)
	Starts      int // child processes started
	FullSyncs   int // mirrors loaded from a whole Save of the caller's document
	DeltaSyncs  int // mirrors brought in step with the caller's new changes
	OutOfSteps  int // replies that found a mirror not where the parent thought
	BaseCrashes int // children that died loading trusted state
	// MemoryEvictions counts mirrors dropped because the child had more
	// than Options.MaxMirrorMemory in use.
	MemoryEvictions int
}

// Checker applies untrusted Automerge bytes in a child process before the
// caller applies them for real. It holds one child, started on first use
// and restarted after it dies; requests are served one at a time. A
// Checker is safe for concurrent use. Close it to kill the child.
type Checker struct {
	opts Options

	mu      sync.Mutex
	ch      *child
	mirrors map[string]*mirrorState
	bytes   int64 // the sum of the mirrors' sizes
	// childMem is the native memory the child last said it has in use
	// (reply.mem), 0 when unknown.
	childMem int64
	clock    uint64
	closed   bool
	stats    Stats
}

// mirrorState is the parent's belief about one mirror in the child.
type mirrorState struct {
	heads []automerge.ChangeHash
	used  uint64
	size  int64 // bytes loaded into it (see Options.MaxMirrorBytes)
}

// New returns a Checker. No process is started until the first check.
func New(opts Options) *Checker {
	return &Checker{opts: opts.withDefaults(), mirrors: map[string]*mirrorState{}}
}

// Close kills and reaps the child. Checks after Close fail with
// ErrUnavailable.
func (c *Checker) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.ch != nil {
		c.ch.kill()
		c.ch = nil
	}
	c.mirrors = map[string]*mirrorState{}
	c.bytes = 0
	return nil
}

// Stats returns counters of what the Checker did.
func (c *Checker) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Start starts the child now rather than at the first check, and reports
// whether it answers.
func (c *Checker) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		fresh := c.ch == nil
		ch, err := c.child()
		if err != nil {
			return err
		}
		var e encoder
		e.byte(opPing)
		_, err = c.roundTrip(ctx, ch, e.b)
		if err == nil {
			return nil
		}
		c.lost()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("sandbox: starting the checker: %w", ctxErr)
		}
		if !fresh && attempt == 0 {
			// A child started earlier is gone (killed from outside,
			// say): start a new one and ask again.
			continue
		}
		return fmt.Errorf("%w: the checker does not answer: %s", ErrUnavailable, ch.death(err))
	}
}

// Forget drops the mirror of doc in the child, for a document the caller
// no longer holds.
func (c *Checker) Forget(doc string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forget(context.Background(), doc)
}

func (c *Checker) forget(ctx context.Context, doc string) {
	if _, ok := c.mirrors[doc]; !ok {
		return
	}
	c.drop(doc)
	if c.ch == nil {
		return
	}
	var e encoder
	e.byte(opForget)
	e.str(doc)
	if _, err := c.roundTrip(ctx, c.ch, e.b); err != nil {
		c.lost()
	}
}

// CheckMessage reports whether the sync message msg can safely be given to
// SyncState.ReceiveMessage on base with a sync state decoded from
// syncState (the bytes of SyncState.Save; nil for a new state). The child
// applies it to its mirror of base, generates the next message, and reads
// the document; nil means the child survived and automerge accepted the
// message. doc names the mirror: use one name per real document for the
// life of the Checker (a space ID plus a document ID, say). base is the
// caller's trusted document, read (Heads, Changes, Save) but not changed;
// nil stands for an empty document.
//
// The caller must hold base still (no writes by others) from the check
// until it has applied msg, and must apply msg only when the error is nil.
func (c *Checker) CheckMessage(ctx context.Context, doc string, base *automerge.Doc, syncState, msg []byte) error {
	if len(msg) == 0 {
		return fmt.Errorf("%w: empty sync message", ErrRejected)
	}
	return c.check(ctx, doc, base, len(msg)+len(syncState), "sync message", func(expect []automerge.ChangeHash) []byte {
		var e encoder
		e.byte(opMessage)
		e.str(doc)
		e.heads(expect)
		e.bytes(syncState)
		e.bytes(msg)
		return e.b
	})
}

// CheckLoad reports whether data, a whole saved document or incremental
// chunks from a peer, can safely be given to automerge.Load and then to
// base.LoadIncremental. With an empty base (nil, or no changes) the child
// loads data once, with automerge.Load, and that document becomes the
// mirror: use CheckImport for bytes that go to LoadIncremental on an empty
// document. Arguments and rules are those of CheckMessage.
func (c *Checker) CheckLoad(ctx context.Context, doc string, base *automerge.Doc, data []byte) error {
	return c.checkLoad(ctx, doc, base, data, 1, "document", "empty document")
}

// CheckImport reports whether data, a whole saved document from a peer,
// can safely be merged into base with base.LoadIncremental (what
// crdt.Space.Import does). Like CheckLoad it requires data to load alone
// when base has changes (LoadIncremental into a non-empty document accepts
// garbage); into an empty base the child loads data only once, into the
// mirror, which then passes the walk and the save-and-reload check.
// Arguments and rules are those of CheckMessage.
func (c *Checker) CheckImport(ctx context.Context, doc string, base *automerge.Doc, data []byte) error {
	return c.checkLoad(ctx, doc, base, data, 2, "document", "empty document")
}

// checkLoad sends data to the child's load operation in one of its modes:
// 0 LoadIncremental into the mirror, 1 Load alone first (CheckLoad), 2 load
// into an empty mirror once (CheckImport). what names the input in errors;
// empty is the refusal for no data at all.
func (c *Checker) checkLoad(ctx context.Context, doc string, base *automerge.Doc, data []byte, mode byte, what, empty string) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: %s", ErrRejected, empty)
	}
	return c.check(ctx, doc, base, len(data), what, func(expect []automerge.ChangeHash) []byte {
		var e encoder
		e.byte(opLoad)
		e.str(doc)
		e.heads(expect)
		e.byte(mode)
		e.bytes(data)
		return e.b
	})
}

// CheckIncremental reports whether data, incremental chunks or changes
// from a peer, can safely be given to base.LoadIncremental. Unlike
// CheckLoad it does not require data to load alone (its changes may depend
// on changes base has). Arguments and rules are those of CheckMessage.
func (c *Checker) CheckIncremental(ctx context.Context, doc string, base *automerge.Doc, data []byte) error {
	return c.checkLoad(ctx, doc, base, data, 0, "incremental data", "no data")
}

// CheckChanges reports whether data can safely be given to
// automerge.LoadChanges and the changes read (hash, actor, dependencies,
// message, time, bytes). It needs no document.
func (c *Checker) CheckChanges(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: no changes", ErrRejected)
	}
	if len(data) > c.opts.MaxInput {
		return fmt.Errorf("%w: %d bytes of changes, more than the limit of %d", ErrRejected, len(data), c.opts.MaxInput)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, err := c.child()
	if err != nil {
		return err
	}
	var e encoder
	e.byte(opChanges)
	e.bytes(data)
	c.stats.Checks++
	rep, err := c.roundTrip(ctx, ch, e.b)
	if errors.Is(err, errNotSent) && ctx.Err() == nil {
		// The child was gone before it got the input: try a new one.
		c.lost()
		if ch, err = c.child(); err != nil {
			return err
		}
		rep, err = c.roundTrip(ctx, ch, e.b)
		if errors.Is(err, errNotSent) && ctx.Err() == nil {
			c.lost()
			return fmt.Errorf("%w: the checker exited before it got the changes", ErrUnavailable)
		}
	}
	if err != nil {
		return c.inputFailed(ctx, err, "changes")
	}
	return c.verdict(rep, "changes")
}

// check brings the mirror of doc in step with base, then sends the request
// built by build and judges the reply.
func (c *Checker) check(ctx context.Context, doc string, base *automerge.Doc, size int, what string, build func(expect []automerge.ChangeHash) []byte) error {
	if size > c.opts.MaxInput {
		return fmt.Errorf("%w: %s of %d bytes, more than the limit of %d", ErrRejected, what, size, c.opts.MaxInput)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var heads []automerge.ChangeHash
	if base != nil {
		heads = base.Heads()
	}
	for attempt := 0; ; attempt++ {
		if c.mirrors[doc] == nil && c.ch != nil {
			c.evict(ctx)
		}
		ch, err := c.child()
		if err != nil {
			return err
		}
		if err := c.syncMirror(ctx, ch, doc, base, heads, attempt > 0); err != nil {
			if errors.Is(err, errNotSent) && attempt == 0 {
				continue // the child was gone before; a new one mirrors afresh
			}
			return err
		}
		c.stats.Checks++
		rep, err := c.roundTrip(ctx, ch, build(heads))
		if errors.Is(err, errNotSent) && ctx.Err() == nil {
			// The child was gone before it got the input (killed from
			// outside, say): the input is not to blame. Start a new
			// child, mirror afresh and send the input once more.
			c.stats.Checks--
			c.lost()
			if attempt == 0 {
				continue
			}
			return fmt.Errorf("%w: the checker exited before it got the %s", ErrUnavailable, what)
		}
		if err != nil {
			return c.inputFailed(ctx, err, what)
		}
		if rep.status == stOutOfStep && attempt == 0 {
			// The mirror was not where we thought: resync from a whole
			// Save and try once more.
			c.stats.Checks--
			c.stats.OutOfSteps++
			c.drop(doc)
			continue
		}
		if m := c.mirrors[doc]; m != nil {
			m.heads = rep.heads
			if rep.status == stOK {
				c.grow(m, int64(size))
			}
		}
		c.shrink(ctx)
		return c.verdict(rep, what)
	}
}

// verdict turns a reply to an input into the error Check returns.
func (c *Checker) verdict(rep reply, what string) error {
	switch rep.status {
	case stOK:
		return nil
	case stRejected:
		c.stats.Rejected++
		return fmt.Errorf("%w: bad %s: %s", ErrRejected, what, rep.text)
	}
	return fmt.Errorf("%w: checker answered status %d: %s", ErrUnavailable, rep.status, rep.text)
}

// inputFailed handles a child that failed while judging an input: it died
// (the input crashed it), timed out, or ctx ended.
func (c *Checker) inputFailed(ctx context.Context, err error, what string) error {
	ch := c.ch
	c.lost()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("sandbox: checking a %s: %w", what, ctxErr)
	}
	c.stats.Rejected++
	c.stats.Crashes++
	why := ch.death(err)
	return fmt.Errorf("%w: %w: the %s %s", ErrRejected, ErrCrashed, what, why)
}

// syncMirror brings the child's mirror of doc to heads: nothing when it is
// there already, the changes it lacks when its heads are all in base, a
// whole Save of base otherwise (or when full is set).
func (c *Checker) syncMirror(ctx context.Context, ch *child, doc string, base *automerge.Doc, heads []automerge.ChangeHash, full bool) error {
	c.clock++
	m := c.mirrors[doc]
	if m != nil && !full && equalHeads(m.heads, heads) {
		m.used = c.clock
		return nil
	}
	mode, data, from := modeFull, []byte(nil), []automerge.ChangeHash(nil)
	if m != nil && !full && len(m.heads) > 0 && base != nil && known(base, m.heads) {
		chs, err := base.Changes(m.heads...)
		if err != nil {
			return fmt.Errorf("%w: reading the changes of %q: %v", ErrUnavailable, doc, err)
		}
		mode, data, from = modeDelta, automerge.SaveChanges(chs), m.heads
	} else if base != nil && len(heads) > 0 {
		data = base.Save()
	}
	var e encoder
	e.byte(opSync)
	e.str(doc)
	e.byte(mode)
	e.heads(from)
	e.bytes(data)
	e.heads(heads)
	rep, err := c.roundTrip(ctx, ch, e.b)
	if err == nil && rep.status == stOutOfStep && mode == modeDelta {
		c.stats.OutOfSteps++
		c.drop(doc)
		return c.syncMirror(ctx, ch, doc, base, heads, true)
	}
	if err != nil {
		c.lost()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("sandbox: syncing %q: %w", doc, ctxErr)
		}
		if errors.Is(err, errNotSent) {
			// Gone before it got the caller's document: not its fault.
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		c.stats.BaseCrashes++
		return fmt.Errorf("%w: the checker died loading the caller's own %q: %s", ErrUnavailable, doc, ch.death(err))
	}
	if rep.status != stOK {
		c.drop(doc)
		return fmt.Errorf("%w: the checker could not mirror %q: %s", ErrUnavailable, doc, rep.text)
	}
	size := int64(len(data))
	if mode == modeFull {
		c.stats.FullSyncs++
		c.drop(doc)
	} else {
		c.stats.DeltaSyncs++
		if m != nil {
			size += m.size
		}
		c.drop(doc)
	}
	c.mirrors[doc] = &mirrorState{heads: rep.heads, used: c.clock}
	c.grow(c.mirrors[doc], size)
	return nil
}

// known reports whether every hash in hs is a change of d.
func known(d *automerge.Doc, hs []automerge.ChangeHash) bool {
	for _, h := range hs {
		if _, err := d.Change(h); err != nil {
			return false
		}
	}
	return true
}

// evict drops least recently used mirrors until there is room for one more.
func (c *Checker) evict(ctx context.Context) {
	for len(c.mirrors) >= c.opts.MaxMirrors {
		c.forget(ctx, c.oldest())
	}
}

// shrink drops least recently used mirrors while they hold more than
// Options.MaxMirrorBytes, and one (not the most recently used) when the
// child has more than Options.MaxMirrorMemory in use: its memory is
// measured again only once the child collected what the dropped mirror
// held, so the next check drops the next one if it is still needed.
func (c *Checker) shrink(ctx context.Context) {
	for c.bytes > c.mirrorBytes() && len(c.mirrors) > 0 {
		c.forget(ctx, c.oldest())
	}
	if c.childMem > c.opts.MaxMirrorMemory && len(c.mirrors) > 1 {
		c.stats.MemoryEvictions++
		c.forget(ctx, c.oldest())
	}
}

// oldest returns the least recently used mirror.
func (c *Checker) oldest() string {
	var oldest string
	var at uint64
	for k, m := range c.mirrors {
		if oldest == "" || m.used < at {
			oldest, at = k, m.used
		}
	}
	return oldest
}

// grow counts n more bytes loaded into m.
func (c *Checker) grow(m *mirrorState, n int64) {
	m.size += n
	c.bytes += n
}

// drop forgets the parent's record of the mirror of doc.
func (c *Checker) drop(doc string) {
	if m, ok := c.mirrors[doc]; ok {
		c.bytes -= m.size
		delete(c.mirrors, doc)
	}
}

// child returns the running child, starting one if needed. c.mu is held.
func (c *Checker) child() (*child, error) {
	if c.closed {
		return nil, fmt.Errorf("%w: checker closed", ErrUnavailable)
	}
	if c.ch != nil {
		return c.ch, nil
	}
	ch, err := startChild(c.opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	c.stats.Starts++
	c.ch = ch
	return ch, nil
}

// lost kills the child after a failed exchange; its mirrors are gone.
func (c *Checker) lost() {
	if c.ch != nil {
		c.ch.kill()
		c.ch = nil
	}
	c.mirrors = map[string]*mirrorState{}
	c.bytes = 0
	c.childMem = 0
}

// roundTrip sends one request and reads its reply, within Options.Timeout
// and ctx.
func (c *Checker) roundTrip(ctx context.Context, ch *child, req []byte) (_ reply, err error) {
	if err := ctx.Err(); err != nil {
		return reply{}, err
	}
	deadline := time.Now().Add(c.opts.Timeout)
	ctxDeadline := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxDeadline = d, true
	}
	defer func() {
		// With ctx's deadline on the pipes, their timeout can fire before
		// ctx's own timer marks ctx done: it is ctx's deadline all the
		// same, and the callers must see ctx's error rather than blame
		// the input for taking too long. The deadline has passed, so ctx
		// is done at once.
		if ctxDeadline && errors.Is(err, os.ErrDeadlineExceeded) {
			<-ctx.Done()
		}
	}()
	ch.req.SetWriteDeadline(deadline)
	ch.rep.SetReadDeadline(deadline)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		ch.req.SetWriteDeadline(time.Unix(1, 0))
		ch.rep.SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired
		}
	}()
	if err := writeFrame(ch.req, req); err != nil {
		if errors.Is(err, syscall.EPIPE) {
			// Nobody reads the request pipe: the child had already
			// exited, so it did not see this request.
			return reply{}, fmt.Errorf("%w: %w", errNotSent, err)
		}
		return reply{}, err
	}
	p, err := readFrame(ch.repR)
	if err != nil {
		return reply{}, err
	}
	rep, err := decodeReply(p)
	if err == nil && rep.mem > 0 {
		c.childMem = rep.mem
	}
	return rep, err
}

// errNotSent is wrapped by roundTrip when the child had exited before the
// request was written: whatever the request held did not cause its death.
var errNotSent = errors.New("the checker had exited before the request was sent")

// child is one running checker process.
type child struct {
	cmd    *exec.Cmd
	req    *os.File // parent's end of the request pipe
	rep    *os.File // parent's end of the reply pipe
	repR   *bufio.Reader
	stderr *tailBuffer
	waited bool
	status string
	// maxMemory is the child's Options.MaxMemory, to explain its death.
	maxMemory int64
}

func startChild(opts Options) (*child, error) {
	var cmd *exec.Cmd
	if opts.Command != nil {
		var err error
		if cmd, err = opts.Command(); err != nil {
			return nil, err
		}
	} else {
		exe, err := selfImage()
		if err != nil {
			return nil, fmt.Errorf("finding this program to start the checker: %v", err)
		}
		cmd = exec.Command(exe)
		// The name ps shows; the kernel runs exe.
		if name, err := os.Executable(); err == nil {
			cmd.Args[0] = name
		}
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(withoutVar(env, EnvVar), EnvVar+"="+childMagic, "GOMAXPROCS=1",
		fmt.Sprintf("%s=%d", memoryEnvVar, max(opts.MaxMemory, 0)))
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("starting the checker: %v", err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, fmt.Errorf("starting the checker: %v", err)
	}
	tail := &tailBuffer{max: 4096}
	cmd.Stdin = nil
	cmd.Stdout = tail
	cmd.Stderr = tail
	cmd.ExtraFiles = []*os.File{reqR, repW} // fds 3 and 4 in the child
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	reqR.Close()
	repW.Close()
	if err != nil {
		reqW.Close()
		repR.Close()
		return nil, fmt.Errorf("starting the checker: %v", err)
	}
	return &child{cmd: cmd, req: reqW, rep: repR, repR: bufio.NewReaderSize(repR, 4096), stderr: tail, maxMemory: opts.MaxMemory}, nil
}

// procSelfExe names, on Linux, the very file this process runs: a link
// the kernel resolves to the running image, even after the file at its
// path was removed or replaced (an upgrade while serve runs).
const procSelfExe = "/proc/self/exe"

// selfImage returns what to execute to start a child running this same
// program. On Linux that is procSelfExe: a forked child resolves it to the
// image it shares with its parent, so no path is looked up and there is no
// window in which the file could be swapped. Elsewhere, or without /proc,
// it is the path os.Executable finds.
func selfImage() (string, error) {
	if runtime.GOOS == "linux" {
		if _, err := os.Stat(procSelfExe); err == nil {
			return procSelfExe, nil
		}
	}
	return os.Executable()
}

// withoutVar returns env without entries for name.
func withoutVar(env []string, name string) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") && !strings.HasPrefix(kv, "GOMAXPROCS=") && !strings.HasPrefix(kv, memoryEnvVar+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// kill kills the child and reaps it.
func (ch *child) kill() {
	if ch.waited {
		return
	}
	ch.req.Close()
	ch.cmd.Process.Kill()
	ch.wait()
}

func (ch *child) wait() {
	if ch.waited {
		return
	}
	ch.waited = true
	err := ch.cmd.Wait()
	ch.rep.Close()
	ch.req.Close()
	ch.status = describeExit(ch.cmd.ProcessState, err)
}

// death reports why the child stopped answering, after err from the pipe.
// It reaps the child.
func (ch *child) death(err error) string {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		ch.kill()
		return "took too long: the checker was killed after the timeout"
	}
	ch.kill()
	t := ch.stderr.lastLine()
	if ch.maxMemory > 0 && outOfMemory(t) {
		return fmt.Sprintf("needed more memory than the checker's limit of %d MiB (%s): %s", ch.maxMemory>>20, ch.status, t)
	}
	msg := "crashed the checker (" + ch.status + ")"
	if t != "" {
		msg += ": " + t
	}
	return msg
}

// outOfMemory reports whether a child's crash line says an allocation
// failed: Rust's "memory allocation of N bytes failed", the Go runtime's
// "fatal error: runtime: out of memory" or "... cannot allocate memory".
func outOfMemory(line string) bool {
	return strings.HasPrefix(line, "memory allocation of") ||
		strings.Contains(line, "out of memory") || strings.Contains(line, "cannot allocate memory") ||
		// A binary built with the race detector, whose runtime allocates too.
		(strings.Contains(line, "ThreadSanitizer failed to allocate") && strings.Contains(line, "errno: 12"))
}

func describeExit(ps *os.ProcessState, err error) string {
	if ps == nil {
		return fmt.Sprint(err)
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return ps.String()
}

// tailBuffer keeps the first and the last max bytes written to it: the
// child's stderr, where a Rust panic prints its message before aborting and
// the Go runtime then prints "SIGABRT: abort" and a long traceback.
type tailBuffer struct {
	mu   sync.Mutex
	max  int
	head []byte
	b    []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := min(t.max-len(t.head), len(p)); n > 0 {
		t.head = append(t.head, p[:n]...)
	}
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// lastLine returns the most telling line: the Rust panic message when there
// is one, else the first crash line (Rust's "memory allocation of N bytes
// failed" before its abort, or the Go runtime's: a Rust abort arrives as
// "SIGABRT: abort", an exhausted Go heap as "fatal error: runtime: out of
// memory" or "cannot allocate memory"), else the last non-empty line.
func (t *tailBuffer) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.head)+"\n"+string(t.b)), "\n")
	for i, l := range lines {
		if strings.Contains(l, "panicked at") {
			if i+1 < len(lines) {
				return strings.TrimSpace(l) + " " + strings.TrimSpace(lines[i+1])
			}
			return strings.TrimSpace(l)
		}
	}
	for _, l := range lines {
		for _, p := range []string{"memory allocation of", "SIG", "fatal error:", "panic:"} {
			if strings.HasPrefix(l, p) {
				return strings.TrimSpace(l)
			}
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}
