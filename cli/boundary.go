package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

const boundaryListAll = "trustsync boundary list --all"

// NewCmdBoundary returns 'trustsync boundary' and its subcommands.
func NewCmdBoundary(f *Factory) *cobra.Command {
	cmd := newGroupCmd("boundary <command>",
		"Propose, agree on and look after your boundaries",
		heredoc(`
			A boundary is a limit or an expectation the two of you set together:
			what helps each of you feel safe while trust grows back. Either of
			you can propose one. It counts as agreed only when both of you have
			agreed to its current words; changing the words asks both of you
			again. Boundaries are archived, never deleted.
		`),
		heredoc(`
			$ trustsync boundary add "I tell you the same day when my ex contacts me"
			$ trustsync boundary list
			$ trustsync boundary agree 7hq2kd4m
		`))
	cmd.AddCommand(
		NewCmdBoundaryAdd(f, nil),
		NewCmdBoundaryList(f, nil),
		NewCmdBoundaryShow(f, nil),
		NewCmdBoundaryEdit(f, nil),
		NewCmdBoundaryAgree(f, nil),
		NewCmdBoundaryArchive(f, nil),
		NewCmdBoundaryRestore(f, nil),
	)
	return cmd
}

// BoundaryAddOptions are the inputs of 'trustsync boundary add'.
type BoundaryAddOptions struct {
	Factory *Factory
	Text    string
}

// NewCmdBoundaryAdd returns 'trustsync boundary add'.
func NewCmdBoundaryAdd(f *Factory, runF func(*BoundaryAddOptions) error) *cobra.Command {
	opts := &BoundaryAddOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "add TEXT",
		Short: "Propose a boundary; prints its ID",
		Long: heredoc(`
			Propose a boundary in your own words. It is not agreed yet, not even
			by you: run 'trustsync boundary agree ID' when you are both ready.
			Saying what you will do, or what you need ("I will...", "I need..."),
			tends to be easier to hear than a rule about the other person.

			Prints the new boundary's ID on standard output.
		`),
		Example: examples(`
			$ trustsync boundary add "I will answer honestly when you ask where I was"
			$ id=$(trustsync boundary add "I need us to keep our phones unlocked at home")
		`),
		Args: exactArgs("TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Text = args[0]
			if runF != nil {
				return runF(opts)
			}
			return boundaryAddRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func boundaryAddRun(ctx context.Context, opts *BoundaryAddOptions) error {
	if strings.TrimSpace(opts.Text) == "" {
		return failf("the boundary is empty: write what you would like the two of you to agree on")
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	id, err := sp.AddBoundary(ctx, strings.TrimSpace(opts.Text))
	if err != nil {
		return err
	}
	fmt.Fprintln(opts.Factory.IOStreams.Out, id)
	fmt.Fprintf(opts.Factory.IOStreams.ErrOut, "Proposed. When you both feel ready, agree to it with 'trustsync boundary agree %s'.\n", short(id))
	return nil
}

// BoundaryListOptions are the inputs of 'trustsync boundary list'.
type BoundaryListOptions struct {
	Factory *Factory
	All     bool
	JSON    bool
}

// NewCmdBoundaryList returns 'trustsync boundary list'.
func NewCmdBoundaryList(f *Factory, runF func(*BoundaryListOptions) error) *cobra.Command {
	opts := &BoundaryListOptions{Factory: f}
	cmd := &cobra.Command{
		Use:     "list [--all] [--json]",
		Aliases: []string{"ls"},
		Short:   "List boundaries, with who has agreed and who has not yet",
		Long: heredoc(`
			List the boundaries, oldest first, with who has agreed to the current
			words and who has not yet. Archived boundaries are shown with --all.

			--json prints an array of objects with the fields id, text,
			proposed_by, proposed_at, updated_at, agreed_by, waiting_for, agreed,
			archived and agreements.
		`),
		Example: examples(`
			$ trustsync boundary list
			$ trustsync boundary list --all --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return boundaryListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.All, "all", "a", false, "include archived boundaries")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array")
	return cmd
}

func boundaryListRun(ctx context.Context, opts *BoundaryListOptions) (err error) {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	bs, err := sp.Boundaries(ctx, crdt.ListOptions{All: opts.All})
	// A damaged row that could not be rewritten from its document: the
	// others are listed, then the damaged one is named on standard error.
	var damaged error
	if err != nil {
		if bs == nil || !errors.Is(err, trustsync.ErrDamaged) {
			return err
		}
		damaged = err
	}
	r, err := loadRoster(ctx, sp)
	if err != nil {
		return err
	}
	if opts.JSON {
		out := []boundaryJSON{}
		for _, b := range bs {
			out = append(out, r.boundaryJSON(b))
		}
		if err := writeJSON(f.IOStreams.Out, out); err != nil {
			return err
		}
		return damaged
	}
	if damaged != nil {
		defer func() {
			if err == nil {
				err = damaged
			}
		}()
	}
	if len(bs) == 0 && damaged == nil {
		if all, aerr := sp.Boundaries(ctx, crdt.ListOptions{All: true}); aerr == nil && len(all) > 0 && !opts.All {
			fmt.Fprintf(f.IOStreams.ErrOut, "No boundaries in use: %s archived ('trustsync boundary list --all' shows %s).\n",
				countWord(len(all), "boundary is", "boundaries are"), itOrThem(len(all)))
			return nil
		}
		fmt.Fprintln(f.IOStreams.ErrOut, "No boundaries yet. Propose one with 'trustsync boundary add TEXT'.")
		return nil
	}
	c := palette{f.IOStreams.Color}
	t := newTable(f.IOStreams.Out)
	fmt.Fprintf(t, "ID\t%s\tBOUNDARY\n", c.plain("STATUS"))
	for _, b := range bs {
		status := r.agreement(b).status()
		colored := c.yellow(status)
		if b.Agreed {
			colored = c.green(status)
		}
		if b.Archived {
			colored = c.grey("archived; " + status)
		}
		fmt.Fprintf(t, "%s\t%s\t%s\n", short(b.ID), colored, oneLine(b.Text))
	}
	return t.Flush()
}

// BoundaryShowOptions are the inputs of 'trustsync boundary show'.
type BoundaryShowOptions struct {
	Factory *Factory
	ID      string
	JSON    bool
}

// NewCmdBoundaryShow returns 'trustsync boundary show'.
func NewCmdBoundaryShow(f *Factory, runF func(*BoundaryShowOptions) error) *cobra.Command {
	opts := &BoundaryShowOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show one boundary with its history",
		Long: heredoc(`
			Show one boundary: its words, who proposed it, who has agreed to the
			current words and who has not yet, and every change made to it, by
			whom, when and on which device.

			--json prints one object with the fields of 'boundary list --json'
			and a history array.
		`),
		Example: examples(`
			$ trustsync boundary show 7hq2kd4m
			$ trustsync boundary show 7hq2kd --json
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return boundaryShowRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object")
	return cmd
}

func boundaryShowRun(ctx context.Context, opts *BoundaryShowOptions) error {
	f := opts.Factory
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	b, err := sp.Boundary(ctx, opts.ID)
	if err != nil {
		return lookupError(err, "boundary", opts.ID, boundaryListAll)
	}
	hist, err := sp.History(ctx, crdt.HistoryOptions{Item: b.ID})
	if err != nil {
		return err
	}
	r, err := loadRoster(ctx, sp)
	if err != nil {
		return err
	}
	if opts.JSON {
		v := r.boundaryJSON(b)
		v.History = []changeJSON{}
		for _, h := range hist {
			v.History = append(v.History, r.changeJSON(h))
		}
		return writeJSON(f.IOStreams.Out, v)
	}
	w := f.IOStreams.Out
	c := palette{f.IOStreams.Color}
	now := f.Now()
	a := r.agreement(b)
	fmt.Fprintf(w, "%s %s\n\n", c.bold("Boundary"), b.ID)
	fmt.Fprintf(w, "%s\n\n", indent(b.Text, "    "))
	t := newTable(w)
	fmt.Fprintf(t, "Proposed by:\t%s, %s\n", b.ProposedBy.Name, relTime(now, b.ProposedAt))
	if !b.UpdatedAt.IsZero() && !b.UpdatedAt.Equal(b.ProposedAt) {
		fmt.Fprintf(t, "Last changed:\t%s\n", relTime(now, b.UpdatedAt))
	}
	agreed := "nobody yet"
	var parts []string
	for _, ag := range b.Agreements {
		if ag.Current {
			parts = append(parts, fmt.Sprintf("%s (%s)", ag.By.Name, relTime(now, ag.At)))
		}
	}
	if len(parts) > 0 {
		agreed = joinNames(parts)
	}
	fmt.Fprintf(t, "Agreed by:\t%s\n", agreed)
	waiting := append([]string(nil), a.youWaiting...)
	if !a.partnerYet {
		waiting = append(waiting, "your partner (not paired yet)")
	}
	if len(waiting) > 0 {
		fmt.Fprintf(t, "Not yet:\t%s\n", joinNames(waiting))
	}
	for _, ag := range b.Agreements {
		if !ag.Current {
			fmt.Fprintf(t, "Earlier:\t%s agreed to earlier words, %s\n", ag.By.Name, relTime(now, ag.At))
		}
	}
	status := c.yellow("not agreed yet")
	if b.Agreed {
		status = c.green("agreed by both of you")
	}
	if b.Archived {
		status += c.grey(" (archived)")
	}
	fmt.Fprintf(t, "Status:\t%s\n", status)
	if err := t.Flush(); err != nil {
		return err
	}
	if err := writeSetbacksOf(ctx, w, sp, now, b.ID); err != nil {
		return err
	}
	return writeHistory(w, r, now, hist, "\nHistory\n")
}

// BoundaryEditOptions are the inputs of 'trustsync boundary edit'.
type BoundaryEditOptions struct {
	Factory *Factory
	ID      string
	Text    string
}

// NewCmdBoundaryEdit returns 'trustsync boundary edit'.
func NewCmdBoundaryEdit(f *Factory, runF func(*BoundaryEditOptions) error) *cobra.Command {
	opts := &BoundaryEditOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "edit ID TEXT",
		Short: "Change a boundary's words (both of you agree again)",
		Long: heredoc(`
			Replace the words of a boundary. Agreement is about the exact words,
			so after an edit both of you need to agree again. The earlier words
			stay in the history.
		`),
		Example: examples(`
			$ trustsync boundary edit 7hq2kd4m "I tell you within a day when my ex contacts me"
		`),
		Args: exactArgs("ID", "TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID, opts.Text = args[0], args[1]
			if runF != nil {
				return runF(opts)
			}
			return boundaryEditRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func boundaryEditRun(ctx context.Context, opts *BoundaryEditOptions) error {
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	if strings.TrimSpace(opts.Text) == "" {
		return failf("the new words are empty: to set a boundary aside, use 'trustsync boundary archive %s'", opts.ID)
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	if err := sp.EditBoundary(ctx, opts.ID, strings.TrimSpace(opts.Text)); err != nil {
		return lookupError(err, "boundary", opts.ID, boundaryListAll)
	}
	fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "Changed. Since the words are new, both of you are asked to agree again.")
	return nil
}

// BoundaryAgreeOptions are the inputs of 'trustsync boundary agree'.
type BoundaryAgreeOptions struct {
	Factory *Factory
	ID      string
	// Text, when TextGiven, is the exact wording agreed to: the agreement
	// is refused if the boundary reads otherwise.
	Text      string
	TextGiven bool
}

// NewCmdBoundaryAgree returns 'trustsync boundary agree'.
func NewCmdBoundaryAgree(f *Factory, runF func(*BoundaryAgreeOptions) error) *cobra.Command {
	opts := &BoundaryAgreeOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "agree ID [--text TEXT]",
		Short: "Record that you agree to a boundary's current words",
		Long: heredoc(`
			Record that you agree to the boundary as it reads now. Agree only to
			what you can honestly keep: it is fine to talk it over and edit the
			words first. If the words change later, you will be asked again.

			The agreement is bound to the words you saw. On a terminal the
			command shows them and asks before agreeing; with --text it agrees
			only if the boundary reads exactly TEXT. If the words changed in the
			meantime (your partner's edit arrived), nothing is agreed: the
			command shows the new words, to read and agree to again. Elsewhere,
			without --text, it agrees to the current words. Unless it asked,
			it prints the words agreed to.
		`),
		Example: examples(`
			$ trustsync boundary agree 7hq2kd4m
			$ trustsync boundary agree 7hq2kd4m --text 'We talk before big purchases'
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			opts.TextGiven = cmd.Flags().Changed("text")
			if runF != nil {
				return runF(opts)
			}
			return boundaryAgreeRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Text, "text", "", "agree only if the boundary reads exactly `TEXT`")
	return cmd
}

func boundaryAgreeRun(ctx context.Context, opts *BoundaryAgreeOptions) error {
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	b, err := sp.Boundary(ctx, opts.ID)
	if err != nil {
		return lookupError(err, "boundary", opts.ID, boundaryListAll)
	}
	w := f.IOStreams.ErrOut
	seen := b.Text
	switch {
	case opts.TextGiven:
		seen = opts.Text
	case f.IOStreams.StdinTTY:
		fmt.Fprintf(w, "Boundary %s reads:\n\n%s\n\n", short(b.ID), indent(b.Text, "    "))
		if !askYes(f, "Agree to these words? [y/N] ") {
			fmt.Fprintln(w, "Nothing was agreed.")
			return nil
		}
	}
	if err := sp.AgreeBoundaryText(ctx, b.ID, seen); err != nil {
		return agreeError(err, "boundary agree "+short(b.ID), opts.ID)
	}
	if b, err = sp.Boundary(ctx, b.ID); err != nil {
		return lookupError(err, "boundary", opts.ID, boundaryListAll)
	}
	r, err := loadRoster(ctx, sp)
	if err != nil {
		return err
	}
	if opts.TextGiven || !f.IOStreams.StdinTTY { // not shown by the question
		fmt.Fprintf(w, "You agreed to these words:\n%s\n", indent(seen, "    "))
	}
	if b.Agreed {
		fmt.Fprintln(w, "You agreed. You both agree to this boundary now.")
		return nil
	}
	fmt.Fprintf(w, "You agreed. Status: %s.\n", r.agreement(b).status())
	return nil
}

// askYes asks a yes/no question on the terminal; only y or yes is a yes.
func askYes(f *Factory, question string) bool {
	fmt.Fprint(f.IOStreams.ErrOut, question)
	line, _ := bufio.NewReader(f.IOStreams.In).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}

// agreeError explains a refused agreement: when the words changed since
// they were shown (or differ from --text), one line with the new words and
// what to do; again names the command to run after reading them.
func agreeError(err error, again, id string) error {
	var tc *crdt.TextChangedError
	if errors.As(err, &tc) {
		return &userError{
			msg: fmt.Sprintf("nothing was agreed: the %s now reads %q, not the words you agreed to; read them and agree again ('trustsync %s')",
				tc.Kind, tc.Current, again),
			err: err,
		}
	}
	if id != "" {
		return lookupError(err, "boundary", id, boundaryListAll)
	}
	return err
}

// BoundaryArchiveOptions are the inputs of 'trustsync boundary archive' and
// 'trustsync boundary restore'.
type BoundaryArchiveOptions struct {
	Factory *Factory
	ID      string
	Restore bool
}

// NewCmdBoundaryArchive returns 'trustsync boundary archive'.
func NewCmdBoundaryArchive(f *Factory, runF func(*BoundaryArchiveOptions) error) *cobra.Command {
	opts := &BoundaryArchiveOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "archive ID",
		Short: "Set a boundary aside (it is kept, and can be restored)",
		Long: heredoc(`
			Set a boundary aside when it no longer fits. Nothing is deleted: it
			stays in 'boundary list --all', in the history and in exports, and
			'trustsync boundary restore ID' brings it back.
		`),
		Example: examples(`
			$ trustsync boundary archive 7hq2kd4m
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return boundaryArchiveRun(cmd.Context(), opts)
		},
	}
	return cmd
}

// NewCmdBoundaryRestore returns 'trustsync boundary restore'.
func NewCmdBoundaryRestore(f *Factory, runF func(*BoundaryArchiveOptions) error) *cobra.Command {
	opts := &BoundaryArchiveOptions{Factory: f, Restore: true}
	cmd := &cobra.Command{
		Use:   "restore ID",
		Short: "Bring back an archived boundary",
		Long: heredoc(`
			Bring an archived boundary back to the list, with its words and
			agreements as they were.
		`),
		Example: examples(`
			$ trustsync boundary list --all
			$ trustsync boundary restore 7hq2kd4m
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return boundaryArchiveRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func boundaryArchiveRun(ctx context.Context, opts *BoundaryArchiveOptions) error {
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	op, msg := sp.ArchiveBoundary, "Archived. It is kept, and 'trustsync boundary restore "+opts.ID+"' brings it back."
	if opts.Restore {
		op, msg = sp.RestoreBoundary, "Restored."
	}
	// Archiving twice, or restoring what is not archived, changes nothing
	// and says so rather than claiming it did.
	if b, err := sp.Boundary(ctx, opts.ID); err == nil && b.Archived != opts.Restore {
		if opts.Restore {
			fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "It is not archived: nothing to restore.")
		} else {
			fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "Already archived. 'trustsync boundary restore "+opts.ID+"' brings it back.")
		}
		return nil
	}
	if err := op(ctx, opts.ID); err != nil {
		return lookupError(err, "boundary", opts.ID, boundaryListAll)
	}
	fmt.Fprintln(opts.Factory.IOStreams.ErrOut, msg)
	return nil
}
