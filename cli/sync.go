package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync"
	tsync "github.com/trustsync/trustsync/sync"
)

// SyncOptions are the inputs of 'trustsync sync'.
type SyncOptions struct {
	Factory *Factory
	Timeout time.Duration
	JSON    bool
}

// DefaultSyncTimeout is how long 'trustsync sync' waits for a paired device.
const DefaultSyncTimeout = 30 * time.Second

// syncRetry is the pause between attempts while no paired device answers.
const syncRetry = 250 * time.Millisecond

// NewCmdSync returns 'trustsync sync'. runF replaces the command's work in
// tests; nil runs it.
func NewCmdSync(f *Factory, runF func(*SyncOptions) error) *cobra.Command {
	opts := &SyncOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "sync [--timeout DUR] [--json]",
		Short: "Sync once with the paired devices that can be reached",
		Long: heredoc(`
			Connect to the paired devices that can be reached, sync with each until
			both sides hold the same changes, say what was sent and received, and
			exit. Your partner's device must be on and running 'trustsync serve'
			(or syncing at the same time).

			sync keeps trying until --timeout (default 30s) and exits 1 if no
			paired device answered by then. A device that answered is synced
			even when another did not; those are named on standard error.
			A device reached through a relay (or directly, through both
			routers, after meeting through one) gets a line saying so after
			its own; --json gives each device's path ("direct", "hole
			punched", "relayed", "unreachable").
			When this device refuses what a device sends, sync says so at once,
			in one line naming the device and the reason, and status remembers it.

			A document damaged on one side is left out while every other
			document syncs, and named on standard error; a document damaged on
			this device is restored from the partner's copy when it has one.

			When standard error is a terminal, a long sync shows how far it is
			on one line that it rewrites ("receiving from Sam (sam-laptop): 12
			of 60 documents, 48 KB") and erases before the summary. Without a
			terminal, or with --json, nothing of it is printed.

			--json prints one JSON object: the devices synced, with what was
			received from and sent to each, by kind.
		`),
		Example: examples(`
			$ trustsync sync
			received 2 boundaries and 1 check-in from Sam (sam-laptop); sent 1 goal
			$ trustsync sync --timeout 2m --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Timeout <= 0 {
				return usageErrorf("--timeout must be more than 0, as in 30s or 2m")
			}
			if runF != nil {
				return runF(opts)
			}
			return syncRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", DefaultSyncTimeout, "how long to wait for a paired device (`DUR`, as in 30s or 2m)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object")
	return cmd
}

type syncJSON struct {
	Synced  int              `json:"synced"`
	Devices []syncDeviceJSON `json:"devices"`
}

type syncDeviceJSON struct {
	DeviceID string         `json:"device_id"`
	Device   string         `json:"device"`
	Member   string         `json:"member"`
	PeerID   string         `json:"peer_id"`
	OK       bool           `json:"ok"`
	Error    *string        `json:"error"`
	Received map[string]int `json:"received"`
	Sent     map[string]int `json:"sent"`
	BytesIn  int64          `json:"bytes_in"`
	BytesOut int64          `json:"bytes_out"`
	// Path is how the device was reached: "direct", "hole punched",
	// "relayed", or "unreachable" when it was not.
	Path string `json:"path"`
	// Refused is why this device refused the device's data (or the device
	// this one's), null when nothing was refused.
	Refused *string `json:"refused"`
	// Damaged lists the documents left out because they are damaged on
	// one side; Restored the damaged documents of this device restored
	// from the device's copy.
	Damaged  []damageJSON `json:"damaged"`
	Restored []string     `json:"restored"`
}

type damageJSON struct {
	Doc string `json:"doc"`
	// Where is "this device" or "partner device".
	Where  string `json:"where"`
	Reason string `json:"reason"`
}

func syncRun(ctx context.Context, opts *SyncOptions) error {
	f := opts.Factory
	release, err := lockHome(f, "sync")
	if err != nil {
		return err
	}
	defer release()
	// On a terminal, one line on standard error says how far the sync is;
	// scripts (no terminal, or --json) see nothing of it.
	var line *progressLine
	nopts := NodeOptions{}
	if f.IOStreams.StderrTTY && !opts.JSON {
		nopts.BeforeStart = func(n *tsync.Node) {
			events, unsub := n.Subscribe()
			line = startProgressLine(f.IOStreams.ErrOut, events, unsub, false)
		}
	}
	n, err := f.StartNode(ctx, nopts)
	if err != nil {
		return err
	}
	defer n.Close()
	if line != nil {
		defer line.stop()
	}
	if len(n.Peers()) == 0 {
		if at, ok := unpairedSince(ctx, f); ok {
			return failf("this device is not paired with any other since the unpairing %s: to sync with a partner again, pair with 'trustsync pair'", relTime(f.Now(), at))
		}
		return failf("this device is not paired with any other yet: pair with your partner with 'trustsync pair' first")
	}

	tctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	var rep tsync.Report
	for {
		rep, err = n.SyncOnce(tctx)
		if err == nil || !errors.Is(err, tsync.ErrNoPeers) || tctx.Err() != nil {
			break
		}
		// A device whose data was refused sends the same again: say so now
		// rather than at the timeout.
		if slices.ContainsFunc(rep.Peers, func(p tsync.PeerReport) bool {
			re := refusalOf(p.Err)
			return re != nil && !re.ByPeer
		}) {
			break
		}
		select {
		case <-tctx.Done():
		case <-time.After(syncRetry):
		}
	}
	if line != nil {
		line.stop() // before any other line
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	st, serr := f.Store(ctx)
	if serr != nil {
		return serr
	}
	for _, p := range rep.Peers {
		if re := refusalOf(p.Err); re != nil {
			if err := recordRefusal(ctx, st, re, f.Now()); err != nil {
				return fmt.Errorf("record the refusal: %w", err)
			}
		}
	}
	if errors.Is(err, tsync.ErrNoPeers) {
		// This device could not check what its partner sent: nothing
		// was applied, and waiting longer would not help.
		for _, p := range rep.Peers {
			var ue *trustsync.CheckUnavailableError
			if errors.As(p.Err, &ue) {
				return &userError{msg: uncheckedLine(ue), err: p.Err}
			}
		}
		// A refusal is named first, with its reason, then a device that
		// answered but did not finish, with why.
		for _, p := range rep.Peers {
			if re := refusalOf(p.Err); re != nil {
				for _, l := range damageLines(p) {
					fmt.Fprintln(f.IOStreams.ErrOut, l)
				}
				return &userError{msg: refusalLine(p.Peer.String(), re), err: p.Err}
			}
		}
		// A device that answered but did not finish is named with why.
		for _, p := range rep.Peers {
			if p.Remote.DeviceID != "" && errors.Is(p.Err, tsync.ErrOffline) {
				return failf("%s went offline before the sync finished: try again once it is back online",
					remoteName(p.Peer.String(), p.Remote))
			}
			if p.Remote.DeviceID != "" && p.Err != nil {
				return failf("could not finish syncing with %s within %s (%s): try again, or with a longer --timeout",
					remoteName(p.Peer.String(), p.Remote), opts.Timeout, failureWords(p.Err))
			}
		}
		return failf("no paired device answered within %s: is your partner's device on and running 'trustsync serve'?", opts.Timeout)
	}
	if err != nil {
		return err
	}

	now := f.Now()
	for _, p := range rep.Peers {
		if p.OK && p.Remote.DeviceID != "" {
			if err := f.recordLastSync(ctx, p.Remote.DeviceID, now, p.Path); err != nil {
				return fmt.Errorf("record the last sync: %w", err)
			}
		}
	}
	if err := n.Close(); err != nil {
		return fmt.Errorf("go offline: %w", err)
	}

	if opts.JSON {
		v := syncJSON{Synced: rep.Synced(), Devices: []syncDeviceJSON{}}
		for _, p := range rep.Peers {
			d := syncDeviceJSON{
				DeviceID: p.Remote.DeviceID,
				Device:   p.Remote.DeviceName,
				Member:   p.Remote.MemberName,
				PeerID:   p.Peer.String(),
				OK:       p.OK,
				Received: nonNilMap(p.Received),
				Sent:     nonNilMap(p.Sent),
				BytesIn:  p.BytesIn,
				BytesOut: p.BytesOut,
				Path:     p.Path.String(),
				Damaged:  []damageJSON{},
				Restored: nonNilStrings(p.Restored),
			}
			if p.Err != nil {
				e := failureWords(p.Err)
				d.Error = &e
			}
			if re := refusalOf(p.Err); re != nil {
				r := re.Reason()
				d.Refused = &r
			}
			for _, dd := range p.Damaged {
				where := "this device"
				if dd.Remote {
					where = "partner device"
				}
				d.Damaged = append(d.Damaged, damageJSON{Doc: dd.Doc, Where: where, Reason: dd.Reason})
			}
			v.Devices = append(v.Devices, d)
		}
		return writeJSON(f.IOStreams.Out, v)
	}
	for _, p := range rep.Peers {
		name := remoteName(p.Peer.String(), p.Remote)
		for _, l := range damageLines(p) {
			fmt.Fprintln(f.IOStreams.ErrOut, l)
		}
		if re := refusalOf(p.Err); re != nil && !p.OK {
			fmt.Fprintln(f.IOStreams.ErrOut, refusalLine(p.Peer.String(), re))
			continue
		}
		if !p.OK {
			// Say what happened: a refused dial or a dial backoff fails at
			// once, long before the timeout. A device that never answered
			// is named from the space, which knows its peer ID.
			if p.Remote.DeviceID == "" {
				name = remoteName(p.Peer.String(), pairedRemote(ctx, f, p.Peer.String()))
			}
			why := "it did not answer"
			switch {
			case errors.Is(p.Err, tsync.ErrOffline):
				why = "it went offline before the sync finished"
			case p.Err != nil:
				why = failureWords(p.Err)
			}
			fmt.Fprintf(f.IOStreams.ErrOut, "could not sync with %s: %s\n", name, why)
			continue
		}
		fmt.Fprintln(f.IOStreams.Out, p.String())
		if line := pathLine(name, p.Path, true); line != "" {
			fmt.Fprintln(f.IOStreams.Out, line)
		}
	}
	return nil
}

func nonNilMap(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

// pairedRemote names the device of the space with the given peer ID, as
// far as this device knows it; empty when it knows none.
func pairedRemote(ctx context.Context, f *Factory, peerID string) tsync.Remote {
	sp, err := f.Space(ctx)
	if err != nil {
		return tsync.Remote{}
	}
	members, err := sp.Members(ctx)
	if err != nil {
		return tsync.Remote{}
	}
	for _, m := range members {
		for _, d := range m.Devices {
			if d.PeerID == peerID {
				return tsync.Remote{DeviceID: d.ID, DeviceName: d.Name, MemberID: m.ID, MemberName: m.Name, PeerID: peerID}
			}
		}
	}
	return tsync.Remote{}
}

// failureWords says why syncing with a device failed, on one line: a
// device that could not be reached in a few words, without libp2p's list
// of every address it tried.
func failureWords(err error) string {
	var ue *tsync.UnreachableError
	if errors.As(err, &ue) {
		return "cannot reach it: " + ue.Error()
	}
	return oneLine(err.Error())
}

// refusalOf returns the refusal that ended a sync, or nil.
func refusalOf(err error) *tsync.RefusedError {
	var re *tsync.RefusedError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// damageLines are the lines that tell what a sync with one device restored
// and left out as damaged.
func damageLines(p tsync.PeerReport) []string {
	var lines []string
	for _, doc := range p.Restored {
		lines = append(lines, restoredLine(p.Peer.String(), p.Remote, doc))
	}
	for _, d := range p.Damaged {
		lines = append(lines, damageLine(p.Peer.String(), p.Remote, d))
	}
	name := remoteName(p.Peer.String(), p.Remote)
	for _, r := range p.Refused {
		if r.Remote {
			lines = append(lines, fmt.Sprintf("%s refused a change this device sent to %s: %s", name, r.Doc, oneLine(r.Reason)))
		} else {
			lines = append(lines, fmt.Sprintf("refused a change to %s from %s: %s; the other documents were synced", r.Doc, name, oneLine(r.Reason)))
		}
	}
	return lines
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
