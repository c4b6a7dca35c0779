package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync"
)

const checkinList = "trustsync checkin list"

// NewCmdCheckin returns 'trustsync checkin' and its subcommands.
func NewCmdCheckin(f *Factory) *cobra.Command {
	cmd := newGroupCmd("checkin <command>",
		"Write regular check-ins to each other and acknowledge them",
		heredoc(`
			A check-in is a short, regular note to your partner: how you feel
			(a mood from 1, very low, to 5, very good, in your own words), what
			you need, what worries you, what you appreciated. Your partner
			acknowledges it, and may answer.

			A mood is something you say about yourself. It is never a rating of
			your partner, and trustsync keeps no scores and no streaks.
		`),
		heredoc(`
			$ trustsync checkin add --mood 3 --feeling hopeful --feeling tired
			$ trustsync checkin add --mood 4 --note "I felt close to you on our walk."
			$ trustsync checkin list
			$ trustsync checkin ack 5fk2m9qa --reply "Thank you for telling me."
		`))
	cmd.AddCommand(
		NewCmdCheckinAdd(f, nil),
		NewCmdCheckinList(f, nil),
		NewCmdCheckinShow(f, nil),
		NewCmdCheckinAck(f, nil),
	)
	return cmd
}

// CheckinAddOptions are the inputs of 'trustsync checkin add'.
type CheckinAddOptions struct {
	Factory      *Factory
	Mood         int
	Feelings     []string
	Note         string
	NoteGiven    bool
	Edit         bool
	Needs        string
	Concerns     string
	Appreciation string
	// EditNote lets the user write the note, starting from initial.
	// Default: $EDITOR on a temporary file.
	EditNote func(ctx context.Context, initial string) (string, error)
}

// NewCmdCheckinAdd returns 'trustsync checkin add'.
func NewCmdCheckinAdd(f *Factory, runF func(*CheckinAddOptions) error) *cobra.Command {
	opts := &CheckinAddOptions{
		Factory: f,
		EditNote: func(ctx context.Context, initial string) (string, error) {
			return f.editText(ctx, initial, noteTemplate)
		},
	}
	cmd := &cobra.Command{
		Use:   "add --mood 1..5 [--feeling TEXT]... [--note TEXT] [--needs TEXT] [--concerns TEXT] [--appreciation TEXT]",
		Short: "Write a check-in to your partner; prints its ID",
		Long: heredoc(`
			Write a check-in: your mood from 1 (very low) to 5 (very good), the
			feelings you notice, and a note in your own words.

			Without --note, the note comes from your editor ($EDITOR, or vi) when
			you are at a terminal, and from standard input otherwise. --edit opens
			the editor in any case. An empty note cancels the check-in and saves
			nothing; give --note "" to check in with a mood alone.

			Prints the new check-in's ID on standard output. A --mood outside 1..5
			is wrong usage (exit code 2).
		`),
		Example: examples(`
			$ trustsync checkin add --mood 2 --feeling anxious --feeling lonely
			$ trustsync checkin add --mood 4 --feeling grateful --note "I noticed you came home early."
			$ echo "I need a quiet evening." | trustsync checkin add --mood 3 --needs "time to talk on Sunday"
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("mood") {
				return usageErrorf("--mood is required: how do you feel, from 1 (very low) to 5 (very good)?")
			}
			if !trustsync.Mood(opts.Mood).Valid() {
				return usageErrorf("--mood must be from 1 (very low) to 5 (very good), not %d", opts.Mood)
			}
			opts.NoteGiven = cmd.Flags().Changed("note")
			if runF != nil {
				return runF(opts)
			}
			return checkinAddRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVarP(&opts.Mood, "mood", "m", 0, "how you feel, `1..5`: 1 very low, 3 okay, 5 very good")
	cmd.Flags().StringArrayVarP(&opts.Feelings, "feeling", "f", nil, "a `FEELING` you notice, in a word or two; repeat for several")
	cmd.Flags().StringVar(&opts.Note, "note", "", "the note as `TEXT`, instead of the editor or standard input")
	cmd.Flags().BoolVarP(&opts.Edit, "edit", "e", false, "write the note in $EDITOR even when not at a terminal")
	cmd.Flags().StringVar(&opts.Needs, "needs", "", "`TEXT` saying what you need from your partner")
	cmd.Flags().StringVar(&opts.Concerns, "concerns", "", "`TEXT` saying what worries you")
	cmd.Flags().StringVar(&opts.Appreciation, "appreciation", "", "`TEXT` saying what you appreciated")
	return cmd
}

func checkinAddRun(ctx context.Context, opts *CheckinAddOptions) error {
	f := opts.Factory
	// Open the space first: nobody should write a long note in an editor
	// only to learn that it cannot be saved.
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	note := strings.TrimSpace(opts.Note)
	switch {
	case opts.Edit || (!opts.NoteGiven && f.IOStreams.StdinTTY):
		if note, err = opts.EditNote(ctx, opts.Note); err != nil {
			return err
		}
		if note == "" {
			return failf("the note is empty, so nothing was saved: take the time you need, and write again when you are ready")
		}
	case !opts.NoteGiven:
		if note, err = readAllText(f.IOStreams.In); err != nil {
			return err
		}
		if note == "" {
			return failf("the note on standard input is empty, so nothing was saved: give --note TEXT, or --note \"\" for a mood alone")
		}
	}
	var feelings []string
	for _, fe := range opts.Feelings {
		for _, part := range strings.Split(fe, ",") {
			if part = strings.TrimSpace(part); part != "" {
				feelings = append(feelings, part)
			}
		}
	}
	id, err := sp.AddCheckIn(ctx, trustsync.NewCheckIn{
		Mood:         trustsync.Mood(opts.Mood),
		Feelings:     feelings,
		Note:         note,
		Needs:        strings.TrimSpace(opts.Needs),
		Concerns:     strings.TrimSpace(opts.Concerns),
		Appreciation: strings.TrimSpace(opts.Appreciation),
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(f.IOStreams.Out, id)
	fmt.Fprintln(f.IOStreams.ErrOut, "Thank you for checking in. Your partner will see it after your next sync.")
	return nil
}

// CheckinListOptions are the inputs of 'trustsync checkin list'.
type CheckinListOptions struct {
	Factory *Factory
	JSON    bool
}

// NewCmdCheckinList returns 'trustsync checkin list'.
func NewCmdCheckinList(f *Factory, runF func(*CheckinListOptions) error) *cobra.Command {
	opts := &CheckinListOptions{Factory: f}
	cmd := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "List check-ins, newest first",
		Long: heredoc(`
			List the check-ins of both of you, newest first, with who has
			acknowledged each.

			--json prints an array of objects with the fields id, author, mood,
			feelings, note, needs, concerns, appreciation, created_at (RFC 3339),
			acknowledged_by (names) and acks (each with by, at and reply).
		`),
		Example: examples(`
			$ trustsync checkin list
			$ trustsync checkin list --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return checkinListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array")
	return cmd
}

func checkinListRun(ctx context.Context, opts *CheckinListOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	cs, err := sp.CheckIns(ctx)
	if err != nil {
		return err
	}
	if opts.JSON {
		out := []checkinJSON{}
		for _, c := range cs {
			out = append(out, checkinView(c))
		}
		return writeJSON(f.IOStreams.Out, out)
	}
	if len(cs) == 0 {
		fmt.Fprintln(f.IOStreams.ErrOut, "No check-ins yet. Write one with 'trustsync checkin add --mood 1..5'.")
		return nil
	}
	self := sp.Self()
	c := palette{f.IOStreams.Color}
	now := f.Now()
	t := newTable(f.IOStreams.Out)
	fmt.Fprintf(t, "ID\tWHEN\tWHO\tMOOD\tFEELINGS\t%s\tNOTE\n", c.plain("ACKNOWLEDGED"))
	for _, ci := range cs {
		ack := c.yellow(ackStatus(ci, self.MemberID))
		if len(ci.Acks) > 0 {
			ack = c.green(ackStatus(ci, self.MemberID))
		}
		feelings := strings.Join(ci.Feelings, ", ")
		if feelings == "" {
			feelings = "-"
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", short(ci.ID), relTime(now, ci.CreatedAt), ci.Author.Name,
			moodText(ci.Mood), feelings, ack, preview(ci.Note, 40))
	}
	return t.Flush()
}

// ackStatus says who acknowledged a check-in, or who it waits for.
func ackStatus(c trustsync.CheckIn, selfID string) string {
	var names []string
	for _, a := range c.Acks {
		names = append(names, a.By.Name)
	}
	if len(names) > 0 {
		return "by " + joinNames(names)
	}
	if c.Author.ID == selfID {
		return "not yet"
	}
	return "not yet by you"
}

// preview shortens text to one line of at most n characters.
func preview(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// CheckinShowOptions are the inputs of 'trustsync checkin show'.
type CheckinShowOptions struct {
	Factory *Factory
	ID      string
	JSON    bool
}

// NewCmdCheckinShow returns 'trustsync checkin show'.
func NewCmdCheckinShow(f *Factory, runF func(*CheckinShowOptions) error) *cobra.Command {
	opts := &CheckinShowOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show one check-in in full, with acknowledgements and replies",
		Long: heredoc(`
			Show one check-in in full: mood, feelings, the note, needs, concerns,
			appreciation, and each acknowledgement with its reply.

			--json prints one object shaped like those of 'checkin list --json'.
		`),
		Example: examples(`
			$ trustsync checkin show 5fk2m9qa
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return checkinShowRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object")
	return cmd
}

func checkinShowRun(ctx context.Context, opts *CheckinShowOptions) error {
	f := opts.Factory
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	ci, err := sp.CheckIn(ctx, opts.ID)
	if err != nil {
		return lookupError(err, "check-in", opts.ID, checkinList)
	}
	if opts.JSON {
		return writeJSON(f.IOStreams.Out, checkinView(ci))
	}
	w := f.IOStreams.Out
	c := palette{f.IOStreams.Color}
	now := f.Now()
	fmt.Fprintf(w, "%s %s\n", c.bold("Check-in"), ci.ID)
	fmt.Fprintf(w, "From %s, %s (%s)\n\n", ci.Author.Name, relTime(now, ci.CreatedAt), ci.CreatedAt.Local().Format("Mon 2 Jan 2006 15:04"))
	t := newTable(w)
	fmt.Fprintf(t, "Mood:\t%s\n", moodText(ci.Mood))
	if len(ci.Feelings) > 0 {
		fmt.Fprintf(t, "Feelings:\t%s\n", strings.Join(ci.Feelings, ", "))
	}
	for _, kv := range [][2]string{{"Needs:", ci.Needs}, {"Concerns:", ci.Concerns}, {"Appreciation:", ci.Appreciation}} {
		if kv[1] != "" {
			fmt.Fprintf(t, "%s\t%s\n", kv[0], oneLine(kv[1]))
		}
	}
	if err := t.Flush(); err != nil {
		return err
	}
	if ci.Note != "" {
		fmt.Fprintf(w, "\n%s\n", indent(ci.Note, "    "))
	}
	fmt.Fprintln(w)
	if len(ci.Acks) == 0 {
		fmt.Fprintln(w, "Not acknowledged yet.")
		return nil
	}
	for _, a := range ci.Acks {
		fmt.Fprintf(w, "Acknowledged by %s, %s", a.By.Name, relTime(now, a.At))
		if a.Reply != "" {
			fmt.Fprintf(w, ":\n%s\n", indent(a.Reply, "    "))
		} else {
			fmt.Fprintln(w, ".")
		}
	}
	return nil
}

// CheckinAckOptions are the inputs of 'trustsync checkin ack'.
type CheckinAckOptions struct {
	Factory *Factory
	ID      string
	Reply   string
}

// NewCmdCheckinAck returns 'trustsync checkin ack'.
func NewCmdCheckinAck(f *Factory, runF func(*CheckinAckOptions) error) *cobra.Command {
	opts := &CheckinAckOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "ack ID [--reply TEXT]",
		Short: "Let your partner know you read their check-in",
		Long: heredoc(`
			Acknowledge your partner's check-in: it tells them you read it. A
			reply is optional. Reflecting back what you heard ("I hear that you
			felt alone on Friday") often means more than explaining yourself.
		`),
		Example: examples(`
			$ trustsync checkin ack 5fk2m9qa
			$ trustsync checkin ack 5fk2m9qa --reply "I hear that Friday was hard. I am here."
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return checkinAckRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Reply, "reply", "r", "", "a few words back to your partner, as `TEXT`")
	return cmd
}

func checkinAckRun(ctx context.Context, opts *CheckinAckOptions) error {
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	ci, err := sp.CheckIn(ctx, opts.ID)
	if err != nil {
		return lookupError(err, "check-in", opts.ID, checkinList)
	}
	if ci.Author.ID == sp.Self().MemberID {
		return failf("check-in %s is your own: your partner acknowledges it once it reaches them", short(ci.ID))
	}
	if err := sp.AckCheckIn(ctx, ci.ID, strings.TrimSpace(opts.Reply)); err != nil {
		return lookupError(err, "check-in", opts.ID, checkinList)
	}
	fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "Acknowledged. Thank you for listening.")
	return nil
}
