package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/trustsync/trustsync/internal/stagetrace"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/internal/cmem"
)

// EnvVar is the environment variable that turns a process into a checker
// child. The parent sets it to childMagic when it re-executes its own binary;
// the package's init function sees it and serves requests instead of letting
// the program run.
const EnvVar = "TRUSTSYNC_SANDBOX_CHILD"

// childMagic is the value of EnvVar in a child. It names the protocol
// version, so that a binary never serves a parent of another version.
const childMagic = "v1"

// File descriptors of the child's request and reply pipes. The protocol does
// not use stdin and stdout, so that nothing another package prints can
// corrupt a frame; the child's stdout and stderr go to the parent's
// diagnostics buffer.
const (
	childReqFD   = 3
	childReplyFD = 4
)

func init() {
	if os.Getenv(EnvVar) != childMagic {
		return
	}
	os.Exit(serveChild())
}

// serveChild runs the child's request loop until the parent closes the
// request pipe, and returns the exit code.
func serveChild() int {
	in := os.NewFile(childReqFD, "sandbox-requests")
	out := os.NewFile(childReplyFD, "sandbox-replies")
	if in == nil || out == nil {
		fmt.Fprintf(os.Stderr, "%s is set but this process has no request pipe: it was not started by the trustsync sandbox\n", EnvVar)
		return 2
	}
	if err := limitMemoryFromEnv(); err != nil {
		// Checking without the limit would let one input take the
		// machine's memory: refuse to serve (the parent reports the
		// checker unavailable).
		fmt.Fprintf(os.Stderr, "sandbox child: %v\n", err)
		return 2
	}
	s := &server{mirrors: map[string]*automerge.Doc{}}
	r := bufio.NewReaderSize(in, 64<<10)
	for {
		req, err := readFrame(r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			fmt.Fprintf(os.Stderr, "sandbox child: reading a request: %v\n", err)
			return 2
		}
		rep := s.handle(req)
		rep.mem, _ = cmem.Heap()
		if err := writeFrame(out, encodeReply(rep)); err != nil {
			fmt.Fprintf(os.Stderr, "sandbox child: writing a reply: %v\n", err)
			return 2
		}
		s.maybeGC()
	}
}

// childHook, when set (by this package's tests, before init runs), is
// called with each request's op before it is handled.
var childHook func(op byte)

type server struct {
	mirrors map[string]*automerge.Doc
	loaded  int64 // estimated native bytes loaded since the last GC
}

// nativeFactor estimates native bytes held per loaded byte (see crdt's
// memGuard): automerge-go frees native memory only from finalizers.
const (
	nativeFactor = 2048
	gcThreshold  = 64 << 20
)

func (s *server) note(n int) { s.loaded += int64(n) * nativeFactor }

func (s *server) maybeGC() {
	if s.loaded > gcThreshold {
		s.loaded = 0
		cmem.Trim()          // what the last collection's finalizers freed
		debug.FreeOSMemory() // runs the GC, so finalizers free native memory
		runtime.GC()
	}
}

// handle runs one request. A Go panic (automerge-go panics on some results
// it does not expect) is caught and answered as a rejection; a Rust panic
// aborts the process, which the parent sees as a crash.
func (s *server) handle(req []byte) (rep reply) {
	d := decoder{b: req}
	op := d.byte()
	defer func() {
		if v := recover(); v != nil {
			// The mirror may be half-changed: no heads are sent, so the
			// parent resyncs it before its next use.
			rep = reply{status: stRejected, text: fmt.Sprintf("go panic: %v", v)}
		}
	}()
	if childHook != nil {
		childHook(op)
	}
	switch op {
	case opPing:
		return reply{status: stOK}
	case opForget:
		key := d.str()
		if d.err != nil {
			return protoErr(d.err)
		}
		if _, ok := s.mirrors[key]; ok {
			delete(s.mirrors, key)
			// Collect after the reply, so that the mirror's native
			// memory is freed (by finalizers) before the next request
			// reports what is in use.
			s.loaded = gcThreshold + 1
		}
		return reply{status: stOK}
	case opSync:
		return s.sync(&d)
	case opMessage:
		return s.message(&d)
	case opLoad:
		return s.load(&d)
	case opChanges:
		data := d.bytes()
		if d.err != nil {
			return protoErr(d.err)
		}
		s.note(len(data))
		if err := checkChanges(data); err != nil {
			return reply{status: stRejected, text: err.Error()}
		}
		return reply{status: stOK}
	}
	return protoErr(fmt.Errorf("unknown op %d", op))
}

// limitMemoryFromEnv applies the limit the parent put in memoryEnvVar
// (Options.MaxMemory): RLIMIT_DATA where the platform enforces it, and a
// soft limit for the Go heap at half of it, so that the garbage collector
// runs harder before the hard limit is near (Automerge's native memory is
// outside the Go heap and is freed by finalizers, see maybeGC).
func limitMemoryFromEnv() error {
	v := os.Getenv(memoryEnvVar)
	if v == "" || v == "0" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%s=%q is not a number of bytes", memoryEnvVar, v)
	}
	if err := limitData(n); err != nil {
		return fmt.Errorf("setting the memory limit of %d bytes: %w", n, err)
	}
	debug.SetMemoryLimit(n / 2)
	return nil
}

func protoErr(err error) reply { return reply{status: stProtoError, text: err.Error()} }

func (s *server) sync(d *decoder) reply {
	key, mode, base, data, want := d.str(), d.byte(), d.heads(), d.bytes(), d.heads()
	if d.err != nil {
		return protoErr(d.err)
	}
	s.note(len(data))
	switch mode {
	case modeFull:
		delete(s.mirrors, key)
		m := automerge.New()
		if len(data) > 0 {
			var err error
			if m, err = automerge.Load(data); err != nil {
				return reply{status: stOutOfStep, text: "loading the base: " + err.Error()}
			}
		}
		s.mirrors[key] = m
	case modeDelta:
		m := s.mirrors[key]
		if m == nil {
			return reply{status: stOutOfStep, text: "no mirror"}
		}
		if !equalHeads(m.Heads(), base) {
			return reply{status: stOutOfStep, text: "mirror not at the base heads", heads: m.Heads()}
		}
		if err := m.LoadIncremental(data); err != nil {
			delete(s.mirrors, key)
			return reply{status: stOutOfStep, text: "loading the delta: " + err.Error()}
		}
	default:
		return protoErr(fmt.Errorf("unknown sync mode %d", mode))
	}
	m := s.mirrors[key]
	h := m.Heads()
	if !equalHeads(h, want) {
		delete(s.mirrors, key)
		return reply{status: stOutOfStep, text: "mirror heads differ from the parent's after sync", heads: h}
	}
	return reply{status: stOK, heads: h}
}

// mirror returns the mirror of key if it is at the expected heads.
func (s *server) mirror(key string, expect []automerge.ChangeHash) (*automerge.Doc, *reply) {
	m := s.mirrors[key]
	if m == nil {
		return nil, &reply{status: stOutOfStep, text: "no mirror"}
	}
	if h := m.Heads(); !equalHeads(h, expect) {
		return nil, &reply{status: stOutOfStep, text: "mirror not at the expected heads", heads: h}
	}
	return m, nil
}

func (s *server) message(d *decoder) reply {
	key, expect, state, msg := d.str(), d.heads(), d.bytes(), d.bytes()
	if d.err != nil {
		return protoErr(d.err)
	}
	m, bad := s.mirror(key, expect)
	if bad != nil {
		return *bad
	}
	s.note(len(msg) + len(state))
	// The mirror's heads are sent back on every path: a failed receive may
	// have applied part of the message.
	if err := receive(m, state, msg); err != nil {
		return reply{status: stRejected, text: err.Error(), heads: m.Heads()}
	}
	return reply{status: stOK, heads: m.Heads()}
}

// receive does what the parent will do with the message: decode the sync
// state, receive the message, generate the next message from that state
// (it reads the peer's have and need fields, which the message supplied),
// save the state, and read what the new changes brought.
func receive(m *automerge.Doc, state, msg []byte) error {
	var ss *automerge.SyncState
	if len(state) == 0 {
		ss = automerge.NewSyncState(m)
	} else {
		var err error
		if ss, err = automerge.LoadSyncState(m, state); err != nil {
			return fmt.Errorf("sync state: %w", err)
		}
	}
	before := m.Heads()
	stagetrace.Mark("child.start")
	sm, err := ss.ReceiveMessage(msg)
	if err != nil {
		return err
	}
	ss.GenerateMessage()
	ss.Save()
	stagetrace.Mark("child.received")
	err = exercise(m, before, false, needsReload(m, before, sm))
	stagetrace.Mark("child.done")
	return err
}

// needsReload reports whether a received sync message must be followed by
// the save-and-reload check (a Save and a Load of the whole document, most
// of the cost of a check). It is skipped only when the message changed
// nothing: every change it carried was already in the document (a
// retransmission, a duplicate) and the heads did not move, so the document
// saves to what it saved before the message, which was checked then (or is
// the caller's own). Skipping it whenever the carried changes all ended up
// in the history is not enough: TestHostileBattery found approved messages
// whose changes were all applied and whose document still did not load
// again ("changes out of order").
func needsReload(m *automerge.Doc, before []automerge.ChangeHash, sm *automerge.SyncMessage) bool {
	chs := sm.Changes()
	if len(chs) == 0 {
		return false
	}
	if !equalHeads(m.Heads(), before) {
		return true
	}
	for _, c := range chs {
		if got, err := m.Change(c.Hash()); err != nil || got == nil {
			return true
		}
	}
	return false
}

func (s *server) load(d *decoder) reply {
	key, expect, whole, data := d.str(), d.heads(), d.byte(), d.bytes()
	if d.err != nil {
		return protoErr(d.err)
	}
	m, bad := s.mirror(key, expect)
	if bad != nil {
		return *bad
	}
	s.note(2 * len(data))
	before := m.Heads()
	// whole 2 (CheckImport): the caller only merges data into its document
	// with LoadIncremental. Into an empty document that is what the mirror
	// does below, followed by the walk and the save-and-reload check, so
	// the scratch load would only repeat the work.
	if whole == 1 || whole == 2 && len(before) > 0 {
		// Import first loads the bytes alone to see that they are a
		// document.
		scratch, err := automerge.Load(data)
		if err != nil {
			return reply{status: stRejected, text: err.Error(), heads: m.Heads()}
		}
		if whole == 1 && len(before) == 0 {
			// CheckLoad with an empty base (crdt loading a stored
			// document): the caller loads the bytes with automerge.Load,
			// which the scratch just did; it becomes the mirror, and is
			// walked and reloaded, rather than loaded a second time.
			if err := exercise(scratch, nil, false, true); err != nil {
				return reply{status: stRejected, text: err.Error(), heads: m.Heads()}
			}
			s.mirrors[key] = scratch
			return reply{status: stOK, heads: scratch.Heads()}
		}
		if err := exercise(scratch, nil, true, false); err != nil { // no reload: the parent drops it
			return reply{status: stRejected, text: err.Error(), heads: m.Heads()}
		}
	}
	if err := m.LoadIncremental(data); err != nil {
		return reply{status: stRejected, text: err.Error(), heads: m.Heads()}
	}
	if err := exercise(m, before, false, true); err != nil {
		return reply{status: stRejected, text: err.Error(), heads: m.Heads()}
	}
	return reply{status: stOK, heads: m.Heads()}
}

func checkChanges(data []byte) error {
	chs, err := automerge.LoadChanges(data)
	if err != nil {
		return err
	}
	for _, c := range chs {
		readChange(c)
	}
	return nil
}

func readChange(c *automerge.Change) {
	c.Hash()
	c.ActorID()
	c.ActorSeq()
	c.Dependencies()
	c.Message()
	c.Timestamp()
	c.Save()
}

// exercise does what the parent does after accepting an input: it reads
// the changes since before (hashes, actors, messages, times, raw bytes) and,
// when there are any (or always, for a scratch document), every value of
// the document; and when reload is set, it saves the document and loads
// the result, as compaction and the next start do. A panic in Rust here
// aborts the child, so the input is rejected before the parent does the
// same.
//
// The reload matters: a sync message can carry a change whose
// dependencies are missing; automerge queues it without changing the
// heads, Save writes it out, and Load then fails ("bad checksum", "changes
// out of order"). Such an input would leave a store that does not open.
func exercise(d *automerge.Doc, before []automerge.ChangeHash, scratch, reload bool) error {
	var chs []*automerge.Change
	if !scratch {
		var err error
		if chs, err = d.Changes(before...); err != nil {
			return fmt.Errorf("listing the new changes: %w", err)
		}
		for _, c := range chs {
			readChange(c)
		}
	}
	if scratch || len(chs) > 0 {
		budget := 1 << 20
		if err := walk(d.Root(), &budget, 0); err != nil {
			return err
		}
	}
	if !reload {
		return nil
	}
	stagetrace.Mark("child.walked")
	again, err := automerge.Load(d.Save())
	if err != nil {
		return fmt.Errorf("the document would not load again after this input: %w", err)
	}
	if !equalHeads(again.Heads(), d.Heads()) {
		return errors.New("the document would load again with other heads after this input")
	}
	return nil
}

var errTooDeep = errors.New("document nested too deeply")

// walk reads a value and everything under it, at most *budget values.
func walk(v *automerge.Value, budget *int, depth int) error {
	*budget--
	if *budget < 0 {
		return nil
	}
	if depth > 1000 {
		return errTooDeep
	}
	switch v.Kind() {
	case automerge.KindMap:
		vals, err := v.Map().Values()
		if err != nil {
			return err
		}
		for _, c := range vals {
			if err := walk(c, budget, depth+1); err != nil {
				return err
			}
		}
	case automerge.KindList:
		vals, err := v.List().Values()
		if err != nil {
			return err
		}
		for _, c := range vals {
			if err := walk(c, budget, depth+1); err != nil {
				return err
			}
		}
	case automerge.KindText:
		if _, err := v.Text().Get(); err != nil {
			return err
		}
	case automerge.KindCounter:
		if _, err := v.Counter().Get(); err != nil {
			return err
		}
	case automerge.KindStr:
		v.Str()
	case automerge.KindBytes:
		v.Bytes()
	case automerge.KindInt64:
		v.Int64()
	case automerge.KindUint64:
		v.Uint64()
	case automerge.KindFloat64:
		v.Float64()
	case automerge.KindBool:
		v.Bool()
	case automerge.KindTime:
		v.Time()
	}
	return nil
}
