package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// NewCmdRhythm returns 'trustsync rhythm' and its subcommands.
func NewCmdRhythm(f *Factory) *cobra.Command {
	cmd := newGroupCmd("rhythm <command>",
		"Agree together how often you check in",
		heredoc(`
			A rhythm is how often the two of you mean to check in: every day, or
			once a week on a given day. Regular check-ins make room to talk
			before things pile up.

			Like a boundary, a rhythm counts only when both of you agreed to it
			exactly; changing it asks both of you again. 'trustsync due' then
			says when your next check-in is due, worked out on this device.
		`),
		heredoc(`
			$ trustsync rhythm set weekly --day sunday
			$ trustsync rhythm agree
			$ trustsync rhythm show
			$ trustsync due
		`))
	cmd.AddCommand(
		NewCmdRhythmSet(f, nil),
		NewCmdRhythmAgree(f, nil),
		NewCmdRhythmShow(f, nil),
	)
	return cmd
}

// RhythmSetOptions are the inputs of 'trustsync rhythm set'.
type RhythmSetOptions struct {
	Factory *Factory
	Cadence trustsync.Cadence
}

// NewCmdRhythmSet returns 'trustsync rhythm set'.
func NewCmdRhythmSet(f *Factory, runF func(*RhythmSetOptions) error) *cobra.Command {
	opts := &RhythmSetOptions{Factory: f}
	var day string
	cmd := &cobra.Command{
		Use:   "set daily | set weekly --day DAY",
		Short: "Propose how often you check in (both of you agree after)",
		Long: heredoc(`
			Propose a check-in rhythm: daily, or weekly on a day (--day sunday,
			or sun). Setting it is not agreeing to it: each of you runs
			'trustsync rhythm agree'. If a rhythm is already set, this changes
			it, and both of you are asked to agree again.
		`),
		Example: examples(`
			$ trustsync rhythm set weekly --day sunday
			$ trustsync rhythm set daily
		`),
		Args: exactArgs("EVERY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := crdt.ParseCadence(args[0], day)
			if err != nil {
				return &UsageError{Err: errors.New(stripSentinel(err, trustsync.ErrInvalid))}
			}
			opts.Cadence = c
			if runF != nil {
				return runF(opts)
			}
			return rhythmSetRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&day, "day", "d", "", "the `DAY` of a weekly rhythm: monday ... sunday")
	return cmd
}

func rhythmSetRun(ctx context.Context, opts *RhythmSetOptions) error {
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	if err := sp.SetRhythm(ctx, opts.Cadence); err != nil {
		return err
	}
	fmt.Fprintf(opts.Factory.IOStreams.ErrOut, "Proposed: check in %s. Each of you agrees with 'trustsync rhythm agree'.\n", opts.Cadence)
	return nil
}

// RhythmAgreeOptions are the inputs of 'trustsync rhythm agree'.
type RhythmAgreeOptions struct {
	Factory *Factory
	// Cadence, when Given, is the cadence agreed to: the agreement is
	// refused if another one is in effect.
	Cadence trustsync.Cadence
	Given   bool
}

// NewCmdRhythmAgree returns 'trustsync rhythm agree'.
func NewCmdRhythmAgree(f *Factory, runF func(*RhythmAgreeOptions) error) *cobra.Command {
	opts := &RhythmAgreeOptions{Factory: f}
	var day string
	cmd := &cobra.Command{
		Use:   "agree [daily | weekly --day DAY]",
		Short: "Agree to the rhythm as it is set now",
		Long: heredoc(`
			Record that you agree to the check-in rhythm as it is set now. If it
			changes later, you will be asked again.

			The agreement is bound to the rhythm you saw. On a terminal the
			command shows it and asks before agreeing; given a rhythm (as for
			'rhythm set') it agrees only if that rhythm is the one in effect. If
			it changed in the meantime, nothing is agreed and the command shows
			the new one. Elsewhere, without one, it agrees to the rhythm in
			effect and prints it.
		`),
		Example: examples(`
			$ trustsync rhythm show
			$ trustsync rhythm agree
			$ trustsync rhythm agree weekly --day sunday
		`),
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				c, err := crdt.ParseCadence(args[0], day)
				if err != nil {
					return &UsageError{Err: errors.New(stripSentinel(err, trustsync.ErrInvalid))}
				}
				opts.Cadence, opts.Given = c, true
			} else if day != "" {
				return usageErrorf("--day goes with a weekly rhythm: trustsync rhythm agree weekly --day %s", day)
			}
			if runF != nil {
				return runF(opts)
			}
			return rhythmAgreeRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&day, "day", "d", "", "the `DAY` of the weekly rhythm you agree to")
	return cmd
}

func rhythmAgreeRun(ctx context.Context, opts *RhythmAgreeOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	noRhythm := func(err error) error {
		if errors.Is(err, trustsync.ErrNotFound) {
			return failf("no check-in rhythm is set yet: propose one with 'trustsync rhythm set weekly --day sunday'")
		}
		return err
	}
	cur, err := sp.Rhythm(ctx)
	if err != nil {
		return noRhythm(err)
	}
	w := f.IOStreams.ErrOut
	seen, known := cur.Cadence, cur.Cadence.Every != ""
	switch {
	case opts.Given:
		seen, known = opts.Cadence, true
	case f.IOStreams.StdinTTY:
		fmt.Fprintf(w, "The rhythm in effect: check in %s.\n", rhythmWords(cur))
		if !askYes(f, "Agree to it? [y/N] ") {
			fmt.Fprintln(w, "Nothing was agreed.")
			return nil
		}
	}
	if known {
		err = sp.AgreeRhythmCadence(ctx, seen)
	} else {
		err = sp.AgreeRhythm(ctx) // a cadence of a newer version, agreed to as stored
	}
	if err != nil {
		return noRhythm(agreeError(err, "rhythm agree", ""))
	}
	r, err := sp.Rhythm(ctx)
	if err != nil {
		return err
	}
	if r.Agreed {
		fmt.Fprintf(w, "You agreed. You both agree to check in %s now.\n", rhythmWords(r))
	} else {
		fmt.Fprintf(w, "You agreed to check in %s; waiting for your partner.\n", rhythmWords(r))
	}
	return nil
}

// rhythmWords says a rhythm's cadence, or its stored form when this build
// cannot read it.
func rhythmWords(r trustsync.Rhythm) string {
	if r.Cadence.Every == "" {
		return r.Stored
	}
	return r.Cadence.String()
}

// RhythmShowOptions are the inputs of 'trustsync rhythm show'.
type RhythmShowOptions struct {
	Factory *Factory
	JSON    bool
}

// NewCmdRhythmShow returns 'trustsync rhythm show'.
func NewCmdRhythmShow(f *Factory, runF func(*RhythmShowOptions) error) *cobra.Command {
	opts := &RhythmShowOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "show [--json]",
		Short: "Show the check-in rhythm and who agreed to it",
		Long: heredoc(`
			Show the check-in rhythm, who set it, and who agreed to it as it is
			now.

			--json prints one object with the fields cadence (in words), every,
			day, set_by, set_at, agreed, agreed_by, waiting_for and agreements;
			or null when no rhythm is set.
		`),
		Example: examples(`
			$ trustsync rhythm show
			$ trustsync rhythm show --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return rhythmShowRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object")
	return cmd
}

func rhythmShowRun(ctx context.Context, opts *RhythmShowOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	rv, err := loadRhythm(ctx, sp)
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(f.IOStreams.Out, rv)
	}
	w := f.IOStreams.Out
	if rv == nil {
		fmt.Fprintln(w, "No check-in rhythm yet. Propose one with 'trustsync rhythm set weekly --day sunday'.")
		return nil
	}
	fmt.Fprintf(w, "Check in %s.\n", rv.Cadence)
	fmt.Fprintf(w, "Set by %s, %s.\n", rv.SetBy, relTime(f.Now(), rv.setAt))
	fmt.Fprintf(w, "%s\n", rhythmStatus(rv))
	return nil
}

// rhythmStatus says in a sentence where the agreement to the rhythm stands.
func rhythmStatus(rv *rhythmJSON) string {
	switch {
	case rv.Agreed:
		return "Agreed by both of you."
	case len(rv.AgreedBy) > 0 && len(rv.WaitingFor) > 0:
		return fmt.Sprintf("Agreed by %s; waiting for %s.", joinNames(rv.AgreedBy), joinNames(rv.WaitingFor))
	case len(rv.WaitingFor) > 0:
		return fmt.Sprintf("Not agreed yet; waiting for %s.", joinNames(rv.WaitingFor))
	case len(rv.AgreedBy) > 0:
		return fmt.Sprintf("Agreed by %s; waiting for your partner, once you have paired.", joinNames(rv.AgreedBy))
	}
	return "Not agreed yet."
}

type rhythmJSON struct {
	Cadence    string          `json:"cadence"`
	Every      string          `json:"every"`
	Day        string          `json:"day,omitempty"`
	SetBy      string          `json:"set_by"`
	SetAt      string          `json:"set_at"`
	Agreed     bool            `json:"agreed"`
	AgreedBy   []string        `json:"agreed_by"`
	WaitingFor []string        `json:"waiting_for"`
	Agreements []agreementJSON `json:"agreements"`
	setAt      time.Time
}

// loadRhythm returns the rhythm in effect as JSON, nil when none is set.
func loadRhythm(ctx context.Context, sp *crdt.Space) (*rhythmJSON, error) {
	r, err := sp.Rhythm(ctx)
	if errors.Is(err, trustsync.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ro, err := loadRoster(ctx, sp)
	if err != nil {
		return nil, err
	}
	v := &rhythmJSON{setAt: r.SetAt, Cadence: r.Cadence.String(), Every: r.Cadence.Every, SetBy: r.SetBy.Name, SetAt: jsonTime(r.SetAt),
		Agreed: r.Agreed, AgreedBy: []string{}, WaitingFor: []string{}, Agreements: []agreementJSON{}}
	if r.Cadence.Every == "" {
		v.Cadence = r.Stored + " (set by a newer trustsync)"
	}
	if r.Cadence.Every == "weekly" {
		v.Day = r.Cadence.Day.String()
	}
	// A partner who left (every device of theirs unpaired) is neither
	// named as agreeing nor waited for: the rhythm waits for a partner, as
	// before pairing. Their agreement stays in agreements.
	current := map[string]bool{}
	for _, ag := range r.Agreements {
		v.Agreements = append(v.Agreements, agreementJSON{By: ag.By.Name, At: jsonTime(ag.At), Current: ag.Current})
		if ag.Current && !ro.hasLeft(ag.By.ID) {
			current[ag.By.ID] = true
			v.AgreedBy = append(v.AgreedBy, ag.By.Name)
		}
	}
	for _, m := range ro.selfFirst() {
		if !current[m.ID] && !ro.hasLeft(m.ID) {
			v.WaitingFor = append(v.WaitingFor, m.Name)
		}
	}
	return v, nil
}
