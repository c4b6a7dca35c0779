package cli

import (
	"cmp"

	"github.com/trustsync/trustsync"
)

// The JSON shapes of --json output. Field names are part of the command's
// contract (docs: CLI.md); fields may be added, never renamed or removed.
// People appear by name; times are RFC 3339 in UTC.

type boundaryJSON struct {
	ID         string          `json:"id"`
	Text       string          `json:"text"`
	ProposedBy string          `json:"proposed_by"`
	ProposedAt string          `json:"proposed_at"`
	UpdatedAt  string          `json:"updated_at"`
	AgreedBy   []string        `json:"agreed_by"`
	WaitingFor []string        `json:"waiting_for"`
	Agreed     bool            `json:"agreed"`
	Archived   bool            `json:"archived"`
	Agreements []agreementJSON `json:"agreements"`
	History    []changeJSON    `json:"history,omitempty"`
}

type agreementJSON struct {
	By      string `json:"by"`
	At      string `json:"at"`
	Current bool   `json:"current"`
}

func (r *roster) boundaryJSON(b trustsync.Boundary) boundaryJSON {
	a := r.agreement(b)
	v := boundaryJSON{
		ID:         b.ID,
		Text:       b.Text,
		ProposedBy: b.ProposedBy.Name,
		ProposedAt: jsonTime(b.ProposedAt),
		UpdatedAt:  jsonTime(b.UpdatedAt),
		AgreedBy:   nonNil(a.agreedBy),
		WaitingFor: nonNil(a.waitingFor),
		Agreed:     b.Agreed,
		Archived:   b.Archived,
		Agreements: []agreementJSON{},
	}
	for _, ag := range b.Agreements {
		v.Agreements = append(v.Agreements, agreementJSON{By: ag.By.Name, At: jsonTime(ag.At), Current: ag.Current})
	}
	return v
}

type goalJSON struct {
	ID        string     `json:"id"`
	Title     string     `json:"title"`
	Why       string     `json:"why"`
	Done      bool       `json:"done"`
	DoneBy    string     `json:"done_by,omitempty"`
	DoneAt    string     `json:"done_at,omitempty"`
	CreatedBy string     `json:"created_by"`
	CreatedAt string     `json:"created_at"`
	Archived  bool       `json:"archived"`
	Steps     []stepJSON `json:"steps"`
}

type stepJSON struct {
	ID      string `json:"id"`
	Text    string `json:"text"`
	Done    bool   `json:"done"`
	AddedBy string `json:"added_by"`
	AddedAt string `json:"added_at"`
	DoneBy  string `json:"done_by,omitempty"`
	DoneAt  string `json:"done_at,omitempty"`
}

func goalView(g trustsync.Goal) goalJSON {
	v := goalJSON{
		ID:        g.ID,
		Title:     g.Title,
		Why:       g.Why,
		Done:      g.Done,
		DoneBy:    personName(g.DoneBy),
		DoneAt:    jsonTime(g.DoneAt),
		CreatedBy: g.CreatedBy.Name,
		CreatedAt: jsonTime(g.CreatedAt),
		Archived:  g.Archived,
		Steps:     []stepJSON{},
	}
	for _, s := range g.Steps {
		v.Steps = append(v.Steps, stepJSON{
			ID:      s.ID,
			Text:    s.Text,
			Done:    s.Done,
			AddedBy: s.AddedBy.Name,
			AddedAt: jsonTime(s.AddedAt),
			DoneBy:  personName(s.DoneBy),
			DoneAt:  jsonTime(s.DoneAt),
		})
	}
	return v
}

type checkinJSON struct {
	ID             string    `json:"id"`
	Author         string    `json:"author"`
	Mood           int       `json:"mood"`
	Feelings       []string  `json:"feelings"`
	Note           string    `json:"note"`
	Needs          string    `json:"needs"`
	Concerns       string    `json:"concerns"`
	Appreciation   string    `json:"appreciation"`
	CreatedAt      string    `json:"created_at"`
	AcknowledgedBy []string  `json:"acknowledged_by"`
	Acks           []ackJSON `json:"acks"`
}

type ackJSON struct {
	By    string `json:"by"`
	At    string `json:"at"`
	Reply string `json:"reply"`
}

func checkinView(c trustsync.CheckIn) checkinJSON {
	v := checkinJSON{
		ID:             c.ID,
		Author:         c.Author.Name,
		Mood:           int(c.Mood),
		Feelings:       nonNil(c.Feelings),
		Note:           c.Note,
		Needs:          c.Needs,
		Concerns:       c.Concerns,
		Appreciation:   c.Appreciation,
		CreatedAt:      jsonTime(c.CreatedAt),
		AcknowledgedBy: []string{},
		Acks:           []ackJSON{},
	}
	for _, a := range c.Acks {
		v.AcknowledgedBy = append(v.AcknowledgedBy, a.By.Name)
		v.Acks = append(v.Acks, ackJSON{By: a.By.Name, At: jsonTime(a.At), Reply: a.Reply})
	}
	return v
}

type changeJSON struct {
	Hash     string `json:"hash"`
	At       string `json:"at"`
	By       string `json:"by"`
	Device   string `json:"device"`
	DeviceID string `json:"device_id"`
	Doc      string `json:"doc"`
	Kind     string `json:"kind"`
	Item     string `json:"item,omitempty"`
	Action   string `json:"action"`
	Summary  string `json:"summary"`
}

func (r *roster) changeJSON(c trustsync.Change) changeJSON {
	return changeJSON{
		Hash:     c.Hash,
		At:       jsonTime(c.At),
		By:       c.By.Name,
		Device:   r.deviceName(c.Device),
		DeviceID: cmp.Or(c.DeviceID, r.deviceID(c.Device)),
		Doc:      c.Doc,
		Kind:     c.Kind,
		Item:     c.Item,
		Action:   c.Action,
		Summary:  c.Summary,
	}
}

type memberJSON struct {
	ID       string       `json:"id"`
	Name     string       `json:"name"`
	Self     bool         `json:"self"`
	JoinedAt string       `json:"joined_at"`
	Devices  []deviceJSON `json:"devices"`
}

type deviceJSON struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	This   bool   `json:"this_device"`
	PeerID string `json:"peer_id,omitempty"`
	// LastKnownAddrs are the addresses this device last knew the device
	// at, kept on this device only; status fills them in, an export
	// leaves them out.
	LastKnownAddrs []string `json:"last_known_addrs,omitempty"`
	AddedAt        string   `json:"added_at"`
	Removed        bool     `json:"removed"`
	// Online and LastSync are null until the sync layer reports them.
	Online   *bool   `json:"online"`
	LastSync *string `json:"last_sync"`
	// LastPath is how this device reached the device at the last sync:
	// "direct", "hole punched" or "relayed"; status fills it in once
	// they synced, an export leaves it out.
	LastPath *string `json:"last_path,omitempty"`
	// LastRefusal is the last time one side refused the other's data, as
	// status shows it; left out elsewhere.
	LastRefusal *refusalJSON `json:"last_refusal,omitempty"`
	// RefusedChanges counts the changes this device refused from that
	// device (a bad signature, or a write in the other person's name),
	// with the last one's reason.
	RefusedChanges *refusedChangesJSON `json:"refused_changes,omitempty"`
}

type refusedChangesJSON struct {
	Count  int    `json:"count"`
	Last   string `json:"last"`
	Doc    string `json:"doc"`
	Reason string `json:"reason"`
}

type refusalJSON struct {
	At     string `json:"at"`
	Reason string `json:"reason"`
	// By is "this device" when this device refused the device's data,
	// "that device" when the device refused this one.
	By string `json:"by"`
}

func (r *roster) membersJSON() []memberJSON {
	out := []memberJSON{}
	for _, m := range r.members {
		mv := memberJSON{
			ID:       m.ID,
			Name:     m.Name,
			Self:     m.ID == r.self.MemberID,
			JoinedAt: jsonTime(m.JoinedAt),
			Devices:  []deviceJSON{},
		}
		for _, d := range m.Devices {
			mv.Devices = append(mv.Devices, deviceJSON{
				ID:      d.ID,
				Name:    d.Name,
				This:    d.ID == r.self.DeviceID,
				PeerID:  d.PeerID,
				AddedAt: jsonTime(d.AddedAt),
				Removed: d.Removed,
			})
		}
		out = append(out, mv)
	}
	return out
}

func personName(p *trustsync.Person) string {
	if p == nil {
		return ""
	}
	return p.Name
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
