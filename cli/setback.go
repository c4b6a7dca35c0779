package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

const setbackList = "trustsync setback list"

// NewCmdSetback returns 'trustsync setback' and its subcommands.
func NewCmdSetback(f *Factory) *cobra.Command {
	cmd := newGroupCmd("setback <command>",
		"Name a setback, say how it felt, and revisit the plan together",
		heredoc(`
			Setbacks happen while trust grows back; what matters is how the two
			of you meet them. A setback names what happened and the boundary,
			goal or commitment it touched. Each of you can say, in your own
			words, what you felt, and either of you can revisit the plan. Every
			earlier version of the plan is kept.

			The boundary, goal or commitment shows its setbacks in 'show'.
		`),
		heredoc(`
			$ trustsync setback add "I did not call when I was late" --about 4mfq2kd7 --plan "text before leaving work"
			$ trustsync setback feel 2c7xq9rt "worried, then angry"
			$ trustsync setback plan 2c7xq9rt "text before leaving, and call if it is after eight"
			$ trustsync setback show 2c7xq9rt
		`))
	cmd.AddCommand(
		NewCmdSetbackAdd(f, nil),
		NewCmdSetbackFeel(f, nil),
		NewCmdSetbackPlan(f, nil),
		NewCmdSetbackList(f, nil),
		NewCmdSetbackShow(f, nil),
	)
	return cmd
}

// SetbackAddOptions are the inputs of 'trustsync setback add'.
type SetbackAddOptions struct {
	Factory *Factory
	Text    string
	About   string
	Plan    string
}

// NewCmdSetbackAdd returns 'trustsync setback add'.
func NewCmdSetbackAdd(f *Factory, runF func(*SetbackAddOptions) error) *cobra.Command {
	opts := &SetbackAddOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "add TEXT --about ID [--plan TEXT]",
		Short: "Name a setback; prints its ID",
		Long: heredoc(`
			Name what happened, plainly, and link it with --about to the
			boundary, goal or commitment it touched (its ID or a prefix). A
			first plan is optional; either of you can revisit it later.

			Prints the new setback's ID on standard output.
		`),
		Example: examples(`
			$ trustsync setback add "We skipped our walk and argued" --about 7hq2kd4m
			$ trustsync setback add "I was late without a call" --about 4mfq2kd7 --plan "text before I leave"
		`),
		Args: exactArgs("TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Text = args[0]
			if strings.TrimSpace(opts.About) == "" {
				return usageErrorf("--about is required: the ID of the boundary, goal or commitment the setback touched")
			}
			if runF != nil {
				return runF(opts)
			}
			return setbackAddRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.About, "about", "", "the `ID` of the boundary, goal or commitment it touched")
	cmd.Flags().StringVar(&opts.Plan, "plan", "", "a first plan, as `TEXT`")
	return cmd
}

func setbackAddRun(ctx context.Context, opts *SetbackAddOptions) error {
	if strings.TrimSpace(opts.Text) == "" {
		return failf("the setback is empty: say in a few words what happened")
	}
	if err := checkIDArg(opts.About); err != nil {
		return err
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	id, err := sp.AddSetback(ctx, opts.Text, opts.About, opts.Plan)
	if err != nil {
		return lookupError(err, "boundary, goal or commitment", opts.About, "trustsync boundary list', 'trustsync goal list' or 'trustsync commit list")
	}
	fmt.Fprintln(opts.Factory.IOStreams.Out, id)
	fmt.Fprintf(opts.Factory.IOStreams.ErrOut, "Noted. Each of you can say how it felt with 'trustsync setback feel %s TEXT'.\n", short(id))
	return nil
}

// SetbackTextOptions are the inputs of 'trustsync setback feel' and
// 'trustsync setback plan'.
type SetbackTextOptions struct {
	Factory *Factory
	ID      string
	Text    string
	Plan    bool
}

// NewCmdSetbackFeel returns 'trustsync setback feel'.
func NewCmdSetbackFeel(f *Factory, runF func(*SetbackTextOptions) error) *cobra.Command {
	opts := &SetbackTextOptions{Factory: f}
	return &cobra.Command{
		Use:   "feel ID TEXT",
		Short: "Say what you felt about a setback",
		Long: heredoc(`
			Say, in your own words, what you felt about a setback. Your partner
			says theirs on their side; neither of you can change the other's.
			Saying it again replaces your words.
		`),
		Example: examples(`
			$ trustsync setback feel 2c7xq9rt "scared it was starting again"
		`),
		Args: exactArgs("ID", "TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID, opts.Text = args[0], args[1]
			if runF != nil {
				return runF(opts)
			}
			return setbackTextRun(cmd.Context(), opts)
		},
	}
}

// NewCmdSetbackPlan returns 'trustsync setback plan'.
func NewCmdSetbackPlan(f *Factory, runF func(*SetbackTextOptions) error) *cobra.Command {
	opts := &SetbackTextOptions{Factory: f, Plan: true}
	return &cobra.Command{
		Use:   "plan ID TEXT",
		Short: "Revisit the plan after a setback",
		Long: heredoc(`
			Write the plan as the two of you see it now. Earlier versions stay
			in 'setback show', so you can see how the plan changed.
		`),
		Example: examples(`
			$ trustsync setback plan 2c7xq9rt "we talk on Sunday evening, phones off"
		`),
		Args: exactArgs("ID", "TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID, opts.Text = args[0], args[1]
			if runF != nil {
				return runF(opts)
			}
			return setbackTextRun(cmd.Context(), opts)
		},
	}
}

func setbackTextRun(ctx context.Context, opts *SetbackTextOptions) error {
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	if strings.TrimSpace(opts.Text) == "" {
		if opts.Plan {
			return failf("the plan is empty: write what the two of you will do")
		}
		return failf("that is empty: write what you felt, in a word or a few")
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	op, msg := sp.FeelSetback, "Thank you for saying how it felt."
	if opts.Plan {
		op, msg = sp.PlanSetback, "The plan is updated; the earlier one is kept."
	}
	if err := op(ctx, opts.ID, opts.Text); err != nil {
		return lookupError(err, "setback", opts.ID, setbackList)
	}
	fmt.Fprintln(opts.Factory.IOStreams.ErrOut, msg)
	return nil
}

// SetbackListOptions are the inputs of 'trustsync setback list'.
type SetbackListOptions struct {
	Factory *Factory
	JSON    bool
}

// NewCmdSetbackList returns 'trustsync setback list'.
func NewCmdSetbackList(f *Factory, runF func(*SetbackListOptions) error) *cobra.Command {
	opts := &SetbackListOptions{Factory: f}
	cmd := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "List setbacks, newest first",
		Long: heredoc(`
			List the setbacks, newest first, with what each touched and the
			current plan.

			--json prints an array of objects with the fields id, text, about
			(kind, id, text), added_by, added_at, feelings (each by, at, text),
			plan (the current one) and plans (each by, at, text).
		`),
		Example: examples(`
			$ trustsync setback list
			$ trustsync setback list --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return setbackListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array")
	return cmd
}

// aboutTexts maps the IDs of boundaries, goals and commitments to their words.
func aboutTexts(ctx context.Context, sp *crdt.Space) (map[string]string, error) {
	m := map[string]string{}
	bs, err := sp.Boundaries(ctx, crdt.ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		m[b.ID] = b.Text
	}
	gs, err := sp.Goals(ctx, crdt.ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		m[g.ID] = g.Title
	}
	cs, err := sp.Commitments(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		m[c.ID] = c.Text
	}
	return m, nil
}

func setbackListRun(ctx context.Context, opts *SetbackListOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	sbs, err := sp.Setbacks(ctx)
	if err != nil {
		return err
	}
	about, err := aboutTexts(ctx, sp)
	if err != nil {
		return err
	}
	if opts.JSON {
		out := []setbackJSON{}
		for _, sb := range sbs {
			out = append(out, setbackView(sb, about[sb.About.ID]))
		}
		return writeJSON(f.IOStreams.Out, out)
	}
	if len(sbs) == 0 {
		fmt.Fprintln(f.IOStreams.ErrOut, "No setbacks noted.")
		return nil
	}
	now := f.Now()
	t := newTable(f.IOStreams.Out)
	fmt.Fprintln(t, "ID\tWHEN\tABOUT\tSETBACK\tPLAN")
	for _, sb := range sbs {
		plan := sb.Plan().Text
		if plan == "" {
			plan = "-"
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\n", short(sb.ID), relTime(now, sb.AddedAt),
			sb.About.Kind+" "+preview(about[sb.About.ID], 30), preview(sb.Text, 40), preview(plan, 40))
	}
	return t.Flush()
}

// SetbackShowOptions are the inputs of 'trustsync setback show'.
type SetbackShowOptions struct {
	Factory *Factory
	ID      string
	JSON    bool
}

// NewCmdSetbackShow returns 'trustsync setback show'.
func NewCmdSetbackShow(f *Factory, runF func(*SetbackShowOptions) error) *cobra.Command {
	opts := &SetbackShowOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show a setback: what each of you felt and every version of the plan",
		Long: heredoc(`
			Show one setback: what happened, what it touched, what each of you
			felt, and every version of the plan, oldest first.

			--json prints one object shaped like those of 'setback list --json'.
		`),
		Example: examples(`
			$ trustsync setback show 2c7xq9rt
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return setbackShowRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object")
	return cmd
}

func setbackShowRun(ctx context.Context, opts *SetbackShowOptions) error {
	f := opts.Factory
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	sb, err := sp.Setback(ctx, opts.ID)
	if err != nil {
		return lookupError(err, "setback", opts.ID, setbackList)
	}
	about, err := aboutTexts(ctx, sp)
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(f.IOStreams.Out, setbackView(sb, about[sb.About.ID]))
	}
	w := f.IOStreams.Out
	now := f.Now()
	fmt.Fprintf(w, "%s %s\n\n", palette{f.IOStreams.Color}.bold("Setback"), sb.ID)
	fmt.Fprintf(w, "%s\n\n", indent(sb.Text, "    "))
	fmt.Fprintf(w, "Noted by %s, %s, about the %s %s (%s).\n", sb.AddedBy.Name, relTime(now, sb.AddedAt),
		sb.About.Kind, quoteText(about[sb.About.ID]), short(sb.About.ID))
	fmt.Fprintln(w, "\nWhat each of you felt")
	if len(sb.Feelings) == 0 {
		fmt.Fprintf(w, "  Nobody has said yet: 'trustsync setback feel %s TEXT'.\n", short(sb.ID))
	}
	for _, fe := range sb.Feelings {
		fmt.Fprintf(w, "  %s, %s: %s\n", fe.By.Name, relTime(now, fe.At), oneLine(fe.Text))
	}
	fmt.Fprintln(w, "\nPlan")
	if len(sb.Plans) == 0 {
		fmt.Fprintf(w, "  No plan yet: 'trustsync setback plan %s TEXT'.\n", short(sb.ID))
	}
	for i, p := range sb.Plans {
		label := "earlier"
		if i == len(sb.Plans)-1 {
			label = "now"
		}
		fmt.Fprintf(w, "  %-7s %s (%s, %s)\n", label+":", oneLine(p.Text), p.By.Name, relTime(now, p.At))
	}
	return nil
}

// quoteText puts words in quotes, or says there are none.
func quoteText(s string) string {
	if s == "" {
		return "(not on this device)"
	}
	return "\u201c" + preview(s, 50) + "\u201d"
}

// writeSetbacks prints the setbacks linked to an item, for its 'show'.
func writeSetbacks(w io.Writer, now time.Time, sbs []trustsync.Setback) error {
	if len(sbs) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nSetbacks")
	for _, sb := range sbs {
		fmt.Fprintf(w, "  %s  %s, %s: %s\n", short(sb.ID), sb.AddedBy.Name, relTime(now, sb.AddedAt), oneLine(sb.Text))
		if p := sb.Plan().Text; p != "" {
			fmt.Fprintf(w, "      plan now: %s\n", oneLine(p))
		}
	}
	return nil
}

// writeSetbacksOf prints the setbacks linked to the item id, for the 'show'
// of a boundary or goal.
func writeSetbacksOf(ctx context.Context, w io.Writer, sp *crdt.Space, now time.Time, id string) error {
	sbs, err := sp.SetbacksAbout(ctx, id)
	if err != nil {
		return err
	}
	return writeSetbacks(w, now, sbs)
}

type setbackJSON struct {
	ID       string       `json:"id"`
	Text     string       `json:"text"`
	About    aboutJSON    `json:"about"`
	AddedBy  string       `json:"added_by"`
	AddedAt  string       `json:"added_at"`
	Feelings []byTextJSON `json:"feelings"`
	Plan     string       `json:"plan"`
	Plans    []byTextJSON `json:"plans"`
}

type aboutJSON struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Text string `json:"text"`
}

type byTextJSON struct {
	By   string `json:"by"`
	At   string `json:"at"`
	Text string `json:"text"`
}

func setbackView(sb trustsync.Setback, aboutText string) setbackJSON {
	v := setbackJSON{
		ID:       sb.ID,
		Text:     sb.Text,
		About:    aboutJSON{Kind: sb.About.Kind, ID: sb.About.ID, Text: aboutText},
		AddedBy:  sb.AddedBy.Name,
		AddedAt:  jsonTime(sb.AddedAt),
		Feelings: []byTextJSON{},
		Plan:     sb.Plan().Text,
		Plans:    []byTextJSON{},
	}
	for _, fe := range sb.Feelings {
		v.Feelings = append(v.Feelings, byTextJSON{By: fe.By.Name, At: jsonTime(fe.At), Text: fe.Text})
	}
	for _, p := range sb.Plans {
		v.Plans = append(v.Plans, byTextJSON{By: p.By.Name, At: jsonTime(p.At), Text: p.Text})
	}
	return v
}
