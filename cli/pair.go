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
	// As names the member a further device joins as.
	As      string
	Timeout time.Duration
}

// DefaultPairTimeout is how long an invite is valid and 'pair' waits.
const DefaultPairTimeout = tsync.DefaultInviteTTL

// firstSyncWait bounds the sync 'pair' runs right after pairing.
const firstSyncWait = 10 * time.Second

// NewCmdPair returns 'trustsync pair'.
func NewCmdPair(f *Factory, runF func(*PairOptions) error) *cobra.Command {
	opts := &PairOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "pair [INVITE] [--listen MULTIADDR] [--timeout DUR]",
		Short: "Pair this device with your partner's, or with another device of yours",
		Long: heredoc(`
			Without INVITE, make a one-time invite, print it on a line starting
			"invite: " (and as a QR code on a terminal) and wait for the other
			device to join with it. The invite holds this device's address and a
			secret; it works once, and only until --timeout (default 10m) while
			this command runs. Give it only to the person at the other device.

			With INVITE (or "-" to read it from standard input), join the device
			that made it. Your partner's device joins as the partner. A further
			device of someone already in the space -- your phone, after your
			laptop -- joins as that person when it was initialised with the same
			name, or with --as NAME; initialise it with 'trustsync init' and join
			before writing anything on it. Any device can invite your partner's
			first device; a further device joins only through an invite made on
			one of its own person's devices (Sam's phone through Sam's laptop).
			While 'trustsync serve' runs for this home, stop it first.

			Both devices then print the same six-digit code on a line starting
			"code: ". Compare the codes with each other, in person or on a call:
			if they differ, someone else may have used the invite -- run
			'trustsync unpair' on both devices at once.

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
			$ trustsync pair tsinvite1.AQAk... --as Sam   # Sam's phone, later,
			                                              # with an invite from Sam's laptop
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
			if runF != nil {
				return runF(opts)
			}
			return pairRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.Listen, "listen", nil, "listen on `MULTIADDR` for this run instead of the kept addresses (repeatable)")
	cmd.Flags().StringArrayVar(&opts.Announce, "announce", nil, "write `MULTIADDR` into the invite as an address to dial (repeatable)")
	cmd.Flags().StringVar(&opts.As, "as", "", "join as the member `NAME` of the space (a further device of that person)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", DefaultPairTimeout, "how long the invite stays valid, or how long to try joining (`DUR`)")
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
	n, err := f.StartNode(ctx, NodeOptions{
		Listen: opts.Listen,
		BeforeStart: func(n *tsync.Node) {
			ch, _ := n.Subscribe() // ends when the node closes
			refusals = ch
		},
	})
	if err != nil {
		return err
	}
	defer n.Close()
	wait := opts.Timeout
	if opts.Invite == "" {
		wait += 5 * time.Second // the invite's expiry ends the wait first
	}
	interrupted := ctx // ends on SIGINT or SIGTERM, not when the invite does
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()

	var res tsync.PairResult
	if opts.Invite != "" {
		res, err = n.Join(ctx, invite, tsync.JoinOptions{As: opts.As})
	} else {
		res, err = inviteAndWait(ctx, f, n, opts, refusals)
	}
	if err != nil {
		return pairError(err)
	}
	w, e := f.IOStreams.Out, f.IOStreams.ErrOut
	fmt.Fprintf(w, "code: %s\n", res.Code)
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
	if err := n.WaitSynced(sctx, res.Peer); err != nil {
		fmt.Fprintln(e, "To sync from now on, run 'trustsync sync' or 'trustsync serve' on both devices.")
		return nil
	}
	if st, err := f.Store(ctx); err == nil {
		_ = recordLastSync(ctx, st, res.Remote.DeviceID, f.Now())
	}
	fmt.Fprintln(e, "Synced. From now on, run 'trustsync sync' or 'trustsync serve' on both devices.")
	// Let the other side see that both hold the same changes before this
	// device goes offline.
	select {
	case <-time.After(500 * time.Millisecond):
	case <-ctx.Done():
	}
	return nil
}

// inviteAndWait makes an invite, shows it and waits for the partner.
func inviteAndWait(ctx context.Context, f *Factory, n *tsync.Node, opts *PairOptions, events <-chan tsync.Event) (tsync.PairResult, error) {
	announce, err := tsync.ParseAddrs(opts.Announce)
	if err != nil {
		return tsync.PairResult{}, err
	}
	inv, err := n.Invite(ctx, tsync.InviteOptions{TTL: opts.Timeout, Addrs: announce})
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
	case errors.Is(err, tsync.ErrPairRefused):
		return &userError{msg: msg, err: err}
	}
	return err
}
