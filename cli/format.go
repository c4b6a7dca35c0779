package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/showtext"
)

// shortID is how many characters of an ID text output shows. Input accepts
// any unique prefix of at least trustsync.MinIDPrefix characters.
const shortID = 8

func short(id string) string {
	if len(id) > shortID {
		return id[:shortID]
	}
	return id
}

// relTime says how long ago t was, the way a person would (see
// showtext.When, which the local web page shares).
func relTime(now, t time.Time) string { return showtext.When(now, t) }

// jsonTime formats a time for JSON output as RFC 3339 in UTC, "" when zero.
func jsonTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// writeJSON prints v as indented JSON followed by a newline. Besides the
// control characters encoding/json escapes, DEL, the C1 controls and the
// bidirectional overrides are written as \u escapes too, so that the JSON
// holds exactly the stored text and shows nothing a terminal acts on.
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b := buf.Bytes()
	if !textIsSafe(string(b)) {
		var out bytes.Buffer
		for i := 0; i < len(b); {
			r, size := utf8.DecodeRune(b[i:])
			if r == 0x7f || (r >= 0x80 && (unicode.IsControl(r) || crdt.IsBidiControl(r))) {
				fmt.Fprintf(&out, `\u%04x`, r)
			} else {
				out.Write(b[i : i+size])
			}
			i += size
		}
		b = out.Bytes()
	}
	_, err := w.Write(b)
	return err
}

// newTable returns a tabwriter for aligned columns; cells are separated by
// tabs and the caller flushes it.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// palette colours text when colour is on. Every colour code has the same
// length, so that columns of coloured cells stay aligned in a table.
type palette struct{ on bool }

func (p palette) wrap(code, s string) string {
	if !p.on {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p palette) green(s string) string  { return p.wrap("32", s) }
func (p palette) yellow(s string) string { return p.wrap("33", s) }
func (p palette) grey(s string) string   { return p.wrap("90", s) }
func (p palette) bold(s string) string   { return p.wrap("01", s) }

// plain wraps s in codes that change nothing, for a cell (a header) in a
// column whose other cells are coloured, so that the column stays aligned.
func (p palette) plain(s string) string { return p.wrap("39", s) }

// moodText shows a mood as its number and its word, "4 (good)": how the
// author feels, never a rating of the other.
func moodText(m trustsync.Mood) string {
	if w := m.Word(); w != "" {
		return fmt.Sprintf("%d (%s)", m, w)
	}
	return fmt.Sprint(int(m))
}

// joinNames joins names as a person would (showtext.JoinNames).
func joinNames(names []string) string { return showtext.JoinNames(names) }

// indent prefixes every line of s.
func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}

// roster knows the members and devices of a space, to put names on IDs.
type roster struct {
	self    crdt.Identity
	members []trustsync.Member
}

func loadRoster(ctx context.Context, sp *crdt.Space) (*roster, error) {
	members, err := sp.Members(ctx)
	if err != nil {
		return nil, err
	}
	return &roster{self: sp.Self(), members: members}, nil
}

// partner returns the other member, if pairing has brought one.
func (r *roster) partner() (trustsync.Member, bool) {
	for _, m := range r.members {
		if m.ID != r.self.MemberID {
			return m, true
		}
	}
	return trustsync.Member{}, false
}

// left reports whether m is the other partner and left: every device of
// theirs is unpaired, from either side. When it is, it also returns when
// the last of them was.
func (r *roster) left(m trustsync.Member) (time.Time, bool) {
	if m.ID == r.self.MemberID || len(m.Devices) == 0 {
		return time.Time{}, false
	}
	var at time.Time
	for _, d := range m.Devices {
		if !d.Removed {
			return time.Time{}, false
		}
		if d.RemovedAt.After(at) {
			at = d.RemovedAt
		}
	}
	return at, true
}

// hasLeft reports whether the member with ID id is a partner who left
// (see left).
func (r *roster) hasLeft(id string) bool {
	for _, m := range r.members {
		if m.ID == id {
			_, left := r.left(m)
			return left
		}
	}
	return false
}

// deviceName names the device of a [trustsync.Change]. The library may give
// either the device ID (the Automerge actor) or, already resolved, its name;
// both end up as the name.
func (r *roster) deviceName(dev string) string {
	if d, ok := r.device(dev); ok && d.Name != "" {
		return d.Name
	}
	if dev == "" {
		return "an unknown device"
	}
	return dev
}

// deviceID returns the ID of the device a [trustsync.Change] names, "" when
// it is not known here.
func (r *roster) deviceID(dev string) string {
	if d, ok := r.device(dev); ok {
		return d.ID
	}
	return ""
}

// device finds a device by ID or, failing that, by name.
func (r *roster) device(dev string) (trustsync.Device, bool) {
	if dev == "" {
		return trustsync.Device{}, false
	}
	var byName []trustsync.Device
	for _, m := range r.members {
		for _, d := range m.Devices {
			if d.ID == dev {
				return d, true
			}
			if d.Name == dev {
				byName = append(byName, d)
			}
		}
	}
	if dev == r.self.DeviceID {
		return trustsync.Device{ID: r.self.DeviceID, Name: r.self.DeviceName}, true
	}
	if len(byName) == 1 {
		return byName[0], true
	}
	return trustsync.Device{}, false
}

// selfFirst returns the members with this device's member first.
func (r *roster) selfFirst() []trustsync.Member {
	var out []trustsync.Member
	for _, m := range r.members {
		if m.ID == r.self.MemberID {
			out = append([]trustsync.Member{m}, out...)
		} else {
			out = append(out, m)
		}
	}
	return out
}

// memberNames returns the names of both partners, this one first.
func (r *roster) memberNames() []string {
	var names []string
	for _, m := range r.selfFirst() {
		names = append(names, m.Name)
	}
	if len(names) == 0 && r.self.MemberName != "" {
		names = []string{r.self.MemberName}
	}
	return names
}

// agreement sums up who agreed to a boundary's current text and who has not
// yet (see showtext.Agreement, which the local web page shares). Before
// pairing the partner is not known by name.
type agreement struct {
	agreedBy   []string
	waitingFor []string
	partnerYet bool // false before pairing: the partner still has to agree
	// youAgreed and youWaiting are agreedBy and waitingFor as this
	// device's person reads them: "you" in place of their own name.
	youAgreed  []string
	youWaiting []string
}

func (r *roster) agreement(b trustsync.Boundary) agreement {
	a := showtext.AgreementOf(b.Agreements, r.members, r.self.MemberID)
	return agreement{agreedBy: a.AgreedBy, waitingFor: a.WaitingFor, partnerYet: a.PartnerYet, youAgreed: a.YouAgreed, youWaiting: a.YouWaiting}
}

// status says in a few words where the agreement stands, to this device's
// person: "agreed by Sam; waiting for you".
func (a agreement) status() string {
	return showtext.Agreement{AgreedBy: a.agreedBy, WaitingFor: a.waitingFor, PartnerYet: a.partnerYet, YouAgreed: a.youAgreed, YouWaiting: a.youWaiting}.Status()
}

// Text received from a partner is shown exactly as written, except for what
// a terminal would act on instead of show. A modified client can store
// anything, and a carriage return, an escape sequence or a bidirectional
// override could otherwise hide words, rewrite the line above or clear the
// screen, so that a partner agrees to wording they never saw. Every human
// (non-JSON) output goes through escapeText: standard output and standard
// error through an escapeWriter set up by NewCmdRoot, files written by
// 'export --format markdown' directly. JSON output stays exact (writeJSON).

// escapeText returns s with what a terminal would act on made visible
// (see package showtext, which the local web page shares).
func escapeText(s string) string { return showtext.Escape(s) }

// textIsSafe reports whether s has nothing escapeText would change.
func textIsSafe(s string) bool { return showtext.Safe(s) }

// paletteCodes are the colour sequences palette writes; an escapeWriter
// with colour on lets exactly these through. Text that carries one itself
// can at worst change a colour: none of them hides or moves anything.
var paletteCodes = []string{"\x1b[32m", "\x1b[33m", "\x1b[90m", "\x1b[01m", "\x1b[39m", "\x1b[0m"}

// escapeWriter escapes everything written to it with escapeText, except,
// when colour is on, the colour codes of palette. A UTF-8 sequence split
// between two writes is joined before it is judged.
type escapeWriter struct {
	w     io.Writer
	color bool

	mu      sync.Mutex // serve writes from more than one goroutine
	pending []byte     // the start of a UTF-8 sequence cut off by the last write
}

// escapeOutput wraps w in an escapeWriter, once.
func escapeOutput(w io.Writer, color bool) io.Writer {
	if _, ok := w.(*escapeWriter); ok || w == nil {
		return w
	}
	return &escapeWriter{w: w, color: color}
}

// rawWriter returns the writer behind an escapeWriter, for a child process
// (an editor) that talks to the terminal itself.
func rawWriter(w io.Writer) io.Writer {
	if e, ok := w.(*escapeWriter); ok {
		return e.w
	}
	return w
}

// flushEscapes writes out what an escapeWriter w kept back: the start of
// a UTF-8 sequence that nothing completed, escaped.
func flushEscapes(w io.Writer) {
	if e, ok := w.(*escapeWriter); ok {
		e.mu.Lock()
		defer e.mu.Unlock()
		if len(e.pending) > 0 {
			io.WriteString(e.w, escapeText(string(e.pending)))
			e.pending = nil
		}
	}
}

func (e *escapeWriter) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := len(p)
	if len(e.pending) > 0 {
		p = append(e.pending, p...)
		e.pending = nil
	}
	// Keep back an incomplete UTF-8 sequence at the end for the next write.
	if cut := incompleteTail(p); cut > 0 {
		e.pending = append([]byte(nil), p[len(p)-cut:]...)
		p = p[:len(p)-cut]
	}
	s := string(p)
	if textIsSafe(s) {
		_, err := io.WriteString(e.w, s)
		return n, err
	}
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, 0x1b)
		if !e.color || i < 0 {
			b.WriteString(escapeText(s))
			break
		}
		b.WriteString(escapeText(s[:i]))
		s = s[i:]
		code := ""
		for _, c := range paletteCodes {
			if strings.HasPrefix(s, c) {
				code = c
				break
			}
		}
		if code == "" {
			code = s[:1]
			b.WriteString(escapeText(code))
		} else {
			b.WriteString(code)
		}
		s = s[len(code):]
	}
	_, err := io.WriteString(e.w, b.String())
	return n, err
}

// incompleteTail returns how many bytes at the end of p are the start of a
// UTF-8 sequence that the next bytes could complete.
func incompleteTail(p []byte) int {
	for k := 1; k <= utf8.UTFMax-1 && k <= len(p); k++ {
		c := p[len(p)-k]
		if c < 0x80 {
			return 0
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(p[len(p)-k:]) {
				return k
			}
			return 0
		}
	}
	return 0
}
