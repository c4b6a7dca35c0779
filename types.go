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

// NewCheckIn is what a partner writes when adding a [CheckIn]. Only Mood
// is required; what breaks a rule below makes the edit fail with an error
// wrapping [ErrInvalid], and nothing is written.
type NewCheckIn struct {
	// Mood is how the partner feels overall, 1 to 5 (see [Mood]).
	Mood Mood
	// Feelings are words the partner chooses ("hopeful", "tired"), each on
	// one line of at most 100 characters (crdt.MaxNameLen); they are
	// trimmed, and empty ones are left out.
	Feelings []string
	// Note, Needs, Concerns and Appreciation are free text, each of which
	// may be empty or span several lines, up to 10,000 characters
	// (crdt.MaxNoteLen).
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

// The practices of rebuilding trust: commitments, apologies, setbacks,
// the check-in rhythm, questions answered together and good moments.

// Commitment is a small promise one partner made, with the times it was
// kept or missed, oldest first.
type Commitment struct {
	ID      string            `json:"id"`
	Text    string            `json:"text"`
	MadeBy  Person            `json:"made_by"`
	MadeAt  time.Time         `json:"made_at"`
	Entries []CommitmentEntry `json:"entries"`
}

// CommitmentEntry is one dated note that a commitment was kept, or missed,
// written by either partner and acknowledged by the other.
type CommitmentEntry struct {
	ID         string    `json:"id"`
	Commitment string    `json:"commitment"`
	Kept       bool      `json:"kept"`
	Note       string    `json:"note,omitempty"`
	By         Person    `json:"by"`
	At         time.Time `json:"at"`
	Acks       []Ack     `json:"acks"`
}

// NewApology is what a partner writes in an apology. Happened is required;
// the other parts may be left empty, though a sincere apology usually says
// each of them.
type NewApology struct {
	Happened       string // what happened, plainly
	Impact         string // its impact on the other, as the author understands it
	Responsibility string // what the author takes responsibility for
	Different      string // what the author will do differently
}

// Apology is a structured apology written by one partner. The other may
// acknowledge it when, and if, they are ready; nothing ever asks them to.
type Apology struct {
	ID             string    `json:"id"`
	Author         Person    `json:"author"`
	WrittenAt      time.Time `json:"written_at"`
	Happened       string    `json:"happened"`
	Impact         string    `json:"impact"`
	Responsibility string    `json:"responsibility"`
	Different      string    `json:"different"`
	Acks           []Ack     `json:"acks"`
}

// Setback is something that went wrong, linked to the boundary, goal or
// commitment it touched, with what each partner felt and the plan as the
// couple revisited it (every revision kept, oldest first).
type Setback struct {
	ID       string    `json:"id"`
	Text     string    `json:"text"`
	About    ItemRef   `json:"about"`
	AddedBy  Person    `json:"added_by"`
	AddedAt  time.Time `json:"added_at"`
	Feelings []Feeling `json:"feelings"`
	Plans    []Plan    `json:"plans"`
}

// Feeling is what one partner felt about a setback, in their own words.
type Feeling struct {
	By   Person    `json:"by"`
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// Plan is one revision of what the couple will do after a setback.
type Plan struct {
	ID   string    `json:"id"`
	By   Person    `json:"by"`
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// Plan returns the current plan: the latest revision, or the zero Plan.
func (sb Setback) Plan() Plan {
	if len(sb.Plans) == 0 {
		return Plan{}
	}
	return sb.Plans[len(sb.Plans)-1]
}

// Cadence is how often the couple means to check in: every day, or once a
// week on a given day.
type Cadence struct {
	Every string       `json:"every"`         // "daily" or "weekly"
	Day   time.Weekday `json:"day,omitempty"` // the day of a weekly rhythm
}

// String says the cadence in words: "daily", "weekly on Sunday".
func (c Cadence) String() string {
	if c.Every == "weekly" {
		return "weekly on " + c.Day.String()
	}
	return c.Every
}

// Rhythm is the check-in cadence the couple set. Like a boundary, it counts
// as agreed only when both partners agreed to this exact cadence; changing
// it asks both again.
type Rhythm struct {
	ID         string      `json:"id"`
	Cadence    Cadence     `json:"cadence"`
	Stored     string      `json:"stored"` // the cadence as stored, for a newer one this build cannot read
	SetBy      Person      `json:"set_by"`
	SetAt      time.Time   `json:"set_at"`
	Agreements []Agreement `json:"agreements"`
	Agreed     bool        `json:"agreed"`
}

// Question is a question both partners answer. Each answer stays sealed
// until both have answered.
type Question struct {
	ID      string    `json:"id"`
	Text    string    `json:"text"`
	AskedBy Person    `json:"asked_by"`
	AskedAt time.Time `json:"asked_at"`
	// Answers holds one answer per partner who answered, in the order
	// they answered.
	Answers []Answer `json:"answers"`
	// Both is set once both partners' answers are in the document.
	Both bool `json:"both_answered"`
}

// Answer is one partner's answer to a [Question], as this device can read
// it.
type Answer struct {
	By Person    `json:"by"`
	At time.Time `json:"at"`
	// Revealed is set once the author's device has shared the key (only
	// after both answered); RevealedAt says when.
	Revealed   bool      `json:"revealed"`
	RevealedAt time.Time `json:"revealed_at,omitzero"`
	// Readable is set when Text holds the answer: it was revealed, or it is
	// this member's own answer, written on this device, whose key is here.
	Readable bool   `json:"readable"`
	Text     string `json:"text,omitempty"`
}

// Moment is a good moment shared, or a thank-you, in a light log the two
// partners keep together.
type Moment struct {
	ID     string    `json:"id"`
	Text   string    `json:"text"`
	Thanks bool      `json:"thanks"`
	By     Person    `json:"by"`
	At     time.Time `json:"at"`
}

// ItemRef names one item a space holds: its kind and its ID.
type ItemRef struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}
