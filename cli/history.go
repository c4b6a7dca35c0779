package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/showtext"
)

// HistoryOptions are the inputs of 'trustsync history'.
type HistoryOptions struct {
	Factory *Factory
	JSON    bool
	Limit   int
}

// NewCmdHistory returns 'trustsync history'.
func NewCmdHistory(f *Factory, runF func(*HistoryOptions) error) *cobra.Command {
	opts := &HistoryOptions{Factory: f}
	cmd := &cobra.Command{
		Use:     "history [--json] [--limit N]",
		Aliases: []string{"log"},
		Short:   "Show who changed what, when, and on which device",
		Long: heredoc(`
			Show every change to what you share, newest first: who made it, when,
			on which device, and what it was. Changes that came from your
			partner's devices appear exactly like your own. Both of you see the
			same history.

			--json prints an array of objects with the fields hash, at, by,
			device, device_id, doc, kind, item, action and summary.
		`),
		Example: examples(`
			$ trustsync history
			$ trustsync history --limit 10 --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Limit < 0 {
				return usageErrorf("--limit must be 0 (everything) or more, got %d", opts.Limit)
			}
			if runF != nil {
				return runF(opts)
			}
			return historyRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array")
	cmd.Flags().IntVarP(&opts.Limit, "limit", "n", 0, "show at most `N` changes, the newest (0: all)")
	return cmd
}

func historyRun(ctx context.Context, opts *HistoryOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	hist, err := sp.History(ctx, crdt.HistoryOptions{Limit: opts.Limit})
	if err != nil {
		return err
	}
	r, err := loadRoster(ctx, sp)
	if err != nil {
		return err
	}
	if opts.JSON {
		out := []changeJSON{}
		for _, h := range hist {
			out = append(out, r.changeJSON(h))
		}
		return writeJSON(f.IOStreams.Out, out)
	}
	if len(hist) == 0 {
		fmt.Fprintln(f.IOStreams.ErrOut, "Nothing has changed yet.")
		return nil
	}
	return writeHistory(f.IOStreams.Out, r, f.Now(), hist, "")
}

// writeHistory prints changes as an aligned table, after heading when there
// is any change.
func writeHistory(w io.Writer, r *roster, now time.Time, hist []trustsync.Change, heading string) error {
	if len(hist) == 0 {
		return nil
	}
	fmt.Fprint(w, heading)
	t := newTable(w)
	fmt.Fprintln(t, "WHEN\tWHO\tDEVICE\tWHAT")
	for _, h := range hist {
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", relTime(now, h.At), h.By.Name, historyDevice(r, h), showtext.ChangeWords(h))
	}
	return t.Flush()
}

// historyDevice names the device of a change, followed by the start of its
// ID when another device of the space has the same name (every device is
// named after its host unless told otherwise): "vm (3f2a91c0)", the ID
// prefix that also names the device in commands such as 'unpair'.
func historyDevice(r *roster, h trustsync.Change) string {
	name := r.deviceName(h.Device)
	if h.DeviceID == "" {
		return name
	}
	if d, ok := r.device(h.DeviceID); ok && d.Name != "" {
		name = d.Name
	}
	for _, m := range r.members {
		for _, d := range m.Devices {
			if d.ID != h.DeviceID && d.Name == name {
				return fmt.Sprintf("%s (%s)", name, short(h.DeviceID))
			}
		}
	}
	return name
}

// kindWord names an item kind as a person would in a history line
// (showtext.KindWord).
func kindWord(kind string) string { return showtext.KindWord(kind) }
