package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	tsync "github.com/trustsync/trustsync/sync"
)

// StatusOptions are the inputs of 'trustsync status'.
type StatusOptions struct {
	Factory *Factory
	JSON    bool
}

// NewCmdStatus returns 'trustsync status'.
func NewCmdStatus(f *Factory, runF func(*StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "Show this device, your partner and your devices",
		Long: heredoc(`
			Show who you are on this device, your partner once you have paired
			(none after an unpairing, from either side), the devices of each of
			you with when they last synced, and the addresses this device listens
			on when it syncs. --json also gives, for each other device, the
			addresses this device last knew it at (last_known_addrs): this
			device's own knowledge, never shared.

			Under "How each device was reached at its last sync", each paired
			device: directly, directly through both routers (hole punched),
			through a relay (named when you record one), or not reached yet;
			--json gives it as last_path ("direct", "hole punched",
			"relayed").

			When this device refused a device's data (or a device refused this
			one) since the last sync with it, a line starting "Refused:" says
			which device, when and why; --json gives the last refusal of each
			device as last_refusal, with its time.

			status reads only this device's data; it does not go online to
			check on anyone.
		`),
		Example: examples(`
			$ trustsync status
			$ trustsync status --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return statusRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object")
	return cmd
}

type statusJSON struct {
	Home     string       `json:"home"`
	SpaceID  string       `json:"space_id"`
	Me       string       `json:"me"`
	MemberID string       `json:"member_id"`
	Device   string       `json:"device"`
	DeviceID string       `json:"device_id"`
	Partner  *string      `json:"partner"`
	Members  []memberJSON `json:"members"`
	Listen   []string     `json:"listen"`
	MDNS     bool         `json:"mdns"`
	Due      *dueJSON     `json:"due"`
}

func statusRun(ctx context.Context, opts *StatusOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	r, err := loadRoster(ctx, sp)
	if err != nil {
		return err
	}
	cfg, err := f.Config(ctx)
	if err != nil {
		return err
	}
	st, err := f.Store(ctx)
	if err != nil {
		return err
	}
	// When this device last synced with each other device, as recorded by
	// serve and sync. Whether a device is online only a running node knows:
	// status does not go online, so it never says.
	lastSync := map[string]time.Time{}
	lastPath := map[string]tsync.Path{}    // how each was reached then
	refusals := map[string]refusalRecord{} // the last refusal, by device
	for _, m := range r.members {
		for _, d := range m.Devices {
			at, path, ok, err := f.loadLastSyncPath(ctx, d.ID)
			if err != nil {
				return err
			}
			if ok {
				lastSync[d.ID] = at
				lastPath[d.ID] = path
			}
			ref, ok, err := loadRefusal(ctx, st, d.ID)
			if err != nil {
				return err
			}
			if ok {
				refusals[d.ID] = ref
			}
		}
	}
	var ids []string
	for _, m := range r.members {
		for _, d := range m.Devices {
			ids = append(ids, d.ID)
		}
	}
	forged, err := sp.Refusals(ctx, ids) // changes refused on receipt, by sender
	if err != nil {
		return err
	}
	home, _ := f.Home()
	self := sp.Self()
	partner, paired := r.partner()
	// A partner who left -- every device of theirs unpaired, by either
	// side -- is no partner now; the devices table still shows theirs.
	leftAt, left := r.left(partner)
	paired = paired && !left
	due, err := loadDue(ctx, f, sp)
	if err != nil {
		return err
	}
	if opts.JSON {
		v := statusJSON{
			Home:     home,
			SpaceID:  self.SpaceID,
			Me:       self.MemberName,
			MemberID: self.MemberID,
			Device:   self.DeviceName,
			DeviceID: self.DeviceID,
			Members:  r.membersJSON(),
			Listen:   nonNil(cfg.Listen),
			MDNS:     cfg.MDNS,
			Due:      due,
		}
		if paired {
			v.Partner = &partner.Name
		}
		for i := range v.Members {
			for j := range v.Members[i].Devices {
				d := &v.Members[i].Devices[j]
				if at, ok := lastSync[d.ID]; ok {
					s := jsonTime(at)
					d.LastSync = &s
					if p := lastPath[d.ID]; p != tsync.PathUnreachable {
						ps := p.String()
						d.LastPath = &ps
					}
				}
				if d.ID != self.DeviceID {
					k, err := sp.KnownAddrs(ctx, d.ID)
					if err != nil {
						return err
					}
					d.LastKnownAddrs = k.All()
				}
				if fr, ok := forged[d.ID]; ok && fr.Count > 0 {
					d.RefusedChanges = &refusedChangesJSON{Count: fr.Count, Last: jsonTime(fr.At), Doc: fr.Doc, Reason: fr.Reason}
				}
				if ref, ok := refusals[d.ID]; ok {
					by := "this device"
					if ref.ByPeer {
						by = "that device"
					}
					d.LastRefusal = &refusalJSON{At: jsonTime(ref.At), Reason: ref.Reason, By: by}
				}
			}
		}
		return writeJSON(f.IOStreams.Out, v)
	}

	w := f.IOStreams.Out
	c := palette{f.IOStreams.Color}
	fmt.Fprintf(w, "%s %s, on %s (device %s)\n", c.bold("You:"), self.MemberName, self.DeviceName, short(self.DeviceID))
	switch {
	case paired:
		fmt.Fprintf(w, "%s %s\n", c.bold("Partner:"), partner.Name)
	case left:
		fmt.Fprintf(w, "%s none since the unpairing %s: everything shared so far stays here; to share again, pair with 'trustsync pair'\n", c.bold("Partner:"), relTime(f.Now(), leftAt))
	default:
		fmt.Fprintf(w, "%s not paired yet: run 'trustsync pair' on this device, then join from theirs\n", c.bold("Partner:"))
	}
	fmt.Fprintf(w, "%s %s\n", c.bold("Check-in:"), due.dueLine(f.Now()))
	for _, l := range due.waitingLines() {
		fmt.Fprintf(w, "%s %s\n", c.bold("Waiting:"), l)
	}
	fmt.Fprintf(w, "%s %s\n\n", c.bold("Data:"), home)

	t := newTable(w)
	fmt.Fprintln(t, "DEVICE\tWHOSE\tSTATUS\tLAST SYNC")
	for _, m := range r.members {
		for _, d := range m.Devices {
			var state string
			switch {
			case d.ID == self.DeviceID:
				state = "this device"
			case d.Removed:
				state = "unpaired " + relTime(f.Now(), d.RemovedAt)
			default:
				state = "paired"
			}
			last := "not synced yet"
			if at, ok := lastSync[d.ID]; ok {
				last = relTime(f.Now(), at)
			}
			if d.ID == self.DeviceID {
				last = "-"
			}
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", d.Name, m.Name, state, last)
		}
	}
	if err := t.Flush(); err != nil {
		return err
	}
	// Changes refused on receipt: a forged signature, or a write in the
	// other person's name. Kept until the home is gone: they say what a
	// device tried.
	for _, m := range r.members {
		for _, d := range m.Devices {
			fr, ok := forged[d.ID]
			if !ok || fr.Count == 0 {
				continue
			}
			who := deviceWords("", tsync.Remote{MemberName: m.Name, DeviceName: d.Name})
			fmt.Fprintf(w, "%s %s\n", c.bold("Refused:"), oneLine(fmt.Sprintf("%s from %s, the last %s: %s",
				countWord(fr.Count, "change", "changes"), who, relTime(f.Now(), fr.At), fr.Reason)))
		}
	}
	// A refusal since the last sync with that device, with when.
	for _, m := range r.members {
		for _, d := range m.Devices {
			ref, ok := refusals[d.ID]
			if !ok || d.ID == self.DeviceID || ref.At.Before(lastSync[d.ID]) {
				continue
			}
			who := deviceWords("", tsync.Remote{MemberName: m.Name, DeviceName: d.Name})
			line := fmt.Sprintf("refused data from %s (%s): %s", who, relTime(f.Now(), ref.At), ref.Reason)
			if ref.ByPeer {
				line = fmt.Sprintf("%s refused this device (%s): %s", who, relTime(f.Now(), ref.At), ref.Reason)
			}
			fmt.Fprintf(w, "%s %s\n", c.bold("Refused:"), oneLine(line))
		}
	}
	relays, err := sp.Relays(ctx)
	if err != nil {
		return err
	}
	var reached []string
	for _, m := range r.members {
		for _, d := range m.Devices {
			if d.ID == self.DeviceID || d.Removed {
				continue
			}
			how := "not reached yet"
			if _, ok := lastSync[d.ID]; ok {
				how = reachedWords(lastPath[d.ID], relays)
			}
			reached = append(reached, fmt.Sprintf("  %s (%s): %s", d.Name, m.Name, how))
		}
	}
	if len(reached) > 0 {
		fmt.Fprintf(w, "\n%s\n", c.bold("How each device was reached at its last sync:"))
		for _, l := range reached {
			fmt.Fprintln(w, l)
		}
	}
	mdns := "on"
	if !cfg.MDNS {
		mdns = "off"
	}
	fmt.Fprintf(w, "\n%s\n", c.bold("When syncing, this device listens on:"))
	for _, a := range cfg.Listen {
		if p := strings.Split(a, "/"); len(p) > 4 && p[4] == "0" {
			a += " (the port is picked when this device first goes online, then kept)"
		}
		fmt.Fprintf(w, "  %s\n", a)
	}
	fmt.Fprintf(w, "Local network discovery (mDNS): %s\n", mdns)
	switch len(relays) {
	case 0:
		fmt.Fprintln(w, "Relays: none recorded (on different networks, devices meet through one: see 'trustsync relay --help')")
	default:
		fmt.Fprintln(w, "Relays, for devices on different networks (every device of both of you uses them):")
		for _, a := range relays {
			fmt.Fprintf(w, "  %s\n", a)
		}
	}
	return nil
}

// reachedWords says how a device was reached at its last sync, naming the
// relay when the couple records only one.
func reachedWords(p tsync.Path, relays []string) string {
	switch p {
	case tsync.PathDirect:
		return "directly"
	case tsync.PathHolePunched:
		return "directly, through both routers (hole punched)"
	case tsync.PathRelayed:
		switch len(relays) {
		case 0:
			return "through a relay"
		case 1:
			return "through the relay " + relayHost(relays[0])
		}
		return "through one of your relays"
	}
	return "not known (synced before this was recorded)"
}

// relayHost is the network address of a relay, without its peer ID: what
// a person recognises.
func relayHost(addr string) string {
	parts := strings.Split(addr, "/")
	if len(parts) >= 5 {
		return parts[2] + " port " + parts[4]
	}
	return addr
}

// itOrThem is the pronoun for n things.
func itOrThem(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// countWord writes n with the singular or plural word.
func countWord(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
