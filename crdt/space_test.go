package crdt_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

var (
	idRE     = regexp.MustCompile(`^[a-z2-7]{16}$`)
	deviceRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

func TestCreate(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		opts    crdt.CreateOptions
		wantErr error
	}{
		{"named", crdt.CreateOptions{MemberName: "Sam", DeviceName: "laptop"}, nil},
		{"default device name", crdt.CreateOptions{MemberName: "Sam"}, nil},
		{"no member name", crdt.CreateOptions{MemberName: "  "}, trustsync.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := store.NewMemory()
			defer st.Close()
			s, err := crdt.Create(ctx, st, tt.opts)
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr)
				return
			}
			noErr(t, err)
			defer s.Close()
			id := s.Self()
			if !idRE.MatchString(id.SpaceID) || !idRE.MatchString(id.MemberID) || !deviceRE.MatchString(id.DeviceID) {
				t.Fatalf("bad identity %+v", id)
			}
			if id.MemberName != "Sam" || id.DeviceName == "" {
				t.Fatalf("identity %+v", id)
			}
			ms := must[[]trustsync.Member](t)(s.Members(ctx))
			if len(ms) != 1 || ms[0].Name != "Sam" || len(ms[0].Devices) != 1 || ms[0].Devices[0].ID != id.DeviceID {
				t.Fatalf("members %+v", ms)
			}
			_, err = crdt.Create(ctx, st, tt.opts)
			wantErr(t, err, trustsync.ErrAlreadyInitialized)
		})
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	defer st.Close()
	_, err := crdt.Open(ctx, st, crdt.Options{})
	wantErr(t, err, trustsync.ErrNotInitialized)

	s := must[*crdt.Space](t)(crdt.Create(ctx, st, crdt.CreateOptions{MemberName: "Sam"}))
	id := must[string](t)(s.AddBoundary(ctx, "Kind words only"))
	noErr(t, s.Close())

	s2 := must[*crdt.Space](t)(crdt.Open(ctx, st, crdt.Options{}))
	defer s2.Close()
	if s2.Self() != s.Self() {
		t.Fatalf("Open gave %+v, Create %+v", s2.Self(), s.Self())
	}
	if b := mustBoundary(t, s2, id); b.Text != "Kind words only" {
		t.Fatalf("text %q", b.Text)
	}
	// A write after reopening extends the stored document.
	noErr(t, s2.EditBoundary(ctx, id, "Kind words only, always"))
	if b := mustBoundary(t, s2, id); b.Text != "Kind words only, always" {
		t.Fatalf("text %q", b.Text)
	}
}

func TestSpace_Close(t *testing.T) {
	ctx := context.Background()
	s, _ := newSpace(t, "Sam", "laptop")
	events, _ := s.Subscribe()
	noErr(t, s.Close())
	noErr(t, s.Close())
	if _, ok := <-events; ok {
		t.Fatal("subscription channel still open after Close")
	}
	_, err := s.AddBoundary(ctx, "x")
	wantErr(t, err, trustsync.ErrClosed)
	_, err = s.Boundaries(ctx, crdt.ListOptions{})
	wantErr(t, err, trustsync.ErrClosed)
}

func TestSpace_AddBoundary(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, text, want string
		wantErr          error
	}{
		{"plain", "No phones at dinner", "No phones at dinner", nil},
		{"trimmed", "  Say where you are going \n", "Say where you are going", nil},
		{"unicode", "Pas de téléphone à table 🙂", "Pas de téléphone à table 🙂", nil},
		{"empty", "", "", trustsync.ErrInvalid},
		{"whitespace", " \t\n", "", trustsync.ErrInvalid},
	}
	s, _ := newSpace(t, "Sam", "laptop")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := s.AddBoundary(ctx, tt.text)
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr)
				return
			}
			noErr(t, err)
			if !idRE.MatchString(id) {
				t.Fatalf("ID %q", id)
			}
			b := mustBoundary(t, s, id)
			if b.Text != tt.want || b.ProposedBy.Name != "Sam" || b.Agreed || len(b.Agreements) != 0 {
				t.Fatalf("boundary %+v", b)
			}
		})
	}
}

func TestSpace_Boundaries(t *testing.T) {
	ctx := context.Background()
	s, _ := newSpace(t, "Sam", "laptop")
	var ids []string
	for _, text := range []string{"first", "second", "third"} {
		ids = append(ids, must[string](t)(s.AddBoundary(ctx, text)))
	}
	noErr(t, s.ArchiveBoundary(ctx, ids[1]))
	tests := []struct {
		name string
		opts crdt.ListOptions
		want []string
	}{
		{"active", crdt.ListOptions{}, []string{"first", "third"}},
		{"all", crdt.ListOptions{All: true}, []string{"first", "second", "third"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := must[[]trustsync.Boundary](t)(s.Boundaries(ctx, tt.opts))
			var got []string
			for _, b := range bs {
				got = append(got, b.Text)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q (oldest first)", got, tt.want)
			}
		})
	}
}

func TestSpace_Boundary(t *testing.T) {
	ctx := context.Background()
	s, st := newSpace(t, "Sam", "laptop")
	id := must[string](t)(s.AddBoundary(ctx, "Tell each other the truth"))
	// A second item sharing the first 8 characters makes the 8-character
	// prefix ambiguous.
	twin := id[:8] + "aaaaaaaa"
	if twin == id {
		twin = id[:8] + "bbbbbbbb"
	}
	noErr(t, st.Update(ctx, func(tx trustsync.Tx) error {
		return tx.PutItem(trustsync.Item{Kind: crdt.KindBoundary, ID: twin, Doc: crdt.BoundariesDoc,
			Data: []byte(`{"id":"` + twin + `","text":"twin"}`)})
	}))
	tests := []struct {
		name    string
		arg     string
		wantErr error
	}{
		{"full ID", id, nil},
		{"upper case", strings.ToUpper(id), nil},
		{"unique prefix", id[:10], nil},
		{"ambiguous prefix", id[:8], trustsync.ErrAmbiguous},
		{"too short", id[:trustsync.MinIDPrefix-1], trustsync.ErrInvalid},
		{"unknown", "zzzzzzzzzzzzzzzz", trustsync.ErrNotFound},
		{"empty", "", trustsync.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := s.Boundary(ctx, tt.arg)
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr)
				var amb *trustsync.AmbiguousIDError
				if errors.As(err, &amb) && (len(amb.Candidates) != 2 || !slices.Contains(amb.Candidates, id)) {
					t.Fatalf("candidates %v", amb.Candidates)
				}
				return
			}
			noErr(t, err)
			if b.ID != id {
				t.Fatalf("resolved to %q, want %q", b.ID, id)
			}
		})
	}
}

func TestSpace_EditBoundary(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	id := must[string](t)(a.AddBoundary(ctx, "Home by ten"))
	noErr(t, a.AgreeBoundary(ctx, id))
	syncAll(t, a, b)
	noErr(t, b.AgreeBoundary(ctx, id))
	syncAll(t, a, b)
	if !mustBoundary(t, a, id).Agreed {
		t.Fatal("not agreed after both agreed")
	}
	tests := []struct {
		name, text, want string
		wantErr          error
		wantChange       bool
	}{
		{"new text asks both again", "Home by eleven", "Home by eleven", nil, true},
		{"same text is no change", "Home by eleven", "Home by eleven", nil, false},
		{"empty", "  ", "Home by eleven", trustsync.ErrInvalid, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := must[[]trustsync.Change](t)(a.History(ctx, crdt.HistoryOptions{Item: id}))
			err := a.EditBoundary(ctx, id[:7], tt.text)
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr)
			} else {
				noErr(t, err)
			}
			got := mustBoundary(t, a, id)
			if got.Text != tt.want || got.Agreed {
				t.Fatalf("boundary %+v", got)
			}
			for _, ag := range got.Agreements {
				if ag.Current {
					t.Fatalf("agreement of %s still current after an edit", ag.By.Name)
				}
			}
			after := must[[]trustsync.Change](t)(a.History(ctx, crdt.HistoryOptions{Item: id}))
			if changed := len(after) > len(before); changed != tt.wantChange {
				t.Fatalf("history grew from %d to %d entries", len(before), len(after))
			}
			if tt.wantChange && after[0].Summary != `changed the text to "`+tt.want+`"` {
				t.Fatalf("summary %q", after[0].Summary)
			}
		})
	}
	_, err := a.Boundary(ctx, "qqqqqqqqqqqqqqqq")
	wantErr(t, err, trustsync.ErrNotFound)
	wantErr(t, a.EditBoundary(ctx, "qqqqqqqqqqqqqqqq", "x"), trustsync.ErrNotFound)
}

func TestSpace_AgreeBoundary(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		agreeA     bool
		agreeB     bool
		wantAgreed bool
	}{
		{"nobody", false, false, false},
		{"one partner", true, false, false},
		{"both partners", true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newPair(t)
			id := must[string](t)(a.AddBoundary(ctx, "Ask before sharing photos"))
			syncAll(t, a, b)
			if tt.agreeA {
				noErr(t, a.AgreeBoundary(ctx, id))
				noErr(t, a.AgreeBoundary(ctx, id)) // twice is the same
			}
			if tt.agreeB {
				noErr(t, b.AgreeBoundary(ctx, id))
			}
			syncAll(t, a, b)
			for _, s := range []*crdt.Space{a, b} {
				got := mustBoundary(t, s, id)
				if got.Agreed != tt.wantAgreed {
					t.Fatalf("%s: Agreed = %v, want %v", s.Self().MemberName, got.Agreed, tt.wantAgreed)
				}
				want := 0
				for _, ok := range []bool{tt.agreeA, tt.agreeB} {
					if ok {
						want++
					}
				}
				if len(got.Agreements) != want {
					t.Fatalf("%d agreements, want %d", len(got.Agreements), want)
				}
			}
		})
	}
	// Alone in a space, a member can never make a boundary agreed.
	s, _ := newSpace(t, "Sam", "laptop")
	id := must[string](t)(s.AddBoundary(ctx, "x"))
	noErr(t, s.AgreeBoundary(ctx, id))
	if b := mustBoundary(t, s, id); b.Agreed || !b.Agreements[0].Current || b.Agreements[0].By.Name != "Sam" {
		t.Fatalf("boundary %+v", b)
	}
}

func TestSpace_ArchiveBoundary(t *testing.T) {
	ctx := context.Background()
	s, _ := newSpace(t, "Sam", "laptop")
	id := must[string](t)(s.AddBoundary(ctx, "x"))
	steps := []struct {
		name         string
		do           func() error
		wantArchived bool
	}{
		{"archive", func() error { return s.ArchiveBoundary(ctx, id) }, true},
		{"archive again", func() error { return s.ArchiveBoundary(ctx, id) }, true},
		{"restore", func() error { return s.RestoreBoundary(ctx, id) }, false},
		{"restore again", func() error { return s.RestoreBoundary(ctx, id) }, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			noErr(t, st.do())
			if b := mustBoundary(t, s, id); b.Archived != st.wantArchived {
				t.Fatalf("Archived = %v", b.Archived)
			}
			list := must[[]trustsync.Boundary](t)(s.Boundaries(ctx, crdt.ListOptions{}))
			if (len(list) == 0) != st.wantArchived {
				t.Fatalf("listed %d boundaries", len(list))
			}
		})
	}
	h := must[[]trustsync.Change](t)(s.History(ctx, crdt.HistoryOptions{Item: id}))
	if len(h) != 3 || h[0].Action != "restore" || h[1].Action != "archive" {
		t.Fatalf("history %+v", h)
	}
}

func TestSpace_Goals(t *testing.T) {
	ctx := context.Background()
	s, _ := newSpace(t, "Sam", "laptop")
	_, err := s.AddGoal(ctx, " ", "why")
	wantErr(t, err, trustsync.ErrInvalid)
	g1 := must[string](t)(s.AddGoal(ctx, "Weekly walks", "time together"))
	g2 := must[string](t)(s.AddGoal(ctx, "Counselling", ""))
	noErr(t, s.ArchiveGoal(ctx, g2))
	list := must[[]trustsync.Goal](t)(s.Goals(ctx, crdt.ListOptions{}))
	if len(list) != 1 || list[0].ID != g1 || list[0].Why != "time together" || list[0].CreatedBy.Name != "Sam" {
		t.Fatalf("goals %+v", list)
	}
	all := must[[]trustsync.Goal](t)(s.Goals(ctx, crdt.ListOptions{All: true}))
	if len(all) != 2 || all[1].ID != g2 || !all[1].Archived {
		t.Fatalf("all goals %+v", all)
	}
	noErr(t, s.RestoreGoal(ctx, g2))
	if mustGoal(t, s, g2).Archived {
		t.Fatal("still archived")
	}
}

func TestSpace_EditGoal(t *testing.T) {
	ctx := context.Background()
	s, _ := newSpace(t, "Sam", "laptop")
	id := must[string](t)(s.AddGoal(ctx, "Walks", "air"))
	str := func(s string) *string { return &s }
	tests := []struct {
		name               string
		edit               crdt.GoalEdit
		wantTitle, wantWhy string
		wantSummary        string
		wantErr            error
	}{
		{"title", crdt.GoalEdit{Title: str("Weekly walks")}, "Weekly walks", "air", `changed the title to "Weekly walks"`, nil},
		{"why", crdt.GoalEdit{Why: str("to talk")}, "Weekly walks", "to talk", `changed the why to "to talk"`, nil},
		{"both", crdt.GoalEdit{Title: str("Walks"), Why: str("")}, "Walks", "", `changed the title to "Walks" and changed the why to ""`, nil},
		{"nothing", crdt.GoalEdit{}, "Walks", "", `changed the title to "Walks" and changed the why to ""`, nil},
		{"empty title", crdt.GoalEdit{Title: str(" ")}, "Walks", "", `changed the title to "Walks" and changed the why to ""`, trustsync.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.EditGoal(ctx, id, tt.edit)
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr)
			} else {
				noErr(t, err)
			}
			g := mustGoal(t, s, id)
			if g.Title != tt.wantTitle || g.Why != tt.wantWhy {
				t.Fatalf("goal %+v", g)
			}
			h := must[[]trustsync.Change](t)(s.History(ctx, crdt.HistoryOptions{Item: id, Limit: 1}))
			if h[0].Summary != tt.wantSummary {
				t.Fatalf("summary %q, want %q", h[0].Summary, tt.wantSummary)
			}
		})
	}
}

func TestSpace_AddStep(t *testing.T) {
	ctx := context.Background()
	s, _ := newSpace(t, "Sam", "laptop")
	g := must[string](t)(s.AddGoal(ctx, "Walks", ""))
	_, err := s.AddStep(ctx, g, "")
	wantErr(t, err, trustsync.ErrInvalid)
	_, err = s.AddStep(ctx, "zzzzzzzzzzzz", "shoes")
	wantErr(t, err, trustsync.ErrNotFound)
	s1 := must[string](t)(s.AddStep(ctx, g[:6], "Buy shoes"))
	s2 := must[string](t)(s.AddStep(ctx, g, "Pick a route"))
	got := mustGoal(t, s, g)
	if len(got.Steps) != 2 || got.Steps[0].ID != s1 || got.Steps[1].ID != s2 || got.Steps[0].AddedBy.Name != "Sam" {
		t.Fatalf("steps %+v", got.Steps)
	}
	h := must[[]trustsync.Change](t)(s.History(ctx, crdt.HistoryOptions{Item: g}))
	if len(h) != 3 || h[0].Kind != crdt.KindStep || h[0].Item != s2 {
		t.Fatalf("goal history %+v", h)
	}
}

func TestSpace_MarkDone(t *testing.T) {
	ctx := context.Background()
	s, _ := newSpace(t, "Sam", "laptop")
	g := must[string](t)(s.AddGoal(ctx, "Walks", ""))
	st := must[string](t)(s.AddStep(ctx, g, "Buy shoes"))
	tests := []struct {
		name, id, wantKind string
		wantErr            error
	}{
		{"step", st, crdt.KindStep, nil},
		{"step again", st[:8], crdt.KindStep, nil},
		{"goal", g, crdt.KindGoal, nil},
		{"unknown", "zzzzzzzzzz", "", trustsync.ErrNotFound},
		{"too short", "ab", "", trustsync.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, err := s.MarkDone(ctx, tt.id)
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr)
				return
			}
			noErr(t, err)
			if kind != tt.wantKind {
				t.Fatalf("kind %q, want %q", kind, tt.wantKind)
			}
		})
	}
	got := mustGoal(t, s, g)
	if !got.Done || got.DoneBy == nil || got.DoneBy.Name != "Sam" || got.DoneAt.IsZero() {
		t.Fatalf("goal %+v", got)
	}
	if step := got.Steps[0]; !step.Done || step.DoneBy.Name != "Sam" {
		t.Fatalf("step %+v", step)
	}
	h := must[[]trustsync.Change](t)(s.History(ctx, crdt.HistoryOptions{Item: g}))
	var dones int
	for _, c := range h {
		if c.Action == "done" {
			dones++
		}
	}
	if dones != 2 {
		t.Fatalf("%d done changes in %+v, want 2 (marking twice is no change)", dones, h)
	}
}

func TestSpace_AddCheckIn(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		in      trustsync.NewCheckIn
		wantErr error
	}{
		{"full", trustsync.NewCheckIn{Mood: 4, Feelings: []string{"calm", " ", "hopeful"}, Note: "Good talk",
			Needs: "a hug", Concerns: "work", Appreciation: "the tea"}, nil},
		{"mood only", trustsync.NewCheckIn{Mood: 1}, nil},
		{"mood 0", trustsync.NewCheckIn{Mood: 0, Note: "x"}, trustsync.ErrInvalid},
		{"mood 6", trustsync.NewCheckIn{Mood: 6, Note: "x"}, trustsync.ErrInvalid},
	}
	s, _ := newSpace(t, "Sam", "laptop")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := s.AddCheckIn(ctx, tt.in)
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr)
				return
			}
			noErr(t, err)
			c := must[trustsync.CheckIn](t)(s.CheckIn(ctx, id))
			var feelings []string
			for _, f := range tt.in.Feelings {
				if f = strings.TrimSpace(f); f != "" {
					feelings = append(feelings, f)
				}
			}
			if c.Mood != tt.in.Mood || c.Note != tt.in.Note || c.Needs != tt.in.Needs ||
				c.Concerns != tt.in.Concerns || c.Appreciation != tt.in.Appreciation ||
				!slices.Equal(c.Feelings, feelings) && len(feelings) > 0 || c.Author.Name != "Sam" {
				t.Fatalf("check-in %+v from %+v", c, tt.in)
			}
		})
	}
}

func TestSpace_CheckIns(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	defer st.Close()
	now := time.Date(2026, 1, 31, 23, 59, 0, 0, time.UTC)
	s := must[*crdt.Space](t)(crdt.Create(ctx, st, crdt.CreateOptions{MemberName: "Sam",
		Options: crdt.Options{Now: func() time.Time { return now }}}))
	defer s.Close()
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, must[string](t)(s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3})))
		now = now.Add(time.Minute) // the second and third land in February
	}
	list := must[[]trustsync.CheckIn](t)(s.CheckIns(ctx))
	if len(list) != 3 || list[0].ID != ids[2] || list[2].ID != ids[0] {
		t.Fatalf("check-ins not newest first: %+v", list)
	}
	docs := must[[]string](t)(s.Docs(ctx))
	for _, want := range []string{"checkins/2026-01", "checkins/2026-02"} {
		if !slices.Contains(docs, want) {
			t.Fatalf("docs %v lack %s", docs, want)
		}
	}
}

func TestCheckInDoc(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC), "checkins/2026-03"},
		{time.Date(2026, 3, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "checkins/2026-02"},
		{time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC), "checkins/2025-12"},
	}
	for _, tt := range tests {
		if got := crdt.CheckInDoc(tt.t); got != tt.want {
			t.Errorf("CheckInDoc(%v) = %q, want %q", tt.t, got, tt.want)
		}
	}
}

func TestSpace_AckCheckIn(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	id := must[string](t)(a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 2, Note: "Hard day"}))
	syncAll(t, a, b)
	noErr(t, b.AckCheckIn(ctx, id, "I am here"))
	noErr(t, b.AckCheckIn(ctx, id, "I am here")) // no change
	syncAll(t, a, b)
	c := must[trustsync.CheckIn](t)(a.CheckIn(ctx, id))
	if len(c.Acks) != 1 || c.Acks[0].By.Name != "Alex" || c.Acks[0].Reply != "I am here" {
		t.Fatalf("acks %+v", c.Acks)
	}
	h := must[[]trustsync.Change](t)(a.History(ctx, crdt.HistoryOptions{Item: id}))
	if len(h) != 2 || h[0].By.Name != "Alex" || h[0].Device != "alex-phone" || h[0].Action != "ack" {
		t.Fatalf("history %+v", h)
	}
	wantErr(t, a.AckCheckIn(ctx, "zzzzzzzzzzz", ""), trustsync.ErrNotFound)
}

func TestSpace_History(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	id := must[string](t)(a.AddBoundary(ctx, "One"))
	noErr(t, a.EditBoundary(ctx, id, "Two"))
	syncAll(t, a, b)
	noErr(t, b.EditBoundary(ctx, id, "Three"))
	syncAll(t, a, b)
	tests := []struct {
		name        string
		opts        crdt.HistoryOptions
		wantSummary []string
	}{
		{"item", crdt.HistoryOptions{Item: id}, []string{`changed the text to "Three"`, `changed the text to "Two"`, `proposed the boundary "One"`}},
		{"item limit", crdt.HistoryOptions{Item: id, Limit: 1}, []string{`changed the text to "Three"`}},
		{"item offset", crdt.HistoryOptions{Item: id, Offset: 1, Limit: 1}, []string{`changed the text to "Two"`}},
		{"newest overall", crdt.HistoryOptions{Limit: 2}, []string{`changed the text to "Three"`, `changed the text to "Two"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range []*crdt.Space{a, b} {
				h := must[[]trustsync.Change](t)(s.History(ctx, tt.opts))
				var got []string
				for _, c := range h {
					got = append(got, c.Summary)
				}
				if !slices.Equal(got, tt.wantSummary) {
					t.Fatalf("on %s: %q, want %q", s.Self().DeviceName, got, tt.wantSummary)
				}
			}
		})
	}
	h := must[[]trustsync.Change](t)(a.History(ctx, crdt.HistoryOptions{Item: id}))
	if h[0].By.Name != "Alex" || h[0].Device != "alex-phone" || h[1].By.Name != "Sam" || h[1].Device != "sam-laptop" {
		t.Fatalf("who: %+v", h)
	}
	if h[0].Doc != crdt.BoundariesDoc || h[0].Kind != crdt.KindBoundary || h[0].Item != id || len(h[0].Hash) != 64 || h[0].At.IsZero() {
		t.Fatalf("change %+v", h[0])
	}
	all := must[[]trustsync.Change](t)(a.History(ctx, crdt.HistoryOptions{}))
	for i := 1; i < len(all); i++ {
		if all[i].At.After(all[i-1].At) {
			t.Fatalf("history not newest first at %d: %v after %v", i, all[i].At, all[i-1].At)
		}
	}
}

func TestSpace_Subscribe(t *testing.T) {
	ctx := context.Background()
	s, _ := newSpace(t, "Sam", "laptop")
	events, stop := s.Subscribe()
	id := must[string](t)(s.AddBoundary(ctx, "x"))
	ev := <-events
	if ev.Doc != crdt.BoundariesDoc || ev.Remote || ev.Lost || len(ev.Items) != 1 || ev.Items[0] != (crdt.ItemRef{Kind: crdt.KindBoundary, ID: id}) {
		t.Fatalf("event %+v", ev)
	}
	// A subscriber that does not read gets one Lost event, and writers never
	// wait for it.
	slow, stopSlow := s.Subscribe()
	for i := 0; i < 200; i++ {
		noErr(t, s.EditBoundary(ctx, id, "x"+strings.Repeat("!", i+1)))
	}
	var n, lost int
	for len(slow) > 0 {
		ev := <-slow
		n++
		if ev.Lost {
			lost++
		}
	}
	if lost != 1 || n >= 200 {
		t.Fatalf("slow subscriber got %d events, %d of them Lost; want one Lost among fewer than 200", n, lost)
	}
	// After draining, events flow again.
	noErr(t, s.EditBoundary(ctx, id, "again"))
	if ev := <-slow; ev.Lost || ev.Doc != crdt.BoundariesDoc {
		t.Fatalf("event after recovery %+v", ev)
	}
	stopSlow()
	stopSlow()
	if _, ok := <-slow; ok {
		t.Fatal("channel open after unsubscribing")
	}
	stop()
}

func TestSpace_Refresh(t *testing.T) {
	ctx := context.Background()
	a, st := newSpace(t, "Sam", "laptop")
	// A second process on the same store.
	b := must[*crdt.Space](t)(crdt.Open(ctx, st, crdt.Options{}))
	defer b.Close()
	id := must[string](t)(b.AddBoundary(ctx, "From the other process"))
	noErr(t, b.EditBoundary(ctx, id, "From the other process, edited")) // b caches the doc
	if got := must[[]string](t)(b.Refresh(ctx)); len(got) != 0 {
		t.Fatalf("b sees its own writes as changes: %v", got)
	}
	events, stop := a.Subscribe()
	defer stop()
	got := must[[]string](t)(a.Refresh(ctx))
	if !slices.Equal(got, []string{crdt.BoundariesDoc}) {
		t.Fatalf("Refresh = %v", got)
	}
	if ev := <-events; ev.Doc != crdt.BoundariesDoc || !ev.Remote {
		t.Fatalf("event %+v", ev)
	}
	if got := must[[]string](t)(a.Refresh(ctx)); len(got) != 0 {
		t.Fatalf("second Refresh = %v", got)
	}
	// a edits on top of b's write, b on top of a's: nothing is lost.
	noErr(t, a.AgreeBoundary(ctx, id))
	noErr(t, b.EditBoundary(ctx, id, "Edited again"))
	got = must[[]string](t)(b.Refresh(ctx))
	for _, s := range []*crdt.Space{a, b} {
		bd := mustBoundary(t, s, id)
		if bd.Text != "Edited again" || len(bd.Agreements) != 1 {
			t.Fatalf("%+v", bd)
		}
	}
	heads := func(s *crdt.Space) string {
		return strings.Join(must[[]string](t)(s.Heads(ctx, crdt.BoundariesDoc)), ",")
	}
	if heads(a) != heads(b) {
		t.Fatal("two spaces on one store disagree on heads")
	}
}

func TestSpace_HeadsSaveImport(t *testing.T) {
	ctx := context.Background()
	a, _ := newSpace(t, "Sam", "laptop")
	b, _ := newSpace(t, "Alex", "phone")
	if h := must[[]string](t)(a.Heads(ctx, crdt.GoalsDoc)); h != nil {
		t.Fatalf("heads of a missing doc: %v", h)
	}
	if d := must[[]byte](t)(a.Save(ctx, crdt.GoalsDoc)); d != nil {
		t.Fatalf("Save of a missing doc: %d bytes", len(d))
	}
	g := must[string](t)(a.AddGoal(ctx, "Walks", ""))
	data := must[[]byte](t)(a.SaveSigned(ctx, crdt.GoalsDoc))
	o := a.Self()
	noErr(t, b.TrustDevice(ctx, trustsync.Device{ID: o.DeviceID, PeerID: must[string](t)(a.PeerID(ctx)), Owner: trustsync.Person{ID: o.MemberID}}))
	events, stop := b.Subscribe()
	defer stop()
	tests := []struct {
		name        string
		data        []byte
		wantChanges int
		wantErr     error
	}{
		{"empty", nil, 0, trustsync.ErrInvalid},
		{"garbage", []byte("not automerge"), 0, trustsync.ErrInvalid},
		{"whole doc", data, 1, nil},
		{"again", data, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := b.Import(ctx, crdt.GoalsDoc, tt.data, a.Self().DeviceID)
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr)
				return
			}
			noErr(t, err)
			if rec.Changes != tt.wantChanges || rec.Doc != crdt.GoalsDoc {
				t.Fatalf("received %+v", rec)
			}
		})
	}
	ev := <-events
	if !ev.Remote || ev.From != a.Self().DeviceID || ev.Doc != crdt.GoalsDoc {
		t.Fatalf("event %+v", ev)
	}
	if got := mustGoal(t, b, g); got.Title != "Walks" {
		t.Fatalf("imported goal %+v", got)
	}
	ha := must[[]string](t)(a.Heads(ctx, crdt.GoalsDoc))
	hb := must[[]string](t)(b.Heads(ctx, crdt.GoalsDoc))
	if len(ha) != 1 || !slices.Equal(ha, hb) {
		t.Fatalf("heads %v vs %v", ha, hb)
	}
	_, err := b.Import(ctx, "../etc", data, "")
	wantErr(t, err, trustsync.ErrInvalid)
}

func TestSpace_Adopt(t *testing.T) {
	ctx := context.Background()
	s, st := newSpace(t, "Alex", "phone")
	wantErr(t, s.Adopt(ctx, " "), trustsync.ErrInvalid)
	noErr(t, s.Adopt(ctx, "partnerspaceid00"))
	if s.Self().SpaceID != "partnerspaceid00" {
		t.Fatalf("SpaceID %q", s.Self().SpaceID)
	}
	s2 := must[*crdt.Space](t)(crdt.Open(ctx, st, crdt.Options{}))
	defer s2.Close()
	if s2.Self().SpaceID != "partnerspaceid00" {
		t.Fatal("adopted space ID not persisted")
	}
}

func TestSpace_Members(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	for _, s := range []*crdt.Space{a, b} {
		ms := must[[]trustsync.Member](t)(s.Members(ctx))
		if len(ms) != 2 || ms[0].Name != "Sam" || ms[1].Name != "Alex" ||
			len(ms[0].Devices) != 1 || ms[0].Devices[0].Name != "sam-laptop" || ms[1].Devices[0].Owner.Name != "Alex" {
			t.Fatalf("members on %s: %+v", s.Self().DeviceName, ms)
		}
		p := must[trustsync.Member](t)(s.Partner(ctx))
		if p.ID == s.Self().MemberID {
			t.Fatal("Partner returned self")
		}
	}
	solo, _ := newSpace(t, "Kim", "k")
	_, err := solo.Partner(ctx)
	wantErr(t, err, trustsync.ErrNotFound)
}

func TestSpace_AddDevice(t *testing.T) {
	ctx := context.Background()
	s, _ := newSpace(t, "Sam", "laptop")
	me := s.Self()
	tests := []struct {
		name    string
		dev     trustsync.Device
		wantErr error
	}{
		{"second device of mine", trustsync.Device{ID: strings.Repeat("ab", 16), Name: "sam-phone", Owner: trustsync.Person{ID: me.MemberID}}, nil},
		{"partner's device", trustsync.Device{ID: strings.Repeat("cd", 16), Name: "alex-phone", Owner: trustsync.Person{ID: "alexmemberid0000", Name: "Alex"}}, nil},
		{"rename", trustsync.Device{ID: strings.Repeat("cd", 16), Name: "alex-tablet", Owner: trustsync.Person{ID: "alexmemberid0000"}}, nil},
		{"bad ID", trustsync.Device{ID: "xyz", Name: "n", Owner: trustsync.Person{ID: me.MemberID}}, trustsync.ErrInvalid},
		{"no owner", trustsync.Device{ID: strings.Repeat("ef", 16), Name: "n"}, trustsync.ErrInvalid},
		{"new member without a name", trustsync.Device{ID: strings.Repeat("ef", 16), Name: "n", Owner: trustsync.Person{ID: "nobody0000000000"}}, trustsync.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr == nil {
				// A device counts once this device met it first-hand.
				pub, _, _ := ed25519.GenerateKey(nil)
				tt.dev.PeerID = crdt.PeerIDOf(pub)
				noErr(t, s.TrustDevice(ctx, tt.dev))
			}
			err := s.AddDevice(ctx, tt.dev)
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr)
				return
			}
			noErr(t, err)
			ms := must[[]trustsync.Member](t)(s.Members(ctx))
			for _, m := range ms {
				for _, d := range m.Devices {
					if d.ID == tt.dev.ID {
						if d.Name != tt.dev.Name || m.ID != tt.dev.Owner.ID {
							t.Fatalf("device %+v of %s", d, m.Name)
						}
						return
					}
				}
			}
			t.Fatalf("device %s not listed in %+v", tt.dev.ID, ms)
		})
	}
}

// Addresses given to AddDevice, or noted later, stay on the device that
// learned them: the partner's device never sees them in the shared space.
func TestSpace_KnownAddrsStayLocal(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	bSelf := b.Self()
	addrs := []string{"/ip4/192.0.2.7/tcp/4001", "/ip4/192.0.2.7/udp/4001/quic-v1"}
	noErr(t, a.AddDevice(ctx, trustsync.Device{ID: bSelf.DeviceID, Name: bSelf.DeviceName,
		Owner: trustsync.Person{ID: bSelf.MemberID, Name: bSelf.MemberName}, PeerID: must[string](t)(b.PeerID(ctx)), Addrs: addrs}))
	k := must[crdt.KnownAddrs](t)(a.KnownAddrs(ctx, bSelf.DeviceID))
	if !slices.Equal(k.Addrs, addrs) || k.At.IsZero() {
		t.Fatalf("a keeps %+v for b, want %v", k, addrs)
	}
	changed := must[bool](t)(a.NoteAddrs(ctx, bSelf.DeviceID, crdt.KnownAddrs{Observed: "/ip4/192.0.2.7/tcp/50123"}))
	again := must[bool](t)(a.NoteAddrs(ctx, bSelf.DeviceID, crdt.KnownAddrs{Addrs: addrs, Observed: "/ip4/192.0.2.7/tcp/50123"}))
	if !changed || again {
		t.Fatalf("NoteAddrs reported changed=%v for a new observed address and %v for the same again", changed, again)
	}
	k = must[crdt.KnownAddrs](t)(a.KnownAddrs(ctx, bSelf.DeviceID))
	if want := append(slices.Clone(addrs), "/ip4/192.0.2.7/tcp/50123"); !slices.Equal(k.All(), want) {
		t.Fatalf("a knows %v of b, want %v", k.All(), want)
	}
	if _, err := a.NoteAddrs(ctx, a.Self().DeviceID, crdt.KnownAddrs{Addrs: addrs}); !errors.Is(err, trustsync.ErrInvalid) {
		t.Fatalf("noting this device's own addresses: %v, want ErrInvalid", err)
	}
	syncAll(t, a, b)
	for _, s := range []*crdt.Space{a, b} {
		for _, m := range must[[]trustsync.Member](t)(s.Members(ctx)) {
			for _, d := range m.Devices {
				if len(d.Addrs) > 0 {
					t.Errorf("%s lists addresses of %s in the shared space: %v", s.Self().DeviceName, d.Name, d.Addrs)
				}
			}
		}
		for _, c := range must[[]trustsync.Change](t)(s.History(ctx, crdt.HistoryOptions{})) {
			if strings.Contains(c.Summary, "192.0.2.7") {
				t.Errorf("%s's history names an address: %+v", s.Self().DeviceName, c)
			}
		}
	}
	if k := must[crdt.KnownAddrs](t)(b.KnownAddrs(ctx, a.Self().DeviceID)); !k.IsZero() {
		t.Errorf("b knows addresses of a it was never told: %+v", k)
	}

	// Recording the peer ID writes once.
	self := must[string](t)(a.PeerID(ctx))
	noErr(t, a.SetDevicePeer(ctx, self))
	before := len(must[[]trustsync.Change](t)(a.History(ctx, crdt.HistoryOptions{})))
	noErr(t, a.SetDevicePeer(ctx, self))
	if after := len(must[[]trustsync.Change](t)(a.History(ctx, crdt.HistoryOptions{}))); after != before {
		t.Fatalf("an unchanged peer ID wrote %d changes", after-before)
	}
	syncAll(t, a, b)
	p := must[trustsync.Member](t)(b.Partner(ctx))
	if d := p.Devices[0]; d.PeerID != self {
		t.Fatalf("partner device on b: %+v", d)
	}
}

func TestSpace_Docs(t *testing.T) {
	ctx := context.Background()
	s, _ := newSpace(t, "Sam", "laptop")
	must[string](t)(s.AddBoundary(ctx, "x"))
	must[string](t)(s.AddGoal(ctx, "y", ""))
	docs := must[[]string](t)(s.Docs(ctx))
	if !slices.Equal(docs, []string{crdt.BoundariesDoc, crdt.GoalsDoc, crdt.SpaceDoc}) {
		t.Fatalf("docs %v", docs)
	}
}
