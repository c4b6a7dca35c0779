package ui

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/home"
	tsync "github.com/trustsync/trustsync/sync"
)

// actions are the state changes, by path: each a POST of a form whose
// fields are named in its Do.
var actions = map[string]action{
	"/boundaries/propose": {Page: "/boundaries", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		_, err := d.sp.AddBoundary(ctx, need(f, "text"))
		return "proposed", err
	}},
	"/boundaries/edit": {Page: "/boundaries", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		return "edited", d.sp.EditBoundary(ctx, f.Get("id"), need(f, "text"))
	}},
	"/boundaries/agree": {Page: "/boundaries", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		if !f.Has("seen") {
			return "", inputf("Agree from the page, to the words it shows.")
		}
		// A browser sends every line break of a form as CRLF; the words
		// are stored with LF (the library turns CRLF into LF on write).
		seen := strings.ReplaceAll(f.Get("seen"), "\r\n", "\n")
		return "agreed", d.sp.AgreeBoundaryText(ctx, f.Get("id"), seen)
	}},
	"/boundaries/archive": {Page: "/boundaries", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		return "archived", d.sp.ArchiveBoundary(ctx, f.Get("id"))
	}},
	"/boundaries/restore": {Page: "/boundaries", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		return "restored", d.sp.RestoreBoundary(ctx, f.Get("id"))
	}},
	"/goals/add": {Page: "/goals", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		_, err := d.sp.AddGoal(ctx, need(f, "title"), strings.TrimSpace(f.Get("why")))
		return "goal", err
	}},
	"/goals/edit": {Page: "/goals", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		title, why := strings.TrimSpace(f.Get("title")), strings.TrimSpace(f.Get("why"))
		return "goal-edited", d.sp.EditGoal(ctx, f.Get("id"), crdt.GoalEdit{Title: &title, Why: &why})
	}},
	"/goals/step": {Page: "/goals", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		_, err := d.sp.AddStep(ctx, f.Get("goal"), need(f, "text"))
		return "step", err
	}},
	"/goals/done": {Page: "/goals", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		_, err := d.sp.MarkDone(ctx, f.Get("id"))
		return "done", err
	}},
	"/goals/archive": {Page: "/goals", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		return "archived", d.sp.ArchiveGoal(ctx, f.Get("id"))
	}},
	"/goals/restore": {Page: "/goals", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		return "restored", d.sp.RestoreGoal(ctx, f.Get("id"))
	}},
	"/checkins/add": {Page: "/checkins", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		mood, err := strconv.Atoi(f.Get("mood"))
		if err != nil || !trustsync.Mood(mood).Valid() {
			return "", inputf("Choose how you feel, from very low to very good.")
		}
		var feelings []string
		for _, fe := range f["feeling"] {
			for _, part := range strings.Split(fe, ",") {
				if part = strings.TrimSpace(part); part != "" {
					feelings = append(feelings, part)
				}
			}
		}
		_, err = d.sp.AddCheckIn(ctx, trustsync.NewCheckIn{
			Mood:         trustsync.Mood(mood),
			Feelings:     feelings,
			Note:         strings.TrimSpace(f.Get("note")),
			Needs:        strings.TrimSpace(f.Get("needs")),
			Concerns:     strings.TrimSpace(f.Get("concerns")),
			Appreciation: strings.TrimSpace(f.Get("appreciation")),
		})
		return "checkin", err
	}},
	"/checkins/ack": {Page: "/checkins", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		return "acked", d.sp.AckCheckIn(ctx, f.Get("id"), strings.TrimSpace(f.Get("reply")))
	}},
	"/commitments/add": {Page: "/commitments", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		_, err := d.sp.AddCommitment(ctx, need(f, "text"))
		return "commitment", err
	}},
	"/commitments/record": {Page: "/commitments", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		var kept bool
		switch f.Get("outcome") {
		case "kept":
			kept = true
		case "missed":
		default:
			return "", inputf("Say whether the commitment was kept or missed.")
		}
		_, err := d.sp.RecordCommitment(ctx, f.Get("id"), kept, strings.TrimSpace(f.Get("note")))
		if kept {
			return "kept", err
		}
		return "missed", err
	}},
	"/commitments/ack": {Page: "/commitments", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		return "acked", d.sp.AckCommitmentEntry(ctx, f.Get("entry"), strings.TrimSpace(f.Get("reply")))
	}},
	"/apologies/write": {Page: "/apologies", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		_, err := d.sp.WriteApology(ctx, trustsync.NewApology{
			Happened:       strings.TrimSpace(f.Get("happened")),
			Impact:         strings.TrimSpace(f.Get("impact")),
			Responsibility: strings.TrimSpace(f.Get("responsibility")),
			Different:      strings.TrimSpace(f.Get("different")),
		})
		return "apology", err
	}},
	"/apologies/ack": {Page: "/apologies", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		return "acked", d.sp.AckApology(ctx, f.Get("id"), strings.TrimSpace(f.Get("reply")))
	}},
	"/setbacks/add": {Page: "/setbacks", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		if f.Get("about") == "" {
			return "", inputf("Choose the boundary, goal or commitment the setback is about.")
		}
		_, err := d.sp.AddSetback(ctx, need(f, "text"), f.Get("about"), strings.TrimSpace(f.Get("plan")))
		return "setback", err
	}},
	"/setbacks/feel": {Page: "/setbacks", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		return "felt", d.sp.FeelSetback(ctx, f.Get("id"), need(f, "text"))
	}},
	"/setbacks/plan": {Page: "/setbacks", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		return "planned", d.sp.PlanSetback(ctx, f.Get("id"), need(f, "text"))
	}},
	"/rhythm/set": {Page: "/rhythm", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		c, err := cadence(f.Get("every"), f.Get("day"))
		if err != nil {
			return "", err
		}
		return "rhythm", d.sp.SetRhythm(ctx, c)
	}},
	"/rhythm/agree": {Page: "/rhythm", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		c, err := cadence(f.Get("every"), f.Get("day"))
		if err != nil {
			return "", err
		}
		return "rhythm-agreed", d.sp.AgreeRhythmCadence(ctx, c)
	}},
	"/questions/ask": {Page: "/questions", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		_, err := d.sp.AskQuestion(ctx, need(f, "text"))
		return "asked", err
	}},
	"/questions/answer": {Page: "/questions", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		return "answered", d.sp.AnswerQuestion(ctx, f.Get("id"), need(f, "text"))
	}},
	"/moments/add": {Page: "/moments", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		thanks := f.Get("thanks") == "yes"
		_, err := d.sp.AddMoment(ctx, need(f, "text"), thanks)
		if thanks {
			return "thanks", err
		}
		return "moment", err
	}},
	"/journal/open": {Page: "/journal", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		j, err := d.h.OpenJournal(ctx, home.JournalOptions{Passphrase: []byte(f.Get("passphrase"))})
		switch {
		case errors.Is(err, home.ErrJournalLocked):
			return "", inputf("Type the journal's passphrase.")
		case errors.Is(err, home.ErrWrongPassphrase):
			return "", inputf("Wrong passphrase: the journal stays closed.")
		case err != nil:
			return "", err
		}
		s.mu.Lock()
		old := d.journal
		d.journal = j
		s.mu.Unlock()
		if old != nil {
			old.Close()
		}
		return "journal-open", nil
	}},
	"/journal/close": {Page: "/journal", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		s.mu.Lock()
		j := d.journal
		d.journal = nil
		s.mu.Unlock()
		if j != nil {
			return "journal-closed", j.Close()
		}
		return "journal-closed", nil
	}},
	"/journal/write": {Page: "/journal", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		s.mu.Lock()
		j := d.journal
		s.mu.Unlock()
		if j == nil {
			return "", inputf("Open the journal first.")
		}
		var mood trustsync.Mood
		if m := f.Get("mood"); m != "" {
			n, err := strconv.Atoi(m)
			if err != nil || !trustsync.Mood(n).Valid() {
				return "", inputf("Choose a mood from very low to very good, or none.")
			}
			mood = trustsync.Mood(n)
		}
		_, err := j.Add(ctx, need(f, "text"), mood)
		return "journal-entry", err
	}},
	"/journal/passphrase": {Page: "/journal", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		p, again := f.Get("passphrase"), f.Get("again")
		if p != again {
			return "", inputf("The two passphrases differ: type the same one twice.")
		}
		s.mu.Lock()
		j := d.journal
		d.journal = nil
		s.mu.Unlock()
		if j != nil {
			j.Close()
		}
		if err := d.h.SetJournalPassphrase(ctx, []byte(p), home.KDFParams{}); err != nil {
			if errors.Is(err, home.ErrShortPassphrase) {
				return "", inputf("That passphrase is too short: use at least %d characters.", home.MinPassphrase)
			}
			return "", err
		}
		return "journal-pass", nil
	}},
	"/pair/invite": {Page: "/pair", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		return "invite", s.startInvite(d, f.Get("purpose") == "own")
	}},
	"/pair/join": {Page: "/pair", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		inv, err := tsync.ParseInvite(strings.TrimSpace(f.Get("invite")))
		if err != nil {
			return "", inputf("%s", sentence(err))
		}
		return "joining", s.startJoin(d, inv)
	}},
	"/pair/confirm": {Page: "/pair", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		return "confirmed", s.confirmPairing(f.Get("answer") == "yes")
	}},
	"/pair/cancel": {Page: "/pair", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		s.cancelPairing()
		return "pair-cancelled", nil
	}},
	"/devices/unpair": {Page: "/devices", Do: func(ctx context.Context, s *Server, d *device, f url.Values) (string, error) {
		if d.node == nil {
			return "", inputf("This page runs without a node: unpair with 'trustsync unpair'.")
		}
		// Telling the device waits for it at most this long; it is told
		// later otherwise.
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		_, err := d.node.Unpair(ctx, f.Get("id"))
		return "unpaired", err
	}},
}

// need returns the trimmed field name; an empty one is left for the
// library to refuse in its own words.
func need(f url.Values, name string) string {
	return strings.TrimSpace(f.Get(name))
}

// cadence reads a rhythm from its form fields.
func cadence(every, day string) (trustsync.Cadence, error) {
	if every != "weekly" {
		day = ""
	}
	c, err := crdt.ParseCadence(every, day)
	if err != nil {
		return c, inputf("%s", sentence(err))
	}
	return c, nil
}
