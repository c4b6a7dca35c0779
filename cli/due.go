package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync/crdt"
)

// DueOptions are the inputs of 'trustsync due'.
type DueOptions struct {
	Factory *Factory
	JSON    bool
}

// NewCmdDue returns 'trustsync due'.
func NewCmdDue(f *Factory, runF func(*DueOptions) error) *cobra.Command {
	opts := &DueOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "due [--json]",
		Short: "When your next check-in is due, and what waits for you",
		Long: heredoc(`
			Say when your next check-in is due under the rhythm you both agreed
			('trustsync rhythm'), and whether your partner has a check-in
			waiting for you to read and acknowledge.

			It is worked out on this device from what it holds, in its time
			zone: it needs no network, and reflects your partner's check-ins as
			of your last sync. It keeps no count of check-ins made or missed.

			--json prints one object with the fields rhythm (as 'rhythm show
			--json', or null), agreed, next_due (the date, YYYY-MM-DD, or
			null), due_now, last_checkin and waiting (your partner's check-ins
			you have not acknowledged, each with id, author and created_at).
		`),
		Example: examples(`
			$ trustsync due
			$ trustsync due --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return dueRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object")
	return cmd
}

type dueJSON struct {
	Rhythm      *rhythmJSON   `json:"rhythm"`
	Agreed      bool          `json:"agreed"`
	NextDue     *string       `json:"next_due"`
	DueNow      bool          `json:"due_now"`
	LastCheckIn string        `json:"last_checkin"`
	Waiting     []waitingJSON `json:"waiting"`
	due         crdt.Due
}

type waitingJSON struct {
	ID        string `json:"id"`
	Author    string `json:"author"`
	CreatedAt string `json:"created_at"`
}

// loadDue works out what is due now on this device.
func loadDue(ctx context.Context, f *Factory, sp *crdt.Space) (*dueJSON, error) {
	d, err := sp.Due(ctx, f.Now())
	if err != nil {
		return nil, err
	}
	rv, err := loadRhythm(ctx, sp)
	if err != nil {
		return nil, err
	}
	v := &dueJSON{Rhythm: rv, Agreed: rv != nil && rv.Agreed, DueNow: d.Now, LastCheckIn: jsonTime(d.Last),
		Waiting: []waitingJSON{}, due: d}
	if !d.Next.IsZero() {
		s := d.Next.Format("2006-01-02")
		v.NextDue = &s
	}
	ro, err := loadRoster(ctx, sp)
	if err != nil {
		return nil, err
	}
	for _, c := range d.Waiting {
		// A partner who left waits for nothing: their check-ins stay
		// readable in 'checkin list', but nobody is asked to answer them.
		if ro.hasLeft(c.Author.ID) {
			continue
		}
		v.Waiting = append(v.Waiting, waitingJSON{ID: c.ID, Author: c.Author.Name, CreatedAt: jsonTime(c.CreatedAt)})
	}
	return v, nil
}

// dueLine says in one sentence when this partner's next check-in is due.
func (v *dueJSON) dueLine(now time.Time) string {
	d := v.due
	day := func(t time.Time) string { return t.Format("Monday 2 January") }
	switch {
	case v.Rhythm == nil:
		return "no check-in rhythm agreed yet ('trustsync rhythm set weekly --day sunday')"
	case !v.Agreed:
		return fmt.Sprintf("check in %s is proposed, not agreed by both yet ('trustsync rhythm show')", v.Rhythm.Cadence)
	case d.Now && sameDay(d.Next, now):
		return "a check-in is due today, whenever you are ready ('trustsync checkin add')"
	case d.Now:
		return fmt.Sprintf("a check-in has been due since %s, whenever you are ready ('trustsync checkin add')", day(d.Next))
	case sameDay(d.Next, now.AddDate(0, 0, 1)):
		return "your next check-in is due tomorrow"
	}
	return fmt.Sprintf("your next check-in is due on %s", day(d.Next))
}

func sameDay(a, b time.Time) bool {
	b = b.In(a.Location())
	return a.Year() == b.Year() && a.YearDay() == b.YearDay()
}

// waitingLines says which of the partner's check-ins wait for this
// partner's acknowledgement.
func (v *dueJSON) waitingLines() []string {
	var out []string
	for _, w := range v.Waiting {
		out = append(out, fmt.Sprintf("%s has a check-in waiting for you: 'trustsync checkin show %s', then 'checkin ack %s'", w.Author, short(w.ID), short(w.ID)))
	}
	return out
}

func dueRun(ctx context.Context, opts *DueOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	v, err := loadDue(ctx, f, sp)
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(f.IOStreams.Out, v)
	}
	w := f.IOStreams.Out
	line := v.dueLine(f.Now())
	fmt.Fprintf(w, "%s%s.\n", string(line[0]-'a'+'A'), line[1:])
	for _, l := range v.waitingLines() {
		fmt.Fprintf(w, "%s.\n", l)
	}
	if len(v.Waiting) == 0 {
		fmt.Fprintln(w, "No check-in from your partner is waiting for you.")
	}
	return nil
}
