package sync

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/trustsync/trustsync/crdt"
)

// Frame types. Every frame on the wire is a uvarint length (of the type byte
// and the body), one type byte, and the body.
const (
	frameHello    byte = 1 // protocol version, space, device, member, docs with heads
	frameSnapshot byte = 2 // doc, codec, signed Save() of a document, deflated when that makes it shorter
	frameSync     byte = 3 // doc, codec, signed Automerge sync message, deflated when that makes it shorter
	frameStatus   byte = 4 // digest of all my heads, what I received so far
	frameError    byte = 5 // a reason; the sender closes next
	framePing     byte = 6 // keepalive; after the hello, its body may note the sender's listen addresses
	frameDamaged  byte = 7 // doc, why it is damaged here; an empty reason: restored
	frameRefused  byte = 8 // doc, why a change the peer sent for it was refused
)

// ProtocolVersion is the version of the frames this package speaks, sent in
// the hello. A peer speaking another version is refused.
//
// Version 2: every change travels with its author's signature (sync
// messages and documents are signed bundles), and a refused change is
// named in a REFUSED frame while the other documents sync on. A version 1
// device sends unsigned changes, which a version 2 device cannot accept:
// both devices need this version.
//
// Version 3: a signed bundle carries only the signatures that cover its
// changes -- per device, the signatures of its latest changes, each
// covering that device's earlier changes among its ancestors -- instead of
// one per change. A version 2 device expects a signature for every change
// and would refuse the others: both devices need this version.
const ProtocolVersion = 3

// Limits of what a peer may send.
const (
	// DefaultMaxFrame is the largest frame accepted or sent: 8 MiB.
	DefaultMaxFrame = 8 << 20
	// maxInflated bounds a decompressed payload (a decompression bomb ends
	// the session, not the process).
	maxInflated = 256 << 20
	maxDocs     = 100000
	maxHeads    = 4096
	maxString   = 1024
	maxAddrs    = 32  // listen addresses in one note
	compressMin = 256 // payloads shorter than this are sent raw
)

// Errors a session ends with. Each is wrapped with what went wrong.
var (
	// ErrFrameTooLarge is returned when a frame exceeds the size limit.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrMalformed is returned for a frame that cannot be decoded.
	ErrMalformed = errors.New("malformed frame")
	// ErrSpaceMismatch is returned when the peer's hello names another space.
	ErrSpaceMismatch = errors.New("peer belongs to another space")
	// ErrUnknownDevice is returned when the peer's hello names a device that
	// is not a current device of the space, or whose recorded peer ID
	// differs from the connection's.
	ErrUnknownDevice = errors.New("unknown device")
	// ErrBadDoc is returned for a document ID that no trustsync space has.
	ErrBadDoc = errors.New("unknown document ID")
	// ErrVersion is returned when the peer speaks another protocol version.
	ErrVersion = errors.New("unsupported protocol version")
)

// RemoteError is returned by a session whose peer sent an ERROR frame.
type RemoteError struct {
	Reason string
}

func (e *RemoteError) Error() string { return "peer refused: " + e.Reason }

// ValidDoc reports whether id names a document a space can hold; the list
// is crdt's ([crdt.ValidDoc]), so that a new kind of document syncs without
// a change here.
func ValidDoc(id string) bool { return crdt.ValidDoc(id) }

func checkDoc(id string) error {
	if !ValidDoc(id) {
		return fmt.Errorf("%w: %q", ErrBadDoc, truncate(id, 64))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// frame is one decoded frame.
type frame struct {
	typ  byte
	body []byte
}

// readFrame reads one frame, refusing frames over max bytes before reading
// their body.
func readFrame(r *bufio.Reader, max int) (frame, error) {
	n, err := readUvarint(r)
	if err != nil {
		return frame{}, err
	}
	if n == 0 {
		return frame{}, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	if n > uint64(max) {
		return frame{}, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return frame{}, err
	}
	return frame{typ: buf[0], body: buf[1:]}, nil
}

// readUvarint reads a frame length, telling a malformed length from a
// broken connection.
func readUvarint(r io.ByteReader) (uint64, error) {
	var x uint64
	var s uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break
			}
			return x | uint64(b)<<s, nil
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	return 0, fmt.Errorf("%w: frame length overflows", ErrMalformed)
}

// encodeFrame encodes a frame.
func encodeFrame(typ byte, body []byte) []byte {
	out := make([]byte, 0, binary.MaxVarintLen64+1+len(body))
	out = binary.AppendUvarint(out, uint64(1+len(body)))
	out = append(out, typ)
	return append(out, body...)
}

// decoder reads the fields of a frame body.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrMalformed, what)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(what string, max int) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(what string) string { return string(d.bytes(what, maxString)) }

func (d *decoder) fixed(what string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail(what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) rest() []byte {
	v := d.b
	d.b = nil
	return v
}

func (d *decoder) end(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(what + " (trailing bytes)")
	}
	return d.err
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// hello is the first frame each side sends.
type hello struct {
	Version  uint64
	SpaceID  string
	DeviceID string
	MemberID string
	Docs     map[string][]string // doc -> heads (hex, sorted)
}

func (h hello) encode() ([]byte, error) {
	b := binary.AppendUvarint(nil, h.Version)
	b = appendString(b, h.SpaceID)
	b = appendString(b, h.DeviceID)
	b = appendString(b, h.MemberID)
	docs := sortedKeys(h.Docs)
	b = binary.AppendUvarint(b, uint64(len(docs)))
	for _, doc := range docs {
		b = appendString(b, doc)
		heads := h.Docs[doc]
		b = binary.AppendUvarint(b, uint64(len(heads)))
		for _, hd := range heads {
			raw, err := hex.DecodeString(hd)
			if err != nil || len(raw) != sha256.Size {
				return nil, fmt.Errorf("head %q of %s is not a change hash", hd, doc)
			}
			b = append(b, raw...)
		}
	}
	return b, nil
}

func decodeHello(body []byte) (hello, error) {
	d := &decoder{b: body}
	h := hello{Docs: map[string][]string{}}
	h.Version = d.uvarint("version")
	if d.err == nil && h.Version != ProtocolVersion {
		return h, fmt.Errorf("%w: peer speaks %d, we speak %d (both devices need the same version of trustsync: update the older one)", ErrVersion, h.Version, ProtocolVersion)
	}
	h.SpaceID = d.string("space ID")
	h.DeviceID = d.string("device ID")
	h.MemberID = d.string("member ID")
	n := d.uvarint("doc count")
	if d.err == nil && n > maxDocs {
		d.fail("doc count")
	}
	for i := uint64(0); d.err == nil && i < n; i++ {
		doc := d.string("doc ID")
		nh := d.uvarint("head count")
		if d.err != nil {
			break
		}
		if nh > maxHeads {
			d.fail("head count")
			break
		}
		if err := checkDoc(doc); err != nil {
			return h, err
		}
		if _, dup := h.Docs[doc]; dup {
			d.fail("hello (document listed twice)")
			break
		}
		heads := make([]string, 0, nh)
		for j := uint64(0); j < nh; j++ {
			heads = append(heads, hex.EncodeToString(d.fixed("head", sha256.Size)))
		}
		slices.Sort(heads)
		h.Docs[doc] = heads
	}
	if err := d.end("hello"); err != nil {
		return h, err
	}
	if h.SpaceID == "" || h.DeviceID == "" {
		return h, fmt.Errorf("%w: hello without space or device", ErrMalformed)
	}
	return h, nil
}

// noteAddrs is the first byte of a PING body that notes the sender's
// listen addresses. A PING body of another kind is ignored (kept free for
// later notes); so is every PING body by peers from before this note, which
// is why the addresses travel there rather than in the hello, whose
// decoder refuses trailing bytes.
const noteAddrs byte = 1

// noteOthers is the first byte of a PING body that passes on the listen
// addresses other devices of the space told the sender: a count, then for
// each device its ID, a count and the addresses.
const noteOthers byte = 2

// maxOthers bounds the devices one noteOthers body names.
const maxOthers = 16

// encodeAddrNote encodes a PING body noting listen addresses: the kind
// byte, a count, then each address as a string.
func encodeAddrNote(addrs []string) []byte {
	b := []byte{noteAddrs}
	b = binary.AppendUvarint(b, uint64(len(addrs)))
	for _, a := range addrs {
		b = appendString(b, a)
	}
	return b
}

// decodeAddrNote decodes a PING body; ok is false for a body of another
// kind, which the caller ignores.
func decodeAddrNote(body []byte) (addrs []string, ok bool, err error) {
	if len(body) == 0 || body[0] != noteAddrs {
		return nil, false, nil
	}
	d := &decoder{b: body[1:]}
	n := d.uvarint("address count")
	if d.err == nil && n > maxAddrs {
		d.fail("address count")
	}
	for i := uint64(0); d.err == nil && i < n; i++ {
		addrs = append(addrs, d.string("address"))
	}
	if err := d.end("address note"); err != nil {
		return nil, true, err
	}
	return addrs, true, nil
}

// encodeOthersNote encodes a PING body passing on other devices'
// addresses.
func encodeOthersNote(others map[string][]string) []byte {
	b := []byte{noteOthers}
	ids := sortedKeys(others)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = appendString(b, id)
		b = binary.AppendUvarint(b, uint64(len(others[id])))
		for _, a := range others[id] {
			b = appendString(b, a)
		}
	}
	return b
}

// decodeOthersNote decodes a PING body of kind noteOthers.
func decodeOthersNote(body []byte) (map[string][]string, error) {
	d := &decoder{b: body[1:]}
	out := map[string][]string{}
	n := d.uvarint("device count")
	if d.err == nil && n > maxOthers {
		d.fail("device count")
	}
	for i := uint64(0); d.err == nil && i < n; i++ {
		id := d.string("device ID")
		m := d.uvarint("address count")
		if d.err == nil && m > maxAddrs {
			d.fail("address count")
		}
		addrs := []string{}
		for j := uint64(0); d.err == nil && j < m; j++ {
			addrs = append(addrs, d.string("address"))
		}
		out[id] = addrs
	}
	if err := d.end("address note"); err != nil {
		return nil, err
	}
	return out, nil
}

// encodeDocPayload encodes SNAPSHOT and SYNC bodies: doc, codec byte, data.
// The codec byte says how data follows: 0 as is, 1 deflated. Data is
// deflated unless it is short, or deflating does not make it shorter (a
// saved document is compressed already): then it goes as is.
func encodeDocPayload(doc string, data []byte) ([]byte, error) {
	b := appendString(nil, doc)
	raw := func() []byte { return append(append(b, 0), data...) }
	if len(data) < compressMin {
		return raw(), nil
	}
	var buf bytes.Buffer
	buf.Write(b)
	buf.WriteByte(1)
	w, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if buf.Len()-len(b)-1 >= len(data) {
		return raw(), nil
	}
	return buf.Bytes(), nil
}

func decodeDocPayload(body []byte) (string, []byte, error) {
	d := &decoder{b: body}
	doc := d.string("doc ID")
	codec := d.fixed("codec", 1)
	if d.err != nil {
		return "", nil, d.err
	}
	if err := checkDoc(doc); err != nil {
		return "", nil, err
	}
	data := d.rest()
	switch codec[0] {
	case 0:
	case 1:
		r := flate.NewReader(bytes.NewReader(data))
		out, err := io.ReadAll(io.LimitReader(r, maxInflated+1))
		if err != nil {
			return "", nil, fmt.Errorf("%w: %s: cannot inflate: %v", ErrMalformed, doc, err)
		}
		if len(out) > maxInflated {
			return "", nil, fmt.Errorf("%w: %s inflates past %d bytes", ErrFrameTooLarge, doc, maxInflated)
		}
		data = out
	default:
		return "", nil, fmt.Errorf("%w: unknown codec %d", ErrMalformed, codec[0])
	}
	if len(data) == 0 {
		return "", nil, fmt.Errorf("%w: empty payload for %s", ErrMalformed, doc)
	}
	return doc, data, nil
}

// status is what a side sends when it has nothing more to send: a digest of
// its heads and a tally of the items it received from the peer so far.
type status struct {
	Digest   [sha256.Size]byte
	Received map[string]int // kind -> items
}

func (s status) encode() []byte {
	b := append([]byte(nil), s.Digest[:]...)
	kinds := sortedKeys(s.Received)
	b = binary.AppendUvarint(b, uint64(len(kinds)))
	for _, k := range kinds {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, uint64(s.Received[k]))
	}
	return b
}

func decodeStatus(body []byte) (status, error) {
	d := &decoder{b: body}
	var s status
	copy(s.Digest[:], d.fixed("digest", sha256.Size))
	n := d.uvarint("tally")
	if d.err == nil && n > 64 {
		d.fail("tally")
	}
	s.Received = map[string]int{}
	for i := uint64(0); d.err == nil && i < n; i++ {
		k := d.string("kind")
		v := d.uvarint("count")
		if v > 1<<31 {
			d.fail("count")
		}
		s.Received[k] = int(v)
	}
	return s, d.end("status")
}

// digest hashes every document's heads in a fixed order. Two spaces with
// equal digests hold the same changes.
func digest(heads map[string][]string) [sha256.Size]byte {
	h := sha256.New()
	for _, doc := range sortedKeys(heads) {
		if len(heads[doc]) == 0 {
			continue
		}
		appendLen := binary.AppendUvarint(nil, uint64(len(doc)))
		h.Write(appendLen)
		h.Write([]byte(doc))
		hs := slices.Clone(heads[doc])
		slices.Sort(hs)
		h.Write(binary.AppendUvarint(nil, uint64(len(hs))))
		for _, x := range hs {
			h.Write([]byte(x))
		}
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// damagedNote is the body of a DAMAGED frame: a document the sender cannot
// read, and why (one line); an empty reason says it is readable again.
type damagedNote struct {
	Doc    string
	Reason string
}

func (n damagedNote) encode() []byte {
	b := appendString(nil, n.Doc)
	return appendString(b, truncate(n.Reason, maxString-8))
}

func decodeDamaged(body []byte) (damagedNote, error) {
	d := &decoder{b: body}
	n := damagedNote{Doc: d.string("doc ID"), Reason: printable(d.string("reason"))}
	if err := d.end("damaged"); err != nil {
		return n, err
	}
	if err := checkDoc(n.Doc); err != nil {
		return n, err
	}
	return n, nil
}

// printable makes text from a peer safe to show on one line of a terminal:
// valid UTF-8, control characters replaced by spaces.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "?")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}
