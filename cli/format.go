package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
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

// relTime says how long ago t was, the way a person would.
func relTime(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		if -d < time.Minute {
			return "just now"
		}
		return t.Local().Format("2 Jan 2006 15:04")
	}
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, unit)
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d < 48*time.Hour:
		return "yesterday"
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	}
	return t.Local().Format("2 Jan 2006")
}

// jsonTime formats a time for JSON output as RFC 3339 in UTC, "" when zero.
func jsonTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// writeJSON prints v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
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

// joinNames joins names as a person would: "Sam", "Sam and Alex",
// "Sam, Alex and Kim".
func joinNames(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

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
// yet. Before pairing the partner is not known by name.
type agreement struct {
	agreedBy   []string
	waitingFor []string
	partnerYet bool // false before pairing: the partner still has to agree
}

func (r *roster) agreement(b trustsync.Boundary) agreement {
	var a agreement
	agreed := map[string]bool{}
	for _, ag := range b.Agreements {
		if ag.Current {
			agreed[ag.By.ID] = true
			a.agreedBy = append(a.agreedBy, ag.By.Name)
		}
	}
	for _, m := range r.selfFirst() {
		if !agreed[m.ID] {
			a.waitingFor = append(a.waitingFor, m.Name)
		}
	}
	_, a.partnerYet = r.partner()
	return a
}

// status says in a few words where the agreement stands.
func (a agreement) status() string {
	waiting := a.waitingFor
	if !a.partnerYet {
		waiting = append(append([]string(nil), waiting...), "your partner")
	}
	switch {
	case len(waiting) == 0:
		return "agreed by both"
	case len(a.agreedBy) == 0:
		return "waiting for " + joinNames(waiting)
	}
	return "agreed by " + joinNames(a.agreedBy) + "; waiting for " + joinNames(waiting)
}
