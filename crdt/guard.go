package crdt

// Every known pitfall of automerge-go is guarded here, in one place, and each
// guard has a test in guard_test.go that fails when the guard is removed.
// The rest of the package touches automerge-go only through these helpers
// for the risky operations: loading bytes, applying changes, merging,
// reading and writing typed values, sync states and change timestamps.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/internal/cmem"
)

// errEmptyInput is returned for empty bytes offered as a document, a chunk or
// a sync message. automerge.Load(nil) returns an empty document without
// error, which would silently stand in for the real one.
var errEmptyInput = errors.New("empty input")

// errNotAutomerge is returned for bytes that do not start with the magic
// bytes of an Automerge chunk. LoadIncremental into a non-empty document
// returns nil for any garbage, so garbage must be refused before it.
var errNotAutomerge = errors.New("not Automerge data (bad magic bytes)")

// automergeMagic starts every Automerge chunk: documents, change sets and
// single changes.
const automergeMagic = "\x85\x6f\x4a\x83"

func checkInput(data []byte) error {
	if len(data) == 0 {
		return errEmptyInput
	}
	if len(data) < len(automergeMagic) || string(data[:len(automergeMagic)]) != automergeMagic {
		return errNotAutomerge
	}
	return nil
}

// loadDoc loads a whole saved document, refusing empty input, and counts the
// bytes towards mem. It then calls SaveIncremental once and discards it: the
// first SaveIncremental after a load otherwise re-exports the whole history,
// which would be stored again as the next chunk.
func loadDoc(mem *memGuard, data []byte) (*automerge.Doc, error) {
	if err := checkInput(data); err != nil {
		return nil, err
	}
	mem.noteLoad(len(data))
	d, err := automerge.Load(data)
	if err != nil {
		return nil, err
	}
	d.SaveIncremental()
	return d, nil
}

// loadInto merges saved bytes (a document or incremental changes) into d,
// refusing empty input, and discards the SaveIncremental it causes (see
// loadDoc). LoadIncremental on a non-empty document accepts garbage without
// error, so input must at least start with Automerge's magic bytes; callers
// that take untrusted bytes validate them further first.
func loadInto(mem *memGuard, d *automerge.Doc, data []byte) error {
	if err := checkInput(data); err != nil {
		return err
	}
	mem.noteLoad(len(data))
	if err := d.LoadIncremental(data); err != nil {
		return err
	}
	d.SaveIncremental()
	return nil
}

// applyEach applies changes one by one. Doc.Apply applies every change of
// the batch a change was decoded from, not just the change passed; so each
// change is round-tripped through its own bytes (Change.Save) and loaded
// alone. Doc.Apply is never called. (LoadChanges cannot re-decode a lone
// change that has dependencies, so the bytes go to LoadIncremental.)
func applyEach(mem *memGuard, d *automerge.Doc, chs ...*automerge.Change) error {
	for _, c := range chs {
		if err := loadInto(mem, d, c.Save()); err != nil {
			return fmt.Errorf("apply change %s: %w", c.Hash(), err)
		}
	}
	return nil
}

// errSelfMerge is returned by merge when asked to merge a document into
// itself, which deadlocks automerge-go.
var errSelfMerge = errors.New("merge of a document into itself")

// merge merges src into dst. d.Merge(d) deadlocks, and a.Merge(b) running
// concurrently with b.Merge(a) deadlocks (each holds its own lock and waits
// for the other's). merge refuses the first and avoids the second by never
// holding both locks: it saves src (src's lock only), then loads the bytes
// into dst (dst's lock only).
func merge(mem *memGuard, dst, src *automerge.Doc) error {
	if dst == src {
		return errSelfMerge
	}
	return loadInto(mem, dst, src.Save())
}

// Values are read by walking Map.Get from a known map, never with Path:
// chained Path calls on a shared base alias (a later Path overwrites an
// earlier one's segment) and Path.Set creating intermediate objects is not
// atomic across goroutines.

// getValue returns the value at key in m, or nil when m is nil, the key is
// missing or the read fails.
func getValue(m *automerge.Map, key string) *automerge.Value {
	if m == nil {
		return nil
	}
	v, err := m.Get(key)
	if err != nil || v == nil || v.IsVoid() {
		return nil
	}
	return v
}

// getMap walks keys from m with Map.Get and returns the map found there.
func getMap(m *automerge.Map, keys ...string) *automerge.Map {
	for _, k := range keys {
		v := getValue(m, k)
		if v == nil || v.Kind() != automerge.KindMap {
			return nil
		}
		m = v.Map()
	}
	return m
}

// getStr returns the string at key; a Text is read as its string.
func getStr(m *automerge.Map, key string) string {
	v := getValue(m, key)
	if v == nil {
		return ""
	}
	switch v.Kind() {
	case automerge.KindStr:
		return v.Str()
	case automerge.KindText:
		s, _ := v.Text().Get()
		return s
	}
	return ""
}

// getBool returns the bool at key, false when missing or not a bool.
func getBool(m *automerge.Map, key string) bool {
	v := getValue(m, key)
	return v != nil && v.Kind() == automerge.KindBool && v.Bool()
}

// getInt returns the integer at key. automerge-go stores a Go int as a
// float64 and only int64 and uint64 stay integers, so all three are read;
// documents written by other clients may hold any of them.
func getInt(m *automerge.Map, key string) (int64, bool) {
	v := getValue(m, key)
	if v == nil {
		return 0, false
	}
	return intValue(v)
}

func intValue(v *automerge.Value) (int64, bool) {
	switch v.Kind() {
	case automerge.KindInt64:
		return v.Int64(), true
	case automerge.KindUint64:
		return int64(v.Uint64()), true
	case automerge.KindFloat64:
		return int64(v.Float64()), true
	case automerge.KindCounter:
		n, err := v.Counter().Get()
		return n, err == nil
	case automerge.KindTime:
		return v.Time().UnixMilli(), true
	}
	return 0, false
}

// setInt stores an integer as an Automerge int. It takes int64 so that no
// caller can pass a Go int, which automerge-go would store as a float64.
func setInt(m *automerge.Map, key string, n int64) error {
	return m.Set(key, n)
}

// getTime reads a time stored as int64 Unix milliseconds.
func getTime(m *automerge.Map, key string) time.Time {
	n, ok := getInt(m, key)
	if !ok || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// setTime stores t as int64 Unix milliseconds.
func setTime(m *automerge.Map, key string, t time.Time) error {
	return setInt(m, key, t.UnixMilli())
}

// changeTime returns when a change was made. automerge-go writes change
// timestamps in milliseconds, JavaScript Automerge in seconds; a value below
// 1e11 (in milliseconds: March 1973) is taken to be seconds.
func changeTime(c *automerge.Change) time.Time {
	raw := c.Timestamp().UnixMilli()
	return rawChangeTime(raw)
}

func rawChangeTime(raw int64) time.Time {
	if raw == 0 {
		return time.Time{}
	}
	if raw < 1e11 && raw > -1e11 {
		return time.Unix(raw, 0).UTC()
	}
	return time.UnixMilli(raw).UTC()
}

// lockedSyncState is an Automerge sync state behind a mutex. Its methods are
// the only way the package uses a SyncState: SyncState.Save takes no lock,
// and a save concurrent with a receive or generate reads memory the other is
// changing.
type lockedSyncState struct {
	mu  sync.Mutex
	ss  *automerge.SyncState
	doc *automerge.Doc // the document ss is bound to
}

// errBadSyncState is returned for persisted sync state bytes that are not
// exactly what SyncState.Save writes.
var errBadSyncState = errors.New("not a saved sync state")

// checkSyncState accepts only the exact form SyncState.Save writes (see
// sharedHeadsState): the type byte 0x43, the number of shared heads as a
// minimal unsigned LEB128, then that many 32-byte hashes and nothing else.
// The bytes come from the store, which anyone who can write the home (or
// a bug) can fill; they reach automerge only in this form, which the Go
// code here fully decodes, so no sandbox check is needed for them.
// (automerge itself accepts trailing bytes.)
func checkSyncState(b []byte) error {
	if len(b) < 2 || b[0] != 0x43 {
		return errBadSyncState
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || k != len(binary.AppendUvarint(nil, n)) {
		return errBadSyncState
	}
	rest := uint64(len(b) - 1 - k)
	if rest%32 != 0 || rest/32 != n {
		return errBadSyncState
	}
	return nil
}

func newLockedSyncState(d *automerge.Doc, persisted []byte) (*lockedSyncState, error) {
	if len(persisted) == 0 {
		return &lockedSyncState{ss: automerge.NewSyncState(d), doc: d}, nil
	}
	if err := checkSyncState(persisted); err != nil {
		return nil, err
	}
	ss, err := automerge.LoadSyncState(d, persisted)
	if err != nil {
		return nil, err
	}
	return &lockedSyncState{ss: ss, doc: d}, nil
}

func (l *lockedSyncState) generate() ([]byte, bool) {
	b, _, ok := l.generateWith()
	return b, ok
}

// generateWith is generate, also returning the changes the message
// carries.
func (l *lockedSyncState) generateWith() ([]byte, []*automerge.Change, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, ok := l.ss.GenerateMessage()
	if !ok {
		return nil, nil, false
	}
	return m.Bytes(), m.Changes(), true
}

// receive applies msg and returns the heads it advertised: the sender's
// heads when it generated msg.
func (l *lockedSyncState) receive(mem *memGuard, msg []byte) ([]automerge.ChangeHash, error) {
	if len(msg) == 0 {
		return nil, errEmptyInput
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	mem.noteLoad(len(msg))
	m, err := l.ss.ReceiveMessage(msg)
	if err != nil {
		return nil, err
	}
	return m.Heads(), nil
}

func (l *lockedSyncState) save() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ss.Save()
}

// memGuard bounds the native memory held by dead documents. automerge-go
// frees a document's native memory only from a Go finalizer, and the Go heap
// never sees that memory, so the Go GC may not run for a long time while
// dead documents pile up: 60 loads of a 21 KB document held 1.18 GB RSS.
// memGuard counts an estimate of native memory loaded (bytes x
// nativeFactor) and calls runtime.GC past a threshold.
type memGuard struct {
	mu        sync.Mutex
	since     int64 // estimated native bytes loaded since the last GC
	threshold int64
	gc        func()
	gcs       int // how many times gc ran, for tests
}

const (
	// nativeFactor estimates native bytes per loaded byte. Measured with
	// this core: a document of 40 texts of 500 characters saves to 1.3 KB
	// and holds about 7 MB once loaded; a 22 KB document of texts about
	// 30 MB.
	nativeFactor = 2048
	// memThreshold is how much estimated native memory may be loaded
	// between two forced collections.
	memThreshold = 64 << 20
)

func newMemGuard() *memGuard {
	return &memGuard{threshold: memThreshold, gc: collect}
}

// collect gives the C allocator's free memory back to the system (what the
// finalizers of the previous collection freed: Automerge's documents live
// there, and glibc keeps freed blocks otherwise), then collects garbage so
// that the finalizers of documents dead since run.
func collect() {
	cmem.Trim()
	runtime.GC()
}

// noteLoad records that n bytes are being loaded into native memory and
// collects garbage when the estimate since the last collection passes the
// threshold, so that finalizers of dead documents run.
func (g *memGuard) noteLoad(n int) {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.since += int64(n) * nativeFactor
	run := g.since >= g.threshold
	if run {
		g.since = 0
		g.gcs++
	}
	g.mu.Unlock()
	if run {
		g.gc()
	}
}
