package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mdp/qrterminal/v3"
	"github.com/spf13/cobra"

	tsync "github.com/trustsync/trustsync/sync"
)

// PairOptions are the inputs of 'trustsync pair'.
type PairOptions struct {
	Factory *Factory
	// Invite is the invite to join with; empty makes one.
	Invite string
	// Listen replaces this device's listen addresses for this run.
	Listen []string
	// Announce are the addresses written into the invite instead of the
	// listen addresses (a forwarded port, a VPN address).
	Announce []string
	// As names the member a further device joins as; it must agree with
	// what the invite is for.
	As string
	// OwnDevice makes an invite for another device of this device's
	// person instead of the partner.
	OwnDevice bool
	Timeout   time.Duration
}

// DefaultPairTimeout is how long an invite is valid and 'pair' waits.
const DefaultPairTimeout = tsync.DefaultInviteTTL

// firstSyncWait bounds the sync 'pair' runs right after pairing.
const firstSyncWait = 10 * time.Second

// NewCmdPair returns 'trustsync pair'.
func NewCmdPair(f *Factory, runF func(*PairOptions) error) *cobra.Command {
	opts := &PairOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "pair [INVITE] [--own-device] [--listen MULTIADDR] [--timeout DUR]",
		Short: "Pair this device with your partner's, or with another device of yours",
		Long: heredoc(`
			Without INVITE, make a one-time invite, print it on a line starting
			"invite: " (and as a QR code on a terminal) and wait for the other
			device to join with it. The invite holds this device's address and a
			secret; it works once, and only until --timeout (default 10m) while
			this command runs. Give it only to the person at the other device.

			The inviting device decides what the invite is for. While the space
			has no partner yet, it is for your partner's first device, which
			joins as a new member under its own name. With --own-device, or
			always once you have a partner, it is for another device of your
			own -- your phone, after your laptop -- which will write in your
			name: the inviting device warns about this and asks you to confirm.
			A device of Sam's thus joins only through an invite made on one of
			Sam's own devices.

			With INVITE (or "-" to read it from standard input), join the device
			that made it, as the invite says: as the partner, or as a device of
			the inviting person (initialise it with the same name, or give --as
			NAME; --as cannot change what the invite is for). Initialise a
			further device with 'trustsync init' and join before writing
			anything on it. While 'trustsync serve' runs for this home, stop it
			first.

			Both devices then print the same six-digit code on a line starting
			"code: ". On a terminal, each asks whether the other screen shows the
			same code, and nothing of your boundaries, goals or check-ins crosses
			until both of you answered yes; a no on either side refuses the
			pairing, stores nothing, and uses the invite up.

			Without a terminal (a script), 'pair' cannot ask: an unattended
			pairing skips this check, pairs and runs a first sync as soon as the
			code is printed. Use it only where nobody else can have seen the
			invite, or compare the codes at once and run 'trustsync unpair' on
			both devices if they differ.

			When standard error is a terminal, the first sync after pairing
			shows how far it is on one line that it rewrites, as sync does.

			The two devices must reach each other: on one network this just
			works; across networks see PAIRING.md (--announce writes a forwarded
			port or a VPN address into the invite).
		`),
		Example: examples(`
			$ trustsync pair                        # on Alex's laptop
			invite: tsinvite1.AQAk...
			code: 493027
			$ trustsync pair tsinvite1.AQAk...      # on Sam's laptop
			code: 493027
			$ trustsync pair --own-device            # on Sam's laptop, for Sam's phone
			$ trustsync pair tsinvite1.AQAk... --as Sam   # on Sam's phone
		`),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("unexpected argument %q: give at most one invite", args[1])
			}
			if len(args) == 1 && strings.TrimSpace(args[0]) == "" {
				return usageErrorf("the invite is empty: give the invite your partner's 'trustsync pair' printed, or no argument to make one")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Invite = args[0]
			}
			if opts.Timeout <= 0 {
				return usageErrorf("--timeout must be more than 0, as in 10m")
			}
			if _, err := tsync.ParseAddrs(opts.Announce); err != nil {
				return usageErrorf("--announce %s", strings.SplitN(err.Error(), ": ", 2)[0])
			}
			if opts.Invite == "" && opts.As != "" {
				return usageErrorf("--as applies when joining: give the invite too")
			}
			if opts.Invite != "" && opts.OwnDevice {
				return usageErrorf("--own-device applies when making an invite: the invite you join with says what it is for")
			}
			if runF != nil {
				return runF(opts)
			}
			return pairRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.Listen, "listen", nil, "listen on `MULTIADDR` for this run instead of the kept addresses (repeatable)")
	cmd.Flags().StringArrayVar(&opts.Announce, "announce", nil, "write `MULTIADDR` into the invite as an address to dial (repeatable)")
	cmd.Flags().StringVar(&opts.As, "as", "", "join as the member `NAME` of the space (a further device of that person); must agree with the invite")
	cmd.Flags().BoolVar(&opts.OwnDevice, "own-device", false, "invite another device of your own, which will write in your name")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", DefaultPairTimeout, "how long the invite stays valid, or how long to try joining (`DUR`, as in 10m or 1h)")
	// "10m", as the help says, rather than Go's "10m0s".
	cmd.Flags().Lookup("timeout").DefValue = shortDuration(DefaultPairTimeout)
	return cmd
}

func pairRun(ctx context.Context, opts *PairOptions) error {
	f := opts.Factory
	var invite tsync.Invite
	if opts.Invite != "" {
		text := opts.Invite
		if text == "-" {
			var err error
			if text, err = readInvite(f.IOStreams.In); err != nil {
				return err
			}
		}
		var err error
		invite, err = tsync.ParseInvite(text)
		if err != nil {
			return &userError{msg: fmt.Sprintf("%s: copy the whole invite, from %q to the end of its line", oneLine(err.Error()), tsync.InvitePrefix), err: err}
		}
	}
	release, err := lockHome(f, "pair")
	if err != nil {
		return err
	}
	defer release()
	var refusals <-chan tsync.Event
	// The first sync after pairing shows its progress on a terminal, as
	// sync does, once the pairing lines are printed.
	var line *progressLine
	n, err := f.StartNode(ctx, NodeOptions{
		Listen: opts.Listen,
		BeforeStart: func(n *tsync.Node) {
			ch, _ := n.Subscribe() // ends when the node closes
			refusals = ch
			if f.IOStreams.StderrTTY {
				events, unsub := n.Subscribe()
				line = startProgressLine(f.IOStreams.ErrOut, events, unsub, true)
			}
		},
	})
	if err != nil {
		return err
	}
	defer n.Close()
	if line != nil {
		defer line.stop()
	}
	wait := opts.Timeout
	if opts.Invite == "" {
		wait += 5 * time.Second // the invite's expiry ends the wait first
	}
	interrupted := ctx // ends on SIGINT or SIGTERM, not when the invite does
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()

	var res tsync.PairResult
	shown := false // the code line, printed when asking on a terminal
	confirm := confirmCodes(ctx, f, opts.Invite == "", &shown)
	if opts.Invite != "" {
		res, err = n.Join(ctx, invite, tsync.JoinOptions{As: opts.As, Confirm: confirm})
	} else {
		res, err = inviteAndWait(ctx, f, n, opts, refusals, confirm)
	}
	if err != nil {
		return pairError(err)
	}
	w, e := f.IOStreams.Out, f.IOStreams.ErrOut
	if !shown {
		fmt.Fprintf(w, "code: %s\n", res.Code)
	}
	whose := res.Remote.MemberName + "'s"
	if sp, err := f.Space(ctx); err == nil && res.Remote.MemberID == sp.Self().MemberID {
		whose = "your"
	}
	fmt.Fprintf(e, "Paired with %s device %q. Check that the other device shows the same code; if it does not, run 'trustsync unpair' now.\n", whose, res.Remote.DeviceName)
	if res.Unconfirmed {
		fmt.Fprintf(e, "The other device stopped before it said it had finished pairing: if it shows no code, run 'trustsync pair' on both again.\n")
		return nil
	}

	// A first sync while both commands still run, so that both devices
	// show the same space at once; 'trustsync sync' or 'serve' do the rest.
	// This device's side of the pairing is stored: an interrupt (Ctrl-C)
	// ends only the first sync, whose work the next sync does.
	sctx, scancel := context.WithTimeout(interrupted, firstSyncWait)
	defer scancel()
	if line != nil {
		line.release()
	}
	err = n.WaitSynced(sctx, res.Peer)
	if line != nil {
		line.stop()
	}
	if err != nil {
		fmt.Fprintln(e, "To sync from now on, run 'trustsync sync' or 'trustsync serve' on both devices.")
		return nil
	}
	path := n.Path(res.Peer)
	_ = f.recordLastSync(ctx, res.Remote.DeviceID, f.Now(), path)
	fmt.Fprintln(e, "Synced. From now on, run 'trustsync sync' or 'trustsync serve' on both devices.")
	if line := pathLine(remoteName(res.Peer.String(), res.Remote), path, true); line != "" {
		fmt.Fprintln(e, line)
	}
	// Let the other side see that both hold the same changes before this
	// device goes offline.
	select {
	case <-time.After(500 * time.Millisecond):
	case <-ctx.Done():
	}
	return nil
}

// inviteAndWait makes an invite, shows it and waits for the partner.
func inviteAndWait(ctx context.Context, f *Factory, n *tsync.Node, opts *PairOptions, events <-chan tsync.Event,
	confirm func(tsync.Confirmation) error) (tsync.PairResult, error) {
	announce, err := tsync.ParseAddrs(opts.Announce)
	if err != nil {
		return tsync.PairResult{}, err
	}
	purpose := tsync.PurposeUnset
	if opts.OwnDevice {
		purpose = tsync.PurposeOwnDevice
	}
	inv, err := n.Invite(ctx, tsync.InviteOptions{TTL: opts.Timeout, Addrs: announce, Purpose: purpose, Confirm: confirm})
	if err != nil {
		return tsync.PairResult{}, err
	}
	defer inv.Close()
	text := inv.Invite().String()
	w, e := f.IOStreams.Out, f.IOStreams.ErrOut
	fmt.Fprintf(w, "invite: %s\n", text)
	if f.IOStreams.StdoutTTY {
		qrterminal.GenerateWithConfig(text, qrterminal.Config{Level: qrterminal.L, Writer: w,
			HalfBlocks: true, BlackChar: qrterminal.BLACK_BLACK, WhiteBlackChar: qrterminal.WHITE_BLACK,
			WhiteChar: qrterminal.WHITE_WHITE, BlackWhiteChar: qrterminal.BLACK_WHITE, QuietZone: 1})
	}
	if inv.Invite().Purpose == tsync.PurposeOwnDevice {
		if sp, err := f.Space(ctx); err == nil {
			name := sp.Self().MemberName
			if !opts.OwnDevice {
				fmt.Fprintf(e, "You already have a partner, so this invite can only add another device of yours, %s (as --own-device does).\n", name)
			}
			fmt.Fprintf(e, "WARNING: this adds a device that will write in YOUR name, %s: only continue if it is your own device.\n", name)
		}
	} else {
		fmt.Fprintf(e, "This invite is for your partner's first device. For another device of your own, use --own-device.\n")
	}
	fmt.Fprintf(e, "On the other device run: trustsync pair INVITE (the text after \"invite: \").\n")
	fmt.Fprintf(e, "Waiting until %s; the invite works once.\n", inv.Invite().Expires.Local().Format("15:04:05"))

	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				if ev.Type == tsync.PairRefused {
					fmt.Fprintf(e, "trustsync: refused a pairing attempt: %s\n", oneLine(ev.Err.Error()))
				}
			}
		}
	}()
	return inv.Wait(ctx)
}

// confirmCodes returns the Confirm callback of 'pair': it says what the
// pairing is for -- loudly when a device will write in the inviting
// person's name -- and, on a terminal, prints the code and asks whether
// the other device shows the same; a no refuses the pairing. Without a
// terminal it cannot ask and says yes (see the command's help).
func confirmCodes(ctx context.Context, f *Factory, inviting bool, shown *bool) func(tsync.Confirmation) error {
	return func(c tsync.Confirmation) error {
		ios := f.IOStreams
		e := ios.ErrOut
		me := "this device's person"
		if sp, err := f.Space(ctx); err == nil {
			me = sp.Self().MemberName
		}
		other := "your partner's"
		switch {
		case c.Again:
			fmt.Fprintf(e, "Device %q of %s pairs again; this adds no device.\n", c.Remote.DeviceName, c.As.Name)
		case c.Purpose == tsync.PurposeOwnDevice && inviting:
			other = "your other device's"
			fmt.Fprintf(e, "WARNING: this adds a device that will write in YOUR name, %s: only continue if %q is your own device.\n", c.As.Name, c.Remote.DeviceName)
		case c.Purpose == tsync.PurposeOwnDevice:
			other = "your other device's"
			fmt.Fprintf(e, "This device joins as %s's device: what it writes will be in %s's name.\n", c.As.Name, c.As.Name)
		case inviting:
			fmt.Fprintf(e, "Device %q joins as your partner, %s.\n", c.Remote.DeviceName, c.As.Name)
		case c.Purpose == tsync.PurposePartner:
			fmt.Fprintf(e, "This device joins as %s, the partner of %s.\n", c.As.Name, c.Remote.MemberName)
		}
		if !ios.StdinTTY {
			return nil
		}
		fmt.Fprintf(ios.Out, "code: %s\n", c.Code)
		*shown = true
		fmt.Fprintf(e, "Does %s screen show code %s %s? [y/N] ", other, c.Code[:3], c.Code[3:])
		answer := make(chan string, 1)
		go func() { // left behind on an interrupt, which ends the process
			line, _ := bufio.NewReader(ios.In).ReadString('\n')
			answer <- line
		}()
		select {
		case line := <-answer:
			switch strings.ToLower(strings.TrimSpace(line)) {
			case "y", "yes":
				return nil
			}
			return fmt.Errorf("%s said the codes differ", me)
		case <-ctx.Done():
			fmt.Fprintln(e)
			return fmt.Errorf("%s stopped before answering", me)
		}
	}
}

// readInvite takes the first word starting with the invite prefix from r
// (a pasted "invite: ..." line works too).
func readInvite(r io.Reader) (string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		for _, w := range strings.Fields(sc.Text()) {
			if strings.HasPrefix(w, tsync.InvitePrefix) {
				return w, nil
			}
		}
	}
	return "", failf("no invite on standard input: give the text that starts with %q", tsync.InvitePrefix)
}

// pairError says what a failed pairing means for the person at the
// terminal, and what to do.
func pairError(err error) error {
	msg := oneLine(err.Error())
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &userError{msg: "no device joined in time: run 'trustsync pair' again (--timeout gives more time)", err: err}
	case errors.Is(err, tsync.ErrInviteExpired):
		return &userError{msg: msg + ": make a new invite with 'trustsync pair' on the inviting device", err: err}
	case errors.Is(err, tsync.ErrInviteUsed):
		return &userError{msg: msg + ": an invite works once; make a new one with 'trustsync pair' on the inviting device", err: err}
	case errors.Is(err, tsync.ErrInviteInvalid), errors.Is(err, tsync.ErrInviteSpace):
		return &userError{msg: msg + ": nothing was paired; make a new invite with 'trustsync pair' on the inviting device", err: err}
	case errors.Is(err, tsync.ErrNotInviting):
		return &userError{msg: msg + ": check that 'trustsync pair' still runs there and that this device can reach it (see PAIRING.md)", err: err}
	case errors.Is(err, tsync.ErrPairRefused) && strings.Contains(msg, "the codes were not confirmed"):
		return &userError{msg: msg + ": nothing was paired and the invite is used up; if someone else may have seen it, make a new one and pass it on directly", err: err}
	case errors.Is(err, tsync.ErrPairRefused):
		return &userError{msg: msg, err: err}
	}
	return err
}

// shortDuration writes d as a person types it: 10m, 1h30m, 45s, rather
// than Go's 10m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
