package ui

import (
	"context"
	"errors"
	"html/template"
	"slices"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/showtext"
	"github.com/trustsync/trustsync/journal"
)

// page is one page of the site: its path, its part (the id of the region
// that live updates refresh), its title in the navigation, and what it
// shows.
type page struct {
	Path  string
	Name  string // of its template file, without .html
	Part  string
	Title string
	load  func(ctx context.Context, s *Server, d *device) (any, error)
	tmpl  *template.Template
}

// pages are the pages in the order of the navigation; the first is the
// overview at "/".
var pages = []*page{
	{Path: "/", Name: "today", Part: "status", Title: "Today", load: loadToday},
	{Path: "/boundaries", Name: "boundaries", Part: "boundaries", Title: "Boundaries", load: loadBoundaries},
	{Path: "/goals", Name: "goals", Part: "goals", Title: "Goals", load: loadGoals},
	{Path: "/checkins", Name: "checkins", Part: "checkins", Title: "Check-ins", load: loadCheckIns},
	{Path: "/commitments", Name: "commitments", Part: "commitments", Title: "Commitments", load: loadCommitments},
	{Path: "/apologies", Name: "apologies", Part: "apologies", Title: "Apologies", load: loadApologies},
	{Path: "/setbacks", Name: "setbacks", Part: "setbacks", Title: "Setbacks", load: loadSetbacks},
	{Path: "/rhythm", Name: "rhythm", Part: "rhythm", Title: "Rhythm", load: loadRhythm},
	{Path: "/questions", Name: "questions", Part: "questions", Title: "Questions", load: loadQuestions},
	{Path: "/moments", Name: "moments", Part: "moments", Title: "Moments", load: loadMoments},
	{Path: "/history", Name: "history", Part: "history", Title: "History", load: loadHistory},
	{Path: "/journal", Name: "journal", Part: "journal", Title: "Journal", load: loadJournal},
	{Path: "/pair", Name: "pair", Part: "pair", Title: "Pairing", load: loadPair},
	{Path: "/devices", Name: "devices", Part: "devices", Title: "Devices", load: loadDevices},
}

var (
	unlockPage  = &page{Path: "/", Part: "unlock", Title: "Unlock"}
	problemPage = &page{Path: "/", Part: "problem", Title: "Cannot open"}
	unlockTmpl  = templates("unlock")
	problemTmpl = templates("problem")
)

func init() {
	for _, p := range pages {
		p.tmpl = templates(p.Name)
	}
}

// pageAt returns the page at path, the overview for any other.
func pageAt(path string) *page {
	for _, p := range pages {
		if p.Path == path {
			return p
		}
	}
	return pages[0]
}

// doneWords are the messages shown after a change, by key.
var doneWords = map[string]string{
	"unlocked":       "Unlocked.",
	"locked":         "Locked.",
	"proposed":       "Proposed. Your partner sees it after the next sync, and agrees when ready.",
	"edited":         "Saved. Agreements to the earlier words no longer count: you both agree again.",
	"agreed":         "You agreed to these exact words.",
	"archived":       "Archived. You can restore it below.",
	"restored":       "Restored.",
	"goal":           "Goal added.",
	"step":           "Step added.",
	"goal-edited":    "Goal saved.",
	"done":           "Marked done. Well done, both of you.",
	"checkin":        "Thank you for checking in. Your partner will see it after your next sync.",
	"acked":          "Acknowledged.",
	"commitment":     "Commitment written down.",
	"kept":           "Written down as kept.",
	"missed":         "Written down as missed. Missing a commitment is part of rebuilding: talk about it when you are ready.",
	"apology":        "Apology written. Your partner reads it in their own time.",
	"setback":        "Setback written down. Naming it is a step forward.",
	"felt":           "Your feeling is written down.",
	"planned":        "Plan written down.",
	"rhythm":         "Rhythm proposed: it starts once you both agree.",
	"rhythm-agreed":  "You agreed to the rhythm.",
	"asked":          "Question asked. Neither of you sees the other's answer until both have answered.",
	"answered":       "Answer saved. It opens once you both have answered.",
	"moment":         "Moment kept.",
	"thanks":         "Thanks kept.",
	"journal-open":   "Journal open on this page until you close it.",
	"journal-closed": "Journal closed.",
	"journal-entry":  "Written in your journal. Only you can read it.",
	"journal-pass":   "The journal has a passphrase of its own now.",
	"invite":         "Invite ready: show it to your partner.",
	"joining":        "Joining: compare the confirmation code with your partner's device.",
	"confirmed":      "Confirmed on this device.",
	"pair-cancelled": "Pairing cancelled: nothing changed.",
	"unpaired":       "Unpaired. That device no longer syncs with this one.",
}

// today is what the overview shows.
type today struct {
	Self        crdt.Identity
	Partner     string // the partner's name, "" before pairing
	Due         crdt.Due
	ToAgree     []trustsync.Boundary // boundaries waiting for this member's agreement
	ToAnswer    []trustsync.Question // questions waiting for this member's answer
	Opened      []trustsync.Question // questions both answered
	Online      []string             // names of the paired devices reachable now
	Paired      bool                 // a partner's or own other device is paired
	HasNode     bool
	Encrypted   bool
	ReachedWord string
}

func loadToday(ctx context.Context, s *Server, d *device) (any, error) {
	t := &today{Self: d.sp.Self(), HasNode: d.node != nil, Encrypted: d.h.Encrypted()}
	if p, err := d.sp.Partner(ctx); err == nil {
		t.Partner = p.Name
	}
	due, err := d.sp.Due(ctx, s.opts.Now())
	if err != nil {
		return nil, err
	}
	t.Due = due
	bs, err := d.sp.Boundaries(ctx, crdt.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		if !agreedBy(b.Agreements, t.Self.MemberID) {
			t.ToAgree = append(t.ToAgree, b)
		}
	}
	qs, err := d.sp.Questions(ctx)
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		switch {
		case q.Both:
			t.Opened = append(t.Opened, q)
		case !answeredBy(q, t.Self.MemberID):
			t.ToAnswer = append(t.ToAnswer, q)
		}
	}
	members, err := d.sp.Members(ctx)
	if err != nil {
		return nil, err
	}
	t.Online, t.Paired = onlineNames(d, members)
	return t, nil
}

// onlineNames names the devices of others reachable now, and whether any
// other device is paired.
func onlineNames(d *device, members []trustsync.Member) ([]string, bool) {
	var online map[string]bool
	if d.node != nil {
		online = map[string]bool{}
		for _, id := range d.node.Online() {
			online[id.String()] = true
		}
	}
	self := d.sp.Self()
	var names []string
	paired := false
	for _, m := range members {
		for _, dv := range m.Devices {
			if dv.ID == self.DeviceID || dv.Removed {
				continue
			}
			paired = true
			if online[dv.PeerID] {
				names = append(names, m.Name+" ("+dv.Name+")")
			}
		}
	}
	return names, paired
}

func agreedBy(as []trustsync.Agreement, member string) bool {
	return slices.ContainsFunc(as, func(a trustsync.Agreement) bool { return a.Current && a.By.ID == member })
}

func answeredBy(q trustsync.Question, member string) bool {
	return slices.ContainsFunc(q.Answers, func(a trustsync.Answer) bool { return a.By.ID == member })
}

// boundaryRow is a boundary with where its agreement stands.
type boundaryRow struct {
	trustsync.Boundary
	Status   string
	YouAgree bool
}

type boundariesData struct {
	Self     crdt.Identity
	Current  []boundaryRow
	Archived []boundaryRow
}

func loadBoundaries(ctx context.Context, s *Server, d *device) (any, error) {
	bs, err := d.sp.Boundaries(ctx, crdt.ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	members, err := d.sp.Members(ctx)
	if err != nil {
		return nil, err
	}
	self := d.sp.Self()
	out := &boundariesData{Self: self}
	for _, b := range bs {
		row := boundaryRow{Boundary: b, Status: agreementWords(b.Agreements, members, self.MemberID), YouAgree: agreedBy(b.Agreements, self.MemberID)}
		if b.Archived {
			out.Archived = append(out.Archived, row)
		} else {
			out.Current = append(out.Current, row)
		}
	}
	return out, nil
}

// agreementWords says where an agreement stands, to this member, as the
// command line says it: "agreed by both", "agreed by you; waiting for Sam".
func agreementWords(as []trustsync.Agreement, members []trustsync.Member, self string) string {
	return showtext.AgreementOf(as, members, self).Status()
}

type goalsData struct {
	Self     crdt.Identity
	Current  []trustsync.Goal
	Archived []trustsync.Goal
}

func loadGoals(ctx context.Context, s *Server, d *device) (any, error) {
	gs, err := d.sp.Goals(ctx, crdt.ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	out := &goalsData{Self: d.sp.Self()}
	for _, g := range gs {
		if g.Archived {
			out.Archived = append(out.Archived, g)
		} else {
			out.Current = append(out.Current, g)
		}
	}
	return out, nil
}

type checkInsData struct {
	Self     crdt.Identity
	CheckIns []trustsync.CheckIn
	Feelings []string // words offered for feelings
}

func loadCheckIns(ctx context.Context, s *Server, d *device) (any, error) {
	cs, err := d.sp.CheckIns(ctx)
	if err != nil {
		return nil, err
	}
	return &checkInsData{Self: d.sp.Self(), CheckIns: cs, Feelings: feelingWords}, nil
}

// feelingWords are offered as suggestions; any word may be typed.
var feelingWords = []string{"calm", "hopeful", "grateful", "close", "anxious", "hurt", "lonely", "tired", "angry", "unsure"}

type selfData[T any] struct {
	Self  crdt.Identity
	Items []T
}

func loadCommitments(ctx context.Context, s *Server, d *device) (any, error) {
	cs, err := d.sp.Commitments(ctx)
	return &selfData[trustsync.Commitment]{Self: d.sp.Self(), Items: cs}, err
}

func loadApologies(ctx context.Context, s *Server, d *device) (any, error) {
	as, err := d.sp.Apologies(ctx)
	return &selfData[trustsync.Apology]{Self: d.sp.Self(), Items: as}, err
}

type setbacksData struct {
	Self     crdt.Identity
	Items    []trustsync.Setback
	Subjects []subject // what a setback can be about
}

// subject is an item a setback can be about.
type subject struct {
	ID, Words string
}

func loadSetbacks(ctx context.Context, s *Server, d *device) (any, error) {
	sb, err := d.sp.Setbacks(ctx)
	if err != nil {
		return nil, err
	}
	out := &setbacksData{Self: d.sp.Self(), Items: sb}
	bs, err := d.sp.Boundaries(ctx, crdt.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		out.Subjects = append(out.Subjects, subject{b.ID, "boundary: " + preview(b.Text)})
	}
	gs, err := d.sp.Goals(ctx, crdt.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		out.Subjects = append(out.Subjects, subject{g.ID, "goal: " + preview(g.Title)})
	}
	cs, err := d.sp.Commitments(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		out.Subjects = append(out.Subjects, subject{c.ID, "commitment: " + preview(c.Text)})
	}
	return out, nil
}

// preview is the start of s, on one line.
func preview(s string) string {
	s = oneLine(s)
	if r := []rune(s); len(r) > 60 {
		return string(r[:59]) + "…"
	}
	return s
}

type rhythmData struct {
	Self      crdt.Identity
	Rhythm    trustsync.Rhythm
	HasRhythm bool
	Status    string
	YouAgree  bool
	Due       crdt.Due
	Days      []time.Weekday
}

func loadRhythm(ctx context.Context, s *Server, d *device) (any, error) {
	out := &rhythmData{Self: d.sp.Self()}
	for day := time.Sunday; day <= time.Saturday; day++ {
		out.Days = append(out.Days, day)
	}
	r, err := d.sp.Rhythm(ctx)
	switch {
	case errors.Is(err, trustsync.ErrNotFound):
		return out, nil
	case err != nil:
		return nil, err
	}
	members, err := d.sp.Members(ctx)
	if err != nil {
		return nil, err
	}
	out.Rhythm, out.HasRhythm = r, true
	out.Status = agreementWords(r.Agreements, members, out.Self.MemberID)
	out.YouAgree = agreedBy(r.Agreements, out.Self.MemberID)
	out.Due, err = d.sp.Due(ctx, s.opts.Now())
	return out, err
}

type questionsData struct {
	Self  crdt.Identity
	Items []trustsync.Question
}

func loadQuestions(ctx context.Context, s *Server, d *device) (any, error) {
	qs, err := d.sp.Questions(ctx)
	return &questionsData{Self: d.sp.Self(), Items: qs}, err
}

func loadMoments(ctx context.Context, s *Server, d *device) (any, error) {
	ms, err := d.sp.Moments(ctx)
	return &selfData[trustsync.Moment]{Self: d.sp.Self(), Items: ms}, err
}

// historyLine is one change in words.
type historyLine struct {
	At     time.Time
	Who    string
	Device string
	What   string
}

func loadHistory(ctx context.Context, s *Server, d *device) (any, error) {
	hist, err := d.sp.History(ctx, crdt.HistoryOptions{Limit: 200})
	if err != nil {
		return nil, err
	}
	var out []historyLine
	for _, h := range hist {
		out = append(out, historyLine{At: h.At, Who: h.By.Name, Device: h.Device, What: showtext.ChangeWords(h)})
	}
	return out, nil
}

type journalData struct {
	Open          bool
	HasPassphrase bool
	Entries       []journal.Entry
}

func loadJournal(ctx context.Context, s *Server, d *device) (any, error) {
	out := &journalData{HasPassphrase: d.h.JournalHasPassphrase()}
	s.mu.Lock()
	j := d.journal
	s.mu.Unlock()
	if j == nil {
		return out, nil
	}
	es, err := j.Entries(ctx)
	if err != nil {
		return nil, err
	}
	out.Open, out.Entries = true, es
	return out, nil
}

type devicesData struct {
	Self      crdt.Identity
	Members   []trustsync.Member
	Online    map[string]bool // by peer ID
	HasNode   bool
	Encrypted bool
}

func loadDevices(ctx context.Context, s *Server, d *device) (any, error) {
	ms, err := d.sp.Members(ctx)
	if err != nil {
		return nil, err
	}
	out := &devicesData{Self: d.sp.Self(), Members: ms, Online: map[string]bool{}, HasNode: d.node != nil, Encrypted: d.h.Encrypted()}
	if d.node != nil {
		for _, id := range d.node.Online() {
			out.Online[id.String()] = true
		}
	}
	return out, nil
}
