package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync"
)

const apologyList = "trustsync apology list"

// apologyHeadings are the parts of an apology, as the editor template
// shows them.
var apologyHeadings = []string{
	"[What happened]",
	"[Its impact on you, as I understand it]",
	"[What I take responsibility for]",
	"[What I will do differently]",
}

// headingWords is a heading without its brackets.
func headingWords(h string) string { return strings.Trim(h, "[]") }

const apologyTemplate = `
# Write under each [heading] in your own words, then save and close the
# editor. Only "What happened" is required.
#
# A sincere apology names what you did without "but" or "if", says how it
# affected your partner as far as you understand it, owns your part
# without blaming them, and says what you will do differently -- something
# small and concrete enough to keep.
#
# Lines starting with # are left out. If "What happened" is empty,
# nothing is saved.
`

// NewCmdApology returns 'trustsync apology' and its subcommands.
func NewCmdApology(f *Factory) *cobra.Command {
	cmd := newGroupCmd("apology <command>",
		"Write an apology; your partner can acknowledge it when ready",
		heredoc(`
			An apology here has four parts: what happened, its impact on your
			partner as you understand it, what you take responsibility for, and
			what you will do differently.

			Your partner can acknowledge it when, and if, they are ready.
			Nothing reminds them or asks them to: an apology is not a debt to be
			paid back with forgiveness.
		`),
		heredoc(`
			$ trustsync apology write --happened "I hid the messages from my ex" --impact "you felt lied to" --responsibility "I chose to hide them" --different "I show you when she writes"
			$ trustsync apology write --edit
			$ trustsync apology list
			$ trustsync apology ack 3nqd8w2k --reply "I read it. I need some time."
		`))
	cmd.AddCommand(
		NewCmdApologyWrite(f, nil),
		NewCmdApologyList(f, nil),
		NewCmdApologyShow(f, nil),
		NewCmdApologyAck(f, nil),
	)
	return cmd
}

// ApologyWriteOptions are the inputs of 'trustsync apology write'.
type ApologyWriteOptions struct {
	Factory *Factory
	trustsync.NewApology
	Edit bool
	// EditText lets the user write the apology in the template. Default:
	// $EDITOR on a temporary file.
	EditText func(ctx context.Context, initial string) (string, error)
}

// NewCmdApologyWrite returns 'trustsync apology write'.
func NewCmdApologyWrite(f *Factory, runF func(*ApologyWriteOptions) error) *cobra.Command {
	opts := &ApologyWriteOptions{Factory: f, EditText: func(ctx context.Context, initial string) (string, error) {
		return f.editTextFor(ctx, "apology", "the parts as flags: --happened TEXT, --impact TEXT, ...", initial, apologyTemplate)
	}}
	cmd := &cobra.Command{
		Use:   "write [--happened TEXT] [--impact TEXT] [--responsibility TEXT] [--different TEXT] [--edit]",
		Short: "Write an apology; prints its ID",
		Long: heredoc(`
			Write an apology in four parts. Give them as flags, or write them in
			your editor ($EDITOR, or vi) under four headings: without
			--happened at a terminal, or with --edit, the editor opens with
			whatever flags you gave already filled in.

			Prints the new apology's ID on standard output.
		`),
		Example: examples(`
			$ trustsync apology write --happened "I missed your birthday dinner" --impact "you felt you come last" --responsibility "I said yes to work without asking" --different "I put our dates in the shared calendar first"
			$ trustsync apology write --edit
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("happened") && !opts.Edit && !f.IOStreams.StdinTTY {
				return usageErrorf("give --happened TEXT (with --impact, --responsibility and --different), or --edit to write it in your editor")
			}
			if runF != nil {
				return runF(opts)
			}
			return apologyWriteRun(cmd.Context(), opts, cmd.Flags().Changed("happened"))
		},
	}
	cmd.Flags().StringVar(&opts.Happened, "happened", "", "what happened, as `TEXT`")
	cmd.Flags().StringVar(&opts.Impact, "impact", "", "its impact on your partner, as you understand it, as `TEXT`")
	cmd.Flags().StringVar(&opts.Responsibility, "responsibility", "", "what you take responsibility for, as `TEXT`")
	cmd.Flags().StringVar(&opts.Different, "different", "", "what you will do differently, as `TEXT`")
	cmd.Flags().BoolVarP(&opts.Edit, "edit", "e", false, "write it in $EDITOR")
	return cmd
}

func apologyWriteRun(ctx context.Context, opts *ApologyWriteOptions, happenedGiven bool) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	a := opts.NewApology
	if opts.Edit || !happenedGiven {
		var b strings.Builder
		for i, part := range []string{a.Happened, a.Impact, a.Responsibility, a.Different} {
			fmt.Fprintf(&b, "%s\n\n", apologyHeadings[i])
			if part = strings.TrimSpace(part); part != "" {
				fmt.Fprintf(&b, "%s\n\n", part)
			}
		}
		text, err := opts.EditText(ctx, b.String())
		if err != nil {
			return err
		}
		a = parseApology(text)
	}
	if strings.TrimSpace(a.Happened) == "" {
		return failf("\"what happened\" is empty, so nothing was saved: take the time you need, and write again when you are ready")
	}
	id, err := sp.WriteApology(ctx, a)
	if err != nil {
		return err
	}
	fmt.Fprintln(f.IOStreams.Out, id)
	fmt.Fprintln(f.IOStreams.ErrOut, "Saved. Your partner can read it after your next sync, and acknowledge it if and when they are ready.")
	return nil
}

// parseApology reads the four parts back from the edited template: the
// text under each heading, in order.
func parseApology(text string) trustsync.NewApology {
	var parts [4]strings.Builder
	cur := -1
	for _, line := range strings.Split(text, "\n") {
		if i := slices.Index(apologyHeadings, strings.TrimSpace(line)); i >= 0 {
			cur = i
			continue
		}
		if cur < 0 {
			cur = 0 // text before any heading is what happened
		}
		parts[cur].WriteString(line + "\n")
	}
	return trustsync.NewApology{
		Happened:       strings.TrimSpace(parts[0].String()),
		Impact:         strings.TrimSpace(parts[1].String()),
		Responsibility: strings.TrimSpace(parts[2].String()),
		Different:      strings.TrimSpace(parts[3].String()),
	}
}

// ApologyListOptions are the inputs of 'trustsync apology list'.
type ApologyListOptions struct {
	Factory *Factory
	JSON    bool
}

// NewCmdApologyList returns 'trustsync apology list'.
func NewCmdApologyList(f *Factory, runF func(*ApologyListOptions) error) *cobra.Command {
	opts := &ApologyListOptions{Factory: f}
	cmd := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "List apologies, newest first",
		Long: heredoc(`
			List the apologies, newest first, with who has acknowledged each.

			--json prints an array of objects with the fields id, author,
			written_at, happened, impact, responsibility, different,
			acknowledged_by and acks (each with by, at and reply).
		`),
		Example: examples(`
			$ trustsync apology list
			$ trustsync apology list --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return apologyListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array")
	return cmd
}

func apologyListRun(ctx context.Context, opts *ApologyListOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	as, err := sp.Apologies(ctx)
	if err != nil {
		return err
	}
	if opts.JSON {
		out := []apologyJSON{}
		for _, a := range as {
			out = append(out, apologyView(a))
		}
		return writeJSON(f.IOStreams.Out, out)
	}
	if len(as) == 0 {
		fmt.Fprintln(f.IOStreams.ErrOut, "No apologies written.")
		return nil
	}
	now := f.Now()
	t := newTable(f.IOStreams.Out)
	fmt.Fprintln(t, "ID\tWHEN\tFROM\tACKNOWLEDGED\tWHAT HAPPENED")
	for _, a := range as {
		ack := "not yet"
		if names, _ := acksView(a.Acks); len(names) > 0 {
			ack = "by " + joinNames(names)
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\n", short(a.ID), relTime(now, a.WrittenAt), a.Author.Name, ack, preview(a.Happened, 50))
	}
	return t.Flush()
}

// ApologyShowOptions are the inputs of 'trustsync apology show'.
type ApologyShowOptions struct {
	Factory *Factory
	ID      string
	JSON    bool
}

// NewCmdApologyShow returns 'trustsync apology show'.
func NewCmdApologyShow(f *Factory, runF func(*ApologyShowOptions) error) *cobra.Command {
	opts := &ApologyShowOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Read one apology in full",
		Long: heredoc(`
			Show one apology in full, with its acknowledgement and reply if
			there is one.

			--json prints one object shaped like those of 'apology list --json'.
		`),
		Example: examples(`
			$ trustsync apology show 3nqd8w2k
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return apologyShowRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object")
	return cmd
}

func apologyShowRun(ctx context.Context, opts *ApologyShowOptions) error {
	f := opts.Factory
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	a, err := sp.Apology(ctx, opts.ID)
	if err != nil {
		return lookupError(err, "apology", opts.ID, apologyList)
	}
	if opts.JSON {
		return writeJSON(f.IOStreams.Out, apologyView(a))
	}
	w := f.IOStreams.Out
	now := f.Now()
	fmt.Fprintf(w, "%s %s\n", palette{f.IOStreams.Color}.bold("Apology"), a.ID)
	fmt.Fprintf(w, "From %s, %s (%s)\n", a.Author.Name, relTime(now, a.WrittenAt), a.WrittenAt.Local().Format("Mon 2 Jan 2006 15:04"))
	for i, part := range []string{a.Happened, a.Impact, a.Responsibility, a.Different} {
		if part == "" {
			continue
		}
		fmt.Fprintf(w, "\n%s\n%s\n", headingWords(apologyHeadings[i]), indent(part, "    "))
	}
	fmt.Fprintln(w)
	writeAcks(w, now, a.Acks, "")
	return nil
}

// ApologyAckOptions are the inputs of 'trustsync apology ack'.
type ApologyAckOptions struct {
	Factory *Factory
	ID      string
	Reply   string
}

// NewCmdApologyAck returns 'trustsync apology ack'.
func NewCmdApologyAck(f *Factory, runF func(*ApologyAckOptions) error) *cobra.Command {
	opts := &ApologyAckOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "ack ID [--reply TEXT]",
		Short: "Acknowledge your partner's apology, when you are ready",
		Long: heredoc(`
			Let your partner know you have read their apology, with a reply if
			you like. Acknowledging is not forgiving, and nothing requires it:
			take the time you need.
		`),
		Example: examples(`
			$ trustsync apology ack 3nqd8w2k
			$ trustsync apology ack 3nqd8w2k --reply "I read it. It helps that you named it."
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return apologyAckRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Reply, "reply", "r", "", "a few words back, as `TEXT`")
	return cmd
}

func apologyAckRun(ctx context.Context, opts *ApologyAckOptions) error {
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	a, err := sp.Apology(ctx, opts.ID)
	if err != nil {
		return lookupError(err, "apology", opts.ID, apologyList)
	}
	if a.Author.ID == sp.Self().MemberID {
		return failf("apology %s is your own: only your partner can acknowledge it", short(a.ID))
	}
	if err := sp.AckApology(ctx, a.ID, opts.Reply); err != nil {
		return lookupError(err, "apology", opts.ID, apologyList)
	}
	fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "Acknowledged.")
	return nil
}

type apologyJSON struct {
	ID             string    `json:"id"`
	Author         string    `json:"author"`
	WrittenAt      string    `json:"written_at"`
	Happened       string    `json:"happened"`
	Impact         string    `json:"impact"`
	Responsibility string    `json:"responsibility"`
	Different      string    `json:"different"`
	AcknowledgedBy []string  `json:"acknowledged_by"`
	Acks           []ackJSON `json:"acks"`
}

func apologyView(a trustsync.Apology) apologyJSON {
	v := apologyJSON{ID: a.ID, Author: a.Author.Name, WrittenAt: jsonTime(a.WrittenAt), Happened: a.Happened,
		Impact: a.Impact, Responsibility: a.Responsibility, Different: a.Different}
	v.AcknowledgedBy, v.Acks = acksView(a.Acks)
	return v
}
