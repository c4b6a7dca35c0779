package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	tsync "github.com/trustsync/trustsync/sync"
)

// DevicesOptions are the inputs of 'trustsync devices'.
type DevicesOptions struct {
	Factory *Factory
	JSON    bool
}

// NewCmdDevices returns 'trustsync devices'.
func NewCmdDevices(f *Factory, runF func(*DevicesOptions) error) *cobra.Command {
	opts := &DevicesOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "devices [--json]",
		Short: "List your devices and your partner's",
		Long: heredoc(`
			List every device of the two of you -- the same list on every device,
			the unpaired ones too -- with whose it is, when this device last had a
			connection with it (last seen) and when the two last held the same
			changes (last sync). Those times are this device's own record of its
			syncs. ID (id in --json) is what 'trustsync unpair' takes besides
			the device's name: give it for two devices of one name.

			--json also gives last_known_addrs: the network addresses this device
			last knew each other device at, to reach it again, and when it learned
			them (addrs_learned_at). They are learned while the two are connected
			(or passed on by another of your devices), kept on this device only,
			never shared, and each replaces the last: no history of them is kept.
			Nothing else about anyone's devices is tracked.

			devices reads only this device's data; it does not go online.
		`),
		Example: examples(`
			$ trustsync devices
			$ trustsync devices --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return devicesRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON array")
	return cmd
}

type devicesJSON struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Whose  string `json:"whose"`
	This   bool   `json:"this_device"`
	PeerID string `json:"peer_id,omitempty"`
	// LastKnownAddrs are the addresses this device last knew the device
	// at (crdt.KnownAddrs), kept on this device only.
	LastKnownAddrs []string `json:"last_known_addrs"`
	AddrsLearnedAt *string  `json:"addrs_learned_at"`
	AddedAt        string   `json:"added_at"`
	Removed        bool     `json:"removed"`
	RemovedAt      *string  `json:"removed_at"`
	LastSeen       *string  `json:"last_seen"`
	LastSynced     *string  `json:"last_sync"`
}

func devicesRun(ctx context.Context, opts *DevicesOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	st, err := f.Store(ctx)
	if err != nil {
		return err
	}
	devs, err := tsync.Devices(ctx, sp, st)
	if err != nil {
		return err
	}
	// 'sync' and 'serve' keep their own record of the last sync too.
	for i, d := range devs {
		if at, ok, err := f.loadLastSync(ctx, d.ID); err == nil && ok && at.After(d.LastSynced) {
			devs[i].LastSynced = at
		}
	}
	if opts.JSON {
		out := []devicesJSON{}
		for _, d := range devs {
			v := devicesJSON{ID: d.ID, Name: d.Name, Whose: d.Owner.Name, This: d.This, PeerID: d.PeerID,
				LastKnownAddrs: []string{}, AddedAt: jsonTime(d.AddedAt), Removed: d.Removed}
			if !d.This {
				k, err := sp.KnownAddrs(ctx, d.ID)
				if err != nil {
					return err
				}
				v.LastKnownAddrs = nonNil(k.All())
				v.AddrsLearnedAt = optTime(k.At)
			}
			v.RemovedAt = optTime(d.RemovedAt)
			v.LastSeen = optTime(d.LastSeen)
			v.LastSynced = optTime(d.LastSynced)
			out = append(out, v)
		}
		return writeJSON(f.IOStreams.Out, out)
	}
	now := f.Now()
	t := newTable(f.IOStreams.Out)
	fmt.Fprintln(t, "DEVICE\tWHOSE\tSTATUS\tLAST SEEN\tLAST SYNC\tID")
	for _, d := range devs {
		status, seen, synced := "paired", "never", "never"
		switch {
		case d.This:
			status, seen, synced = "this device", "-", "-"
		case d.Removed:
			status = "unpaired " + relTime(now, d.RemovedAt)
		}
		if !d.This {
			if !d.LastSeen.IsZero() {
				seen = relTime(now, d.LastSeen)
			}
			if !d.LastSynced.IsZero() {
				synced = relTime(now, d.LastSynced)
			}
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.Owner.Name, status, seen, synced, short(d.ID))
	}
	return t.Flush()
}

// optTime is a JSON time, or null for the zero time.
func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := jsonTime(t)
	return &s
}
