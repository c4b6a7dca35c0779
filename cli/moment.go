package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync"
)

// NewCmdMoment returns 'trustsync moment' and its subcommands.
func NewCmdMoment(f *Factory) *cobra.Command {
	cmd := newGroupCmd("moment <command>",
		"Keep a light log of good moments and thanks",
		heredoc(`
			Trust grows back in ordinary good moments too: a walk, a laugh, a
			kindness noticed. Note them here, and say thank you (--thanks), so
			that the two of you can look back on them.
		`),
		heredoc(`
			$ trustsync moment add "Pancakes and no phones on Saturday morning"
			$ trustsync moment add --thanks "Thank you for picking me up in the rain"
			$ trustsync moment list
		`))
	cmd.AddCommand(NewCmdMomentAdd(f, nil), NewCmdMomentList(f, nil))
	return cmd
}

// MomentAddOptions are the inputs of 'trustsync moment add'.
type MomentAddOptions struct {
	Factory *Factory
	Text    string
	Thanks  bool
}

// NewCmdMomentAdd returns 'trustsync moment add'.
func NewCmdMomentAdd(f *Factory, runF func(*MomentAddOptions) error) *cobra.Command {
	opts := &MomentAddOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "add TEXT [--thanks]",
		Short: "Note a good moment, or a thank-you; prints its ID",
		Long: heredoc(`
			Note a good moment you shared, or with --thanks, something you
			thank your partner for.

			Prints the new moment's ID on standard output.
		`),
		Example: examples(`
			$ trustsync moment add "We laughed about the burnt pie"
			$ trustsync moment add --thanks "Thank you for telling me about the call straight away"
		`),
		Args: exactArgs("TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Text = args[0]
			if runF != nil {
				return runF(opts)
			}
			return momentAddRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Thanks, "thanks", "t", false, "it is a thank-you to your partner")
	return cmd
}

func momentAddRun(ctx context.Context, opts *MomentAddOptions) error {
	if strings.TrimSpace(opts.Text) == "" {
		return failf("the moment is empty: write a few words about it")
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	id, err := sp.AddMoment(ctx, opts.Text, opts.Thanks)
	if err != nil {
		return err
	}
	fmt.Fprintln(opts.Factory.IOStreams.Out, id)
	fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "Kept.")
	return nil
}

// MomentListOptions are the inputs of 'trustsync moment list'.
type MomentListOptions struct {
	Factory *Factory
	JSON    bool
}

// NewCmdMomentList returns 'trustsync moment list'.
func NewCmdMomentList(f *Factory, runF func(*MomentListOptions) error) *cobra.Command {
	opts := &MomentListOptions{Factory: f}
	cmd := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "List good moments and thanks, newest first",
		Long: heredoc(`
			List the good moments and thanks of both of you, newest first.

			--json prints an array of objects with the fields id, text, thanks,
			by and at.
		`),
		Example: examples(`
			$ trustsync moment list
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return momentListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array")
	return cmd
}

func momentListRun(ctx context.Context, opts *MomentListOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	ms, err := sp.Moments(ctx)
	if err != nil {
		return err
	}
	if opts.JSON {
		out := []momentJSON{}
		for _, m := range ms {
			out = append(out, momentView(m))
		}
		return writeJSON(f.IOStreams.Out, out)
	}
	if len(ms) == 0 {
		fmt.Fprintln(f.IOStreams.ErrOut, "No moments yet. Note one with 'trustsync moment add TEXT'.")
		return nil
	}
	now := f.Now()
	t := newTable(f.IOStreams.Out)
	fmt.Fprintln(t, "WHEN\tWHO\tMOMENT")
	for _, m := range ms {
		text := oneLine(m.Text)
		if m.Thanks {
			text = "thanks: " + text
		}
		fmt.Fprintf(t, "%s\t%s\t%s\n", relTime(now, m.At), m.By.Name, text)
	}
	return t.Flush()
}

type momentJSON struct {
	ID     string `json:"id"`
	Text   string `json:"text"`
	Thanks bool   `json:"thanks"`
	By     string `json:"by"`
	At     string `json:"at"`
}

func momentView(m trustsync.Moment) momentJSON {
	return momentJSON{ID: m.ID, Text: m.Text, Thanks: m.Thanks, By: m.By.Name, At: jsonTime(m.At)}
}
