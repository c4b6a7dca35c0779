package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustsync/trustsync"
	tsync "github.com/trustsync/trustsync/sync"
)

// UnpairOptions are the inputs of 'trustsync unpair'.
type UnpairOptions struct {
	Factory *Factory
	// Device names the device to unpair (its name or an ID prefix); empty
	// unpairs every device of the partner.
	Device string
	// Timeout bounds telling the unpaired devices.
	Timeout time.Duration
}

// NewCmdUnpair returns 'trustsync unpair'.
func NewCmdUnpair(f *Factory, runF func(*UnpairOptions) error) *cobra.Command {
	opts := &UnpairOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "unpair [DEVICE] [--timeout DUR]",
		Short: "Stop syncing with your partner's devices, or with one device",
		Long: heredoc(`
			Stop syncing with a device, from this side alone and at once. Without
			DEVICE, unpair every device of your partner, and any device in your
			own name that was not added through one of your own devices (one
			your partner's program made); with it (a device name or ID from
			'trustsync devices'), only that one -- a lost phone of yours, say.

			From that moment this device sends nothing more to the unpaired ones
			and refuses their connections. The unpairing is recorded in the shared
			history, which your other devices and your partner's history both
			show. An unpaired device that can be reached is told at once, and
			stops syncing with you in turn; one that cannot be reached is refused
			whenever it tries.

			You both keep your copies of everything shared so far, and 'trustsync
			export' keeps working on each side. Nothing can wipe the copies on
			the other devices.
		`),
		Example: examples(`
			$ trustsync unpair
			$ trustsync unpair sam-old-phone
		`),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("unexpected argument %q: give at most one device", args[1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Device = args[0]
			}
			if opts.Timeout <= 0 {
				return usageErrorf("--timeout must be more than 0, as in 10s")
			}
			if runF != nil {
				return runF(opts)
			}
			return unpairRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 10*time.Second, "how long to try telling the unpaired devices (`DUR`)")
	return cmd
}

func unpairRun(ctx context.Context, opts *UnpairOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	members, err := sp.Members(ctx)
	if err != nil {
		return err
	}
	self := sp.Self()
	var ids []string
	if opts.Device != "" {
		id, err := findDeviceArg(members, opts.Device)
		if err != nil {
			return err
		}
		ids = []string{id}
	}
	targets, err := tsync.ResolveUnpair(ctx, sp, ids)
	if err != nil {
		if len(ids) == 0 {
			return failf("no device of a partner is paired with this one: see 'trustsync devices'")
		}
		return err
	}
	ids = ids[:0]
	for _, d := range targets {
		ids = append(ids, d.ID)
	}
	// First, and offline: from here this device trusts them no more.
	if err := sp.RemoveDevices(ctx, ids, ""); err != nil {
		return err
	}
	w, e := f.IOStreams.Out, f.IOStreams.ErrOut
	for _, d := range targets {
		if d.Owner.ID == self.MemberID && opts.Device == "" {
			fmt.Fprintf(w, "unpaired %s (%s: in your name, but not added through one of your own devices)\n", d.Name, d.Owner.Name)
			continue
		}
		fmt.Fprintf(w, "unpaired %s (%s)\n", d.Name, d.Owner.Name)
	}

	// Then tell them, when they can be reached.
	// Those not told now are told by this device's next 'serve'.
	var untold []string
	n, err := f.StartNode(ctx, NodeOptions{})
	if err != nil {
		fmt.Fprintf(e, "Could not go online to tell them (%s). A running 'trustsync serve' stops syncing with them at once and tells them; they are refused whenever they try.\n", oneLine(err.Error()))
		untold = ids
	} else {
		tctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		told := n.TellRemoved(tctx, targets)
		cancel()
		n.Close()
		for _, d := range targets {
			if containsDevice(told, d.ID) {
				fmt.Fprintf(e, "Told %q; it stops syncing with you too.\n", d.Name)
			} else {
				untold = append(untold, d.ID)
				fmt.Fprintf(e, "Could not reach %q; it is refused whenever it tries to sync, and this device's 'trustsync serve' tells it once it can.\n", d.Name)
			}
		}
	}
	if len(untold) > 0 {
		st, err := f.Store(ctx)
		if err == nil {
			err = updateFarewells(context.WithoutCancel(ctx), st, untold, nil)
		}
		if err != nil {
			return fmt.Errorf("remember to tell the unpaired devices: %w", err)
		}
	}
	fmt.Fprintln(e, "You both keep your copies of what you shared, and 'trustsync export' still works. The copies on the other devices cannot be wiped from here.")
	return nil
}

func containsDevice(ds []trustsync.Device, id string) bool {
	for _, d := range ds {
		if d.ID == id {
			return true
		}
	}
	return false
}

// findDeviceArg finds a current device by name (ignoring
// case) or by a prefix of its ID of at least trustsync.MinIDPrefix
// characters.
func findDeviceArg(members []trustsync.Member, arg string) (string, error) {
	arg = strings.TrimSpace(arg)
	var byName, byID []trustsync.Device
	for _, m := range members {
		for _, d := range m.Devices {
			if strings.EqualFold(d.Name, arg) {
				byName = append(byName, d)
			}
			if len(arg) >= trustsync.MinIDPrefix && strings.HasPrefix(d.ID, strings.ToLower(arg)) {
				byID = append(byID, d)
			}
		}
	}
	for _, set := range [][]trustsync.Device{byName, byID} {
		var current []trustsync.Device
		for _, d := range set {
			if !d.Removed {
				current = append(current, d)
			}
		}
		switch {
		case len(current) == 1:
			return current[0].ID, nil
		case len(current) > 1:
			return "", failf("%q could mean %d devices: give its ID instead, from the ID column of 'trustsync devices'", arg, len(current))
		case len(set) > 0:
			return "", failf("%q is already unpaired", set[0].Name)
		}
	}
	return "", failf("no device %q: see 'trustsync devices'", arg)
}
