package trustsync

import "time"

// Person names a partner as the documents know them: a stable member ID and
// the display name the partner chose. Name is resolved when the value is read,
// so a renamed partner shows under the new name everywhere.
type Person struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Member is one of the two partners of a space, with the devices they use.
type Member struct {
	Person
	JoinedAt time.Time `json:"joined_at"`
	Devices  []Device  `json:"devices"`
}

// Device is one device of a member. Its ID is also the Automerge actor ID
// of every change written on it, which is how [Change] names a device.
type Device struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Owner  Person `json:"owner"`
	PeerID string `json:"peer_id,omitempty"`
	// Addrs are the listen addresses an earlier version of trustsync on the
	// device wrote into the shared space, where every past value stays in
	// the history. Current versions never write them there and delete them
	// from their own record; a device keeps what it learns of another's
	// addresses in its own store instead. Empty for a device that has
	// upgraded.
	Addrs     []string  `json:"addrs,omitempty"`
	AddedAt   time.Time `json:"added_at"`
	Removed   bool      `json:"removed"`
	RemovedAt time.Time `json:"removed_at,omitzero"`
}

// Agreement is one partner's consent to a boundary. Current reports whether
// it was given to the boundary's text as it reads now; an agreement to an
// older text no longer counts.
type Agreement struct {
	By      Person    `json:"by"`
	At      time.Time `json:"at"`
	Current bool      `json:"current"`
}

// Boundary is a limit or expectation the couple sets together. It counts as
// agreed only when both partners agreed to its current text.
type Boundary struct {
	ID         string      `json:"id"`
	Text       string      `json:"text"`
	ProposedBy Person      `json:"proposed_by"`
	ProposedAt time.Time   `json:"proposed_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
	Agreements []Agreement `json:"agreements"`
	Agreed     bool        `json:"agreed"`
	Archived   bool        `json:"archived"`
}

// Goal is something the couple wants to build together, with the steps that
// lead there.
type Goal struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Why       string    `json:"why"`
	CreatedBy Person    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	Done      bool      `json:"done"`
	DoneBy    *Person   `json:"done_by,omitempty"`
	DoneAt    time.Time `json:"done_at,omitzero"`
	Archived  bool      `json:"archived"`
	Steps     []Step    `json:"steps"`
}

// Step is one concrete action towards a [Goal].
type Step struct {
	ID      string    `json:"id"`
	Text    string    `json:"text"`
	AddedBy Person    `json:"added_by"`
	AddedAt time.Time `json:"added_at"`
	Done    bool      `json:"done"`
	DoneBy  *Person   `json:"done_by,omitempty"`
	DoneAt  time.Time `json:"done_at,omitzero"`
}

// Mood is how a partner feels overall at a check-in, from 1 (very low) to 5
// (very good). It is a word said about oneself, never a score of the other.
type Mood int

// Valid reports whether m is within 1..5.
func (m Mood) Valid() bool { return m >= 1 && m <= 5 }

// Word names the mood as its author would say it: "very low", "low",
// "okay", "good" or "very good"; "" for a mood outside 1..5.
func (m Mood) Word() string {
	if !m.Valid() {
		return ""
	}
	return [...]string{"very low", "low", "okay", "good", "very good"}[m-1]
}

// CheckIn is one partner's regular note to the other: how they feel, what they
// need, what worries them, what they appreciate.
type CheckIn struct {
	ID           string    `json:"id"`
	Author       Person    `json:"author"`
	CreatedAt    time.Time `json:"created_at"`
	Mood         Mood      `json:"mood"`
	Feelings     []string  `json:"feelings"`
	Note         string    `json:"note"`
	Needs        string    `json:"needs,omitempty"`
	Concerns     string    `json:"concerns,omitempty"`
	Appreciation string    `json:"appreciation,omitempty"`
	Acks         []Ack     `json:"acks"`
}

// NewCheckIn is what a partner writes when adding a [CheckIn].
type NewCheckIn struct {
	Mood         Mood
	Feelings     []string
	Note         string
	Needs        string
	Concerns     string
	Appreciation string
}

// Ack is a partner's acknowledgement of a check-in: they read it, and may
// answer.
type Ack struct {
	By    Person    `json:"by"`
	At    time.Time `json:"at"`
	Reply string    `json:"reply,omitempty"`
}

// Change is one entry of a space's history: who changed what, when, and on
// which device. Changes received from a partner appear exactly like local
// ones. Device is the device's name, which need not be unique (it defaults
// to the host name); DeviceID is its ID, the change's Automerge actor.
type Change struct {
	Hash     string    `json:"hash"`
	At       time.Time `json:"at"`
	By       Person    `json:"by"`
	Device   string    `json:"device"`
	DeviceID string    `json:"device_id"`
	Doc      string    `json:"doc"`
	Kind     string    `json:"kind"`
	Item     string    `json:"item,omitempty"`
	Action   string    `json:"action"`
	Summary  string    `json:"summary"`
}
