package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

const goalListAll = "trustsync goal list --all"

// NewCmdGoal returns 'trustsync goal' and its subcommands.
func NewCmdGoal(f *Factory) *cobra.Command {
	cmd := newGroupCmd("goal <command>",
		"Set shared goals and the steps towards them",
		heredoc(`
			Goals are what the two of you want to build together -- a weekly
			walk, a conversation you keep putting off, a new habit -- with small
			concrete steps towards each. Either of you can add, step or finish a
			goal; both of you see everything.
		`),
		heredoc(`
			$ trustsync goal add "Spend Sunday mornings together" --why "I miss how easy it used to be"
			$ trustsync goal step 3mzk8x2q "Leave our phones in the hall"
			$ trustsync goal done 9tq4r1vb
			$ trustsync goal list
		`))
	cmd.AddCommand(
		NewCmdGoalAdd(f, nil),
		NewCmdGoalStep(f, nil),
		NewCmdGoalDone(f, nil),
		NewCmdGoalList(f, nil),
		NewCmdGoalShow(f, nil),
		NewCmdGoalEdit(f, nil),
		NewCmdGoalArchive(f, nil),
		NewCmdGoalRestore(f, nil),
	)
	return cmd
}

// GoalAddOptions are the inputs of 'trustsync goal add'.
type GoalAddOptions struct {
	Factory *Factory
	Title   string
	Why     string
}

// NewCmdGoalAdd returns 'trustsync goal add'.
func NewCmdGoalAdd(f *Factory, runF func(*GoalAddOptions) error) *cobra.Command {
	opts := &GoalAddOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "add TITLE [--why TEXT]",
		Short: "Add a shared goal; prints its ID",
		Long: heredoc(`
			Add a goal the two of you share. --why says what it means to you;
			it helps on the days when the goal feels hard.

			Prints the new goal's ID on standard output.
		`),
		Example: examples(`
			$ trustsync goal add "Talk for ten minutes every evening"
			$ trustsync goal add "See a couples counsellor" --why "I want help to hear you better"
		`),
		Args: exactArgs("TITLE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Title = args[0]
			if runF != nil {
				return runF(opts)
			}
			return goalAddRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Why, "why", "", "`TEXT` saying what this goal means to you")
	return cmd
}

func goalAddRun(ctx context.Context, opts *GoalAddOptions) error {
	if strings.TrimSpace(opts.Title) == "" {
		return failf("the goal's title is empty: say in a few words what you would like to build together")
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	id, err := sp.AddGoal(ctx, strings.TrimSpace(opts.Title), strings.TrimSpace(opts.Why))
	if err != nil {
		return err
	}
	fmt.Fprintln(opts.Factory.IOStreams.Out, id)
	fmt.Fprintf(opts.Factory.IOStreams.ErrOut, "Added. Small steps help: 'trustsync goal step %s TEXT'.\n", short(id))
	return nil
}

// GoalStepOptions are the inputs of 'trustsync goal step'.
type GoalStepOptions struct {
	Factory *Factory
	GoalID  string
	Text    string
}

// NewCmdGoalStep returns 'trustsync goal step'.
func NewCmdGoalStep(f *Factory, runF func(*GoalStepOptions) error) *cobra.Command {
	opts := &GoalStepOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "step ID TEXT",
		Short: "Add a step to a goal; prints the step's ID",
		Long: heredoc(`
			Add a concrete step towards a goal. Mark it done later with
			'trustsync goal done STEP-ID'.

			Prints the new step's ID on standard output.
		`),
		Example: examples(`
			$ trustsync goal step 3mzk8x2q "Book a first session"
		`),
		Args: exactArgs("ID", "TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.GoalID, opts.Text = args[0], args[1]
			if runF != nil {
				return runF(opts)
			}
			return goalStepRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func goalStepRun(ctx context.Context, opts *GoalStepOptions) error {
	if err := checkIDArg(opts.GoalID); err != nil {
		return err
	}
	if strings.TrimSpace(opts.Text) == "" {
		return failf("the step is empty: describe one small thing either of you can do")
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	id, err := sp.AddStep(ctx, opts.GoalID, strings.TrimSpace(opts.Text))
	if err != nil {
		return lookupError(err, "goal", opts.GoalID, goalListAll)
	}
	fmt.Fprintln(opts.Factory.IOStreams.Out, id)
	fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "Step added.")
	return nil
}

// GoalDoneOptions are the inputs of 'trustsync goal done'.
type GoalDoneOptions struct {
	Factory *Factory
	ID      string
}

// NewCmdGoalDone returns 'trustsync goal done'.
func NewCmdGoalDone(f *Factory, runF func(*GoalDoneOptions) error) *cobra.Command {
	opts := &GoalDoneOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "done ID",
		Short: "Mark a goal, or one of its steps, done",
		Long: heredoc(`
			Mark a goal done, or one step of a goal when given the step's ID
			(shown by 'trustsync goal show'). It is worth taking a moment
			together to notice it.
		`),
		Example: examples(`
			$ trustsync goal done 9tq4r1vb
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return goalDoneRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func goalDoneRun(ctx context.Context, opts *GoalDoneOptions) error {
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	kind, err := sp.MarkDone(ctx, opts.ID)
	if err != nil {
		return lookupError(err, "goal or step", opts.ID, goalListAll)
	}
	msg := "Goal done. Well done, both of you."
	if kind == crdt.KindStep {
		msg = "Step done."
	}
	fmt.Fprintln(opts.Factory.IOStreams.ErrOut, msg)
	return nil
}

// GoalListOptions are the inputs of 'trustsync goal list'.
type GoalListOptions struct {
	Factory *Factory
	All     bool
	JSON    bool
}

// NewCmdGoalList returns 'trustsync goal list'.
func NewCmdGoalList(f *Factory, runF func(*GoalListOptions) error) *cobra.Command {
	opts := &GoalListOptions{Factory: f}
	cmd := &cobra.Command{
		Use:     "list [--all] [--json]",
		Aliases: []string{"ls"},
		Short:   "List your goals and how far along they are",
		Long: heredoc(`
			List goals, oldest first, with how many of their steps are done.
			Archived goals are shown with --all.

			--json prints an array of objects with the fields id, title, why,
			done, done_by, done_at, created_by, created_at, archived and steps
			(each with id, text, done, added_by, added_at, done_by, done_at).
		`),
		Example: examples(`
			$ trustsync goal list
			$ trustsync goal list --all --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return goalListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.All, "all", "a", false, "include archived goals")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array")
	return cmd
}

func goalListRun(ctx context.Context, opts *GoalListOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	gs, err := sp.Goals(ctx, crdt.ListOptions{All: opts.All})
	if err != nil {
		return err
	}
	if opts.JSON {
		out := []goalJSON{}
		for _, g := range gs {
			out = append(out, goalView(g))
		}
		return writeJSON(f.IOStreams.Out, out)
	}
	if len(gs) == 0 {
		if all, aerr := sp.Goals(ctx, crdt.ListOptions{All: true}); aerr == nil && len(all) > 0 && !opts.All {
			fmt.Fprintf(f.IOStreams.ErrOut, "No goals in use: %s archived ('trustsync goal list --all' shows %s).\n",
				countWord(len(all), "goal is", "goals are"), itOrThem(len(all)))
			return nil
		}
		fmt.Fprintln(f.IOStreams.ErrOut, "No goals yet. Add one with 'trustsync goal add TITLE'.")
		return nil
	}
	c := palette{f.IOStreams.Color}
	t := newTable(f.IOStreams.Out)
	fmt.Fprintf(t, "ID\t%s\tGOAL\n", c.plain("PROGRESS"))
	for _, g := range gs {
		p := progress(g)
		switch {
		case g.Archived:
			p = c.grey(p)
		case g.Done:
			p = c.green(p)
		default:
			p = c.yellow(p)
		}
		fmt.Fprintf(t, "%s\t%s\t%s\n", short(g.ID), p, oneLine(g.Title))
	}
	return t.Flush()
}

// progress says how far a goal is, in words.
func progress(g trustsync.Goal) string {
	done := 0
	for _, s := range g.Steps {
		if s.Done {
			done++
		}
	}
	var p string
	switch {
	case g.Done:
		p = "done"
	case len(g.Steps) == 0:
		p = "no steps yet"
	default:
		p = fmt.Sprintf("%d of %s done", done, countWord(len(g.Steps), "step", "steps"))
	}
	if g.Archived {
		p += " (archived)"
	}
	return p
}

// GoalShowOptions are the inputs of 'trustsync goal show'.
type GoalShowOptions struct {
	Factory *Factory
	ID      string
	JSON    bool
}

// NewCmdGoalShow returns 'trustsync goal show'.
func NewCmdGoalShow(f *Factory, runF func(*GoalShowOptions) error) *cobra.Command {
	opts := &GoalShowOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show one goal with its steps and their IDs",
		Long: heredoc(`
			Show one goal: why it matters, who added it, and each step with its
			ID and whether it is done.

			--json prints one object shaped like those of 'goal list --json'.
		`),
		Example: examples(`
			$ trustsync goal show 3mzk8x2q
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return goalShowRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object")
	return cmd
}

func goalShowRun(ctx context.Context, opts *GoalShowOptions) error {
	f := opts.Factory
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	g, err := sp.Goal(ctx, opts.ID)
	if err != nil {
		return lookupError(err, "goal", opts.ID, goalListAll)
	}
	if opts.JSON {
		return writeJSON(f.IOStreams.Out, goalView(g))
	}
	w := f.IOStreams.Out
	c := palette{f.IOStreams.Color}
	now := f.Now()
	fmt.Fprintf(w, "%s %s\n\n", c.bold("Goal"), g.ID)
	fmt.Fprintf(w, "%s\n", indent(g.Title, "    "))
	if g.Why != "" {
		fmt.Fprintf(w, "\n    Why: %s\n", oneLine(g.Why))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Added by %s, %s. Progress: %s.\n", g.CreatedBy.Name, relTime(now, g.CreatedAt), progress(g))
	if g.Done && g.DoneBy != nil {
		fmt.Fprintf(w, "Marked done by %s, %s.\n", g.DoneBy.Name, relTime(now, g.DoneAt))
	}
	if err := writeSetbacksOf(ctx, w, sp, now, g.ID); err != nil {
		return err
	}
	if len(g.Steps) == 0 {
		fmt.Fprintf(w, "\nNo steps yet: add one with 'trustsync goal step %s TEXT'.\n", short(g.ID))
		return nil
	}
	fmt.Fprintln(w, "\nSteps")
	t := newTable(w)
	for _, s := range g.Steps {
		box, who := "[ ]", "added by "+s.AddedBy.Name
		if s.Done {
			box = "[x]"
			if s.DoneBy != nil {
				who = "done by " + s.DoneBy.Name + ", " + relTime(now, s.DoneAt)
			}
		}
		fmt.Fprintf(t, "  %s\t%s\t%s\t%s\n", box, short(s.ID), oneLine(s.Text), who)
	}
	return t.Flush()
}

// GoalEditOptions are the inputs of 'trustsync goal edit'.
type GoalEditOptions struct {
	Factory  *Factory
	ID       string
	Title    string
	Why      string
	SetTitle bool
	SetWhy   bool
}

// NewCmdGoalEdit returns 'trustsync goal edit'.
func NewCmdGoalEdit(f *Factory, runF func(*GoalEditOptions) error) *cobra.Command {
	opts := &GoalEditOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "edit ID [--title TEXT] [--why TEXT]",
		Short: "Change a goal's title or why",
		Long: heredoc(`
			Change a goal's title, its why, or both. The earlier words stay in
			the history.
		`),
		Example: examples(`
			$ trustsync goal edit 3mzk8x2q --title "Talk for twenty minutes every evening"
			$ trustsync goal edit 3mzk8x2q --why "I feel closer to you after we talk"
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			opts.SetTitle = cmd.Flags().Changed("title")
			opts.SetWhy = cmd.Flags().Changed("why")
			if !opts.SetTitle && !opts.SetWhy {
				return usageErrorf("nothing to change: give --title, --why or both")
			}
			if runF != nil {
				return runF(opts)
			}
			return goalEditRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Title, "title", "", "the new title, as `TEXT`")
	cmd.Flags().StringVar(&opts.Why, "why", "", "the new why, as `TEXT` (\"\" clears it)")
	return cmd
}

func goalEditRun(ctx context.Context, opts *GoalEditOptions) error {
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	var e crdt.GoalEdit
	if opts.SetTitle {
		title := strings.TrimSpace(opts.Title)
		if title == "" {
			return failf("the new title is empty: to set a goal aside, use 'trustsync goal archive %s'", opts.ID)
		}
		e.Title = &title
	}
	if opts.SetWhy {
		why := strings.TrimSpace(opts.Why)
		e.Why = &why
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	if err := sp.EditGoal(ctx, opts.ID, e); err != nil {
		return lookupError(err, "goal", opts.ID, goalListAll)
	}
	fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "Changed.")
	return nil
}

// GoalArchiveOptions are the inputs of 'trustsync goal archive' and
// 'trustsync goal restore'.
type GoalArchiveOptions struct {
	Factory *Factory
	ID      string
	Restore bool
}

// NewCmdGoalArchive returns 'trustsync goal archive'.
func NewCmdGoalArchive(f *Factory, runF func(*GoalArchiveOptions) error) *cobra.Command {
	return newGoalArchiveCmd(f, runF, false)
}

// NewCmdGoalRestore returns 'trustsync goal restore'.
func NewCmdGoalRestore(f *Factory, runF func(*GoalArchiveOptions) error) *cobra.Command {
	return newGoalArchiveCmd(f, runF, true)
}

func newGoalArchiveCmd(f *Factory, runF func(*GoalArchiveOptions) error, restore bool) *cobra.Command {
	opts := &GoalArchiveOptions{Factory: f, Restore: restore}
	cmd := &cobra.Command{
		Use:   "archive ID",
		Short: "Set a goal aside (it is kept, and can be restored)",
		Long: heredoc(`
			Set a goal aside when it no longer fits. Nothing is deleted: it stays
			in 'goal list --all', in the history and in exports, and
			'trustsync goal restore ID' brings it back.
		`),
		Example: examples(`
			$ trustsync goal archive 3mzk8x2q
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return goalArchiveRun(cmd.Context(), opts)
		},
	}
	if restore {
		cmd.Use = "restore ID"
		cmd.Short = "Bring back an archived goal"
		cmd.Long = "Bring an archived goal back to the list, with its steps as they were."
		cmd.Example = heredoc(`
			$ trustsync goal list --all
			$ trustsync goal restore 3mzk8x2q
		`)
	}
	return cmd
}

func goalArchiveRun(ctx context.Context, opts *GoalArchiveOptions) error {
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	op, msg := sp.ArchiveGoal, "Archived. It is kept, and 'trustsync goal restore "+opts.ID+"' brings it back."
	if opts.Restore {
		op, msg = sp.RestoreGoal, "Restored."
	}
	// Archiving twice, or restoring what is not archived, changes nothing
	// and says so rather than claiming it did.
	if g, err := sp.Goal(ctx, opts.ID); err == nil && g.Archived != opts.Restore {
		if opts.Restore {
			fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "It is not archived: nothing to restore.")
		} else {
			fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "Already archived. 'trustsync goal restore "+opts.ID+"' brings it back.")
		}
		return nil
	}
	if err := op(ctx, opts.ID); err != nil {
		return lookupError(err, "goal", opts.ID, goalListAll)
	}
	fmt.Fprintln(opts.Factory.IOStreams.ErrOut, msg)
	return nil
}
