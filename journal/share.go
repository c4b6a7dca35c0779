package journal

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/trustsync/trustsync"
)

// CheckInAdder adds a check-in to the shared space. *crdt.Space is one.
type CheckInAdder interface {
	AddCheckIn(ctx context.Context, c trustsync.NewCheckIn) (string, error)
}

// SourceSelfCare is the [Preview.Source] of a self-care summary.
const SourceSelfCare = "selfcare"

// Preview is exactly what a share would add to the shared space. Show it,
// ask, and pass the same value to [Journal.Share]: nothing else is sent.
type Preview struct {
	// Source is the entry's ID, or SourceSelfCare.
	Source string `json:"source"`
	// CheckIn is the check-in that would be added, every field of it.
	CheckIn trustsync.NewCheckIn `json:"checkin"`
}

// String renders the preview as the partner would read the check-in.
func (p Preview) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mood: %d/5\n", p.CheckIn.Mood)
	if len(p.CheckIn.Feelings) > 0 {
		fmt.Fprintf(&b, "feelings: %s\n", strings.Join(p.CheckIn.Feelings, ", "))
	}
	for _, f := range []struct{ name, v string }{
		{"note", p.CheckIn.Note}, {"needs", p.CheckIn.Needs},
		{"concerns", p.CheckIn.Concerns}, {"appreciation", p.CheckIn.Appreciation},
	} {
		if f.v == "" {
			continue
		}
		fmt.Fprintf(&b, "%s:\n", f.name)
		for _, l := range strings.Split(f.v, "\n") {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	return b.String()
}

// PreviewEntry builds the check-in that sharing an entry would add: its
// text as the note, with mood (or the entry's own mood when mood is 0).
func (j *Journal) PreviewEntry(ctx context.Context, id string, mood trustsync.Mood) (Preview, error) {
	e, err := j.Entry(ctx, id)
	if err != nil {
		return Preview{}, err
	}
	if mood == 0 {
		mood = e.Mood
	}
	if !mood.Valid() {
		return Preview{}, fmt.Errorf("share %s: %w", e.ID, ErrNoMood)
	}
	return Preview{Source: e.ID, CheckIn: trustsync.NewCheckIn{Mood: mood, Note: e.Text}}, nil
}

// PreviewCare builds the check-in that sharing a summary of self-care since
// a time would add: which practices of the plan were done and how often,
// and how many other things were logged. Log notes are never included.
func (j *Journal) PreviewCare(ctx context.Context, since time.Time, mood trustsync.Mood) (Preview, error) {
	if !mood.Valid() {
		return Preview{}, fmt.Errorf("share self-care: %w", ErrNoMood)
	}
	plan, err := j.Plan(ctx, true)
	if err != nil {
		return Preview{}, err
	}
	log, err := j.CareLog(ctx, since)
	if err != nil {
		return Preview{}, err
	}
	counts := map[string]int{}
	other := 0
	for _, c := range log {
		if c.Practice == "" {
			other++
		} else {
			counts[c.Practice]++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Looking after myself since %s:", since.Local().Format("Mon 2 Jan"))
	for _, p := range plan {
		n := counts[p.ID]
		if p.Dropped && n == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n- %s: %s", p.Text, times(n))
	}
	if other > 0 {
		fmt.Fprintf(&b, "\n- other things: %s", times(other))
	}
	if len(plan) == 0 && other == 0 {
		b.WriteString("\n- nothing logged yet")
	}
	return Preview{Source: SourceSelfCare, CheckIn: trustsync.NewCheckIn{Mood: mood, Note: b.String()}}, nil
}

func times(n int) string {
	switch n {
	case 0:
		return "not yet"
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}

// Share adds p's check-in, exactly as previewed, to the shared space
// through to, and records the share in the journal. It returns the new
// check-in's ID.
func (j *Journal) Share(ctx context.Context, p Preview, to CheckInAdder) (string, error) {
	id, err := to.AddCheckIn(ctx, p.CheckIn)
	if err != nil {
		return "", fmt.Errorf("share: %w", err)
	}
	s := Share{ID: newID(), Source: p.Source, CheckIn: id, At: j.stamp()}
	err = j.st.Update(ctx, func(tx trustsync.Tx) error { return put(tx, KindShare, s.ID, s) })
	if err != nil {
		// The check-in exists; only the local record failed.
		return id, fmt.Errorf("shared as check-in %s, but not recorded in the journal: %w", id, err)
	}
	return id, nil
}
