package amwire

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Errors wrapped by every error this package returns.
var (
	// ErrMalformed means the bytes are not a well-formed encoding: cut
	// short, a count that does not fit the bytes left, a value of the
	// wrong kind, an actor index out of range.
	ErrMalformed = errors.New("malformed")
	// ErrChecksum means a chunk's checksum does not match its contents.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrUnsupported means the input uses a construct this parser does not
	// know and cannot skip: an unknown chunk type, action or sync message
	// type, or a deflated column inside a change.
	ErrUnsupported = errors.New("unsupported")
	// ErrLimit means the input is larger than the [Limits] allow.
	ErrLimit = errors.New("limit exceeded")
)

// kindError is a message that wraps one of the sentinel errors above
// without repeating its text.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func malformed(format string, args ...any) error {
	return &kindError{ErrMalformed, fmt.Sprintf(format, args...)}
}

func unsupported(format string, args ...any) error {
	return &kindError{ErrUnsupported, fmt.Sprintf(format, args...)}
}

func overLimit(format string, args ...any) error {
	return &kindError{ErrLimit, fmt.Sprintf(format, args...)}
}

// Limits bounds what one call to a Parse function may read and allocate.
// A zero field takes the default given in its comment; a negative field
// is treated as zero.
type Limits struct {
	// MaxBytes bounds the length of the input. Default 32 MiB.
	MaxBytes int
	// MaxDecompressed bounds the total size of the bodies inflated from
	// deflated changes in one call; inflating stops when it is reached.
	// Default 32 MiB.
	MaxDecompressed int
	// MaxOps bounds the number of operations in all changes of one call,
	// and separately the number of predecessor references they hold. An
	// Op takes about 200 bytes, so the default of 200,000 allows about
	// 40 MB of operations.
	MaxOps int
	// MaxChanges bounds the number of changes in one call, and the number
	// of "have" entries of a sync message. Default 10,000.
	MaxChanges int
	// MaxActors bounds the number of actors one change may refer to.
	// Default 1,024.
	MaxActors int
	// MaxValueBytes bounds the size of one value, map key or mark name.
	// Default 1 MiB.
	MaxValueBytes int
	// OpsPerChange makes MaxOps (and the bound on predecessors) apply to
	// each change on its own rather than to all changes of the call.
	OpsPerChange bool
}

// Defaults of [Limits].
const (
	DefaultMaxBytes        = 32 << 20
	DefaultMaxDecompressed = 32 << 20
	DefaultMaxOps          = 200_000
	DefaultMaxChanges      = 10_000
	DefaultMaxActors       = 1024
	DefaultMaxValueBytes   = 1 << 20
)

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func (l Limits) withDefaults() Limits {
	return Limits{
		MaxBytes:        orDefault(l.MaxBytes, DefaultMaxBytes),
		MaxDecompressed: orDefault(l.MaxDecompressed, DefaultMaxDecompressed),
		MaxOps:          orDefault(l.MaxOps, DefaultMaxOps),
		MaxChanges:      orDefault(l.MaxChanges, DefaultMaxChanges),
		MaxActors:       orDefault(l.MaxActors, DefaultMaxActors),
		MaxValueBytes:   orDefault(l.MaxValueBytes, DefaultMaxValueBytes),
	}
}

// Hash is the SHA-256 hash that identifies a change; it converts to and
// from automerge.ChangeHash.
type Hash [32]byte

// String returns the hash in lower-case hex, as automerge.ChangeHash.String does.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// OpID identifies an operation: the Counter-th operation of the actor
// Change.Actors[Actor]. Counter 0 names the root object (as Op.Obj) or the
// head of a list (as Op.Elem).
type OpID struct {
	Counter uint64
	Actor   int
}

// IsRoot reports whether id names the root object (or, as an element, the
// head of a list).
func (id OpID) IsRoot() bool { return id.Counter == 0 }

// String returns id as "counter@actor-index", or "root" when Counter is 0.
func (id OpID) String() string {
	if id.Counter == 0 {
		return "root"
	}
	return strconv.FormatUint(id.Counter, 10) + "@" + strconv.Itoa(id.Actor)
}

// Action is what an operation does.
type Action uint8

// Actions, numbered as Automerge numbers them.
const (
	MakeMap   Action = 0 // create a map
	Set       Action = 1 // set a map key or list element to a value
	MakeList  Action = 2 // create a list
	Del       Action = 3 // delete a map key or list element
	MakeText  Action = 4 // create a text object
	Inc       Action = 5 // add Value (an int or uint) to a counter
	MakeTable Action = 6 // create a table
	Mark      Action = 7 // mark a range of text
)

var actionNames = [...]string{"MakeMap", "Set", "MakeList", "Del", "MakeText", "Inc", "MakeTable", "Mark"}

// String returns the action's name, such as "Set".
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// Kind is the type of a [Value].
type Kind uint8

// Value kinds, numbered as Automerge's value metadata numbers them.
const (
	Null      Kind = 0
	Bool      Kind = 1 // Automerge stores false as 1 and true as 2
	Uint      Kind = 3
	Int       Kind = 4
	Float     Kind = 5
	String    Kind = 6
	Bytes     Kind = 7
	Counter   Kind = 8
	Timestamp Kind = 9
	Unknown   Kind = 10 // a type code from 10 to 15; see Value.TypeCode
)

var kindNames = map[Kind]string{Null: "null", Bool: "bool", Uint: "uint", Int: "int", Float: "float",
	String: "string", Bytes: "bytes", Counter: "counter", Timestamp: "timestamp", Unknown: "unknown"}

// String returns the kind's name, such as "string".
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is the scalar an operation carries. Which field holds it depends
// on Kind: Bool; Uint; Int for Int, Counter and Timestamp (milliseconds
// since the Unix epoch); Float; Str; Bytes for Bytes and Unknown.
type Value struct {
	Kind     Kind
	Bool     bool
	Uint     uint64
	Int      int64
	Float    float64
	Str      string
	Bytes    []byte
	TypeCode uint8 // the raw type code, 10 to 15, when Kind is Unknown
}

// String returns the value for logs and test failures, such as `"x"`,
// `int 5` or `counter 3`.
func (v Value) String() string {
	switch v.Kind {
	case Null:
		return "null"
	case Bool:
		return strconv.FormatBool(v.Bool)
	case Uint:
		return "uint " + strconv.FormatUint(v.Uint, 10)
	case Int, Counter, Timestamp:
		return v.Kind.String() + " " + strconv.FormatInt(v.Int, 10)
	case Float:
		return "float " + strconv.FormatFloat(v.Float, 'g', -1, 64)
	case String:
		return strconv.Quote(v.Str)
	case Bytes:
		return "bytes " + hex.EncodeToString(v.Bytes)
	default:
		return "unknown(" + strconv.Itoa(int(v.TypeCode)) + ") " + hex.EncodeToString(v.Bytes)
	}
}

// Op is one operation of a change.
type Op struct {
	// ID is the operation's own id: Change.StartOp plus its index in
	// Change.Ops, with the change's actor (index 0).
	ID OpID
	// Obj is the object the operation edits: the root map when
	// Obj.Counter is 0, else the id of the Make operation that created it.
	Obj OpID
	// Key is the map key edited, when the object is a map (or table).
	Key string
	// Elem is the list or text element edited when Key is empty: the
	// element inserted by operation Elem, or the head of the list when
	// Elem.Counter is 0 (an insert at the start).
	Elem OpID
	// IsKey reports whether the operation addresses a map key (Key) rather
	// than a list element (Elem). An empty key is a valid map key.
	IsKey bool
	// Insert reports whether the operation inserts a new element after
	// Elem rather than overwriting it.
	Insert bool
	Action Action
	// Value is the value set (Set), the amount added (Inc) or the mark's
	// value (Mark); Null for the other actions.
	Value Value
	// Pred lists the operations this one overwrites or deletes.
	Pred []OpID
	// Expand and MarkName belong to Mark operations.
	Expand   bool
	MarkName string
}

// Change is one parsed change.
type Change struct {
	// Hash is the change's hash, equal to automerge.Change.Hash.
	Hash Hash
	// Actor is the id of the actor that made the change (Actors[0]).
	Actor []byte
	// Seq is the change's sequence number among the actor's changes, from 1.
	Seq uint64
	// StartOp is the counter of the change's first operation.
	StartOp uint64
	// Time is the commit time in milliseconds since the Unix epoch (0 when
	// none was given).
	Time int64
	// Message is the commit message, empty when there is none.
	Message string
	// Deps are the hashes of the changes this one depends on.
	Deps []Hash
	// Actors are the actors the operations refer to by index: Actors[0]
	// is Actor, then the other actors in the order the change lists them.
	Actors [][]byte
	// Ops are the change's operations in order.
	Ops []Op
	// Size is the length of the change's chunk as stored or sent (deflated
	// when it was deflated).
	Size int
	// Deflated reports whether the chunk was a deflated change.
	Deflated bool
}

// ActorHex returns the change's actor in lower-case hex, as
// automerge.Change.ActorID does.
func (c *Change) ActorHex() string { return hex.EncodeToString(c.Actor) }

// Have is one "have" entry of a sync message: the heads at the end of the
// last sync with this peer and a Bloom filter of the changes since.
type Have struct {
	LastSync []Hash
	// Bloom is the filter as encoded (empty, or its entry count, bits per
	// entry and probe count as uLEB128 numbers followed by its bits).
	Bloom []byte
}

// SyncMessage is one parsed sync message.
type SyncMessage struct {
	// Heads are the sender's heads.
	Heads []Hash
	// Need lists changes the sender asks for by hash.
	Need []Hash
	Have []Have
	// Changes are the changes the message carries, in order.
	Changes []*Change
	// Flags are the optional flag bytes at the end of the message.
	Flags []byte
}

// maxCounter is the largest operation counter Automerge accepts.
const maxCounter = math.MaxUint32
