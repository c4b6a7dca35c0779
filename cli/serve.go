package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	tsync "github.com/trustsync/trustsync/sync"
)

// ServeOptions are the inputs of 'trustsync serve'.
type ServeOptions struct {
	Factory *Factory
	// Listen replaces the stored listen addresses for this run (--listen).
	Listen []string
}

// NewCmdServe returns 'trustsync serve'. runF replaces the command's work in
// tests; nil runs it.
func NewCmdServe(f *Factory, runF func(*ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "serve [--listen MULTIADDR]...",
		Short: "Stay online and sync live with your partner's devices",
		Long: heredoc(`
			Stay online and sync with your paired devices as soon as they can be
			reached, until interrupted (Ctrl-C, SIGINT or SIGTERM). What either of
			you writes meanwhile -- here with other trustsync commands, or on the
			other device -- reaches the other side within about a second.

			When ready, serve prints one line on standard output: "listening on "
			followed by this device's addresses, separated by spaces. On standard
			error it says, in words, when a device connects or disconnects and
			what was received from it, which document is damaged on either side
			(the others sync on, and a damaged one is restored from the other
			side's copy), and, once per reason, when it refused a device's data.
			A long transfer (more than 5 documents, or 1 MB) gets a line when it
			starts and one when it is done, with the documents, bytes and time.
			It records when each device last synced and the last refusal, which
			'trustsync status' shows.

			When a device is reached through a relay, serve says so once, and
			again if it is then reached directly through both routers (hole
			punched); a direct connection, the usual case, gets no such line.

			When a device unpairs this one, serve says which device and whose.
			A device that 'trustsync unpair' could not reach is told by serve as
			soon as it can be reached (serve tries every 30 seconds), with a line
			when it was.

			--listen replaces the addresses kept at init for this run only
			(TRUSTSYNC_LISTEN does the same). Interrupting serve takes the device
			offline cleanly; everything received is already saved.
		`),
		Example: examples(`
			$ trustsync serve
			$ trustsync serve --listen /ip4/0.0.0.0/tcp/4001 --listen /ip4/0.0.0.0/udp/4001/quic-v1
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("listen") {
				opts.Listen = nil
			}
			for _, a := range opts.Listen {
				if err := CheckMultiaddr(a); err != nil {
					return &UsageError{Err: err}
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return serveRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.Listen, "listen", nil, "a `MULTIADDR` to listen on instead of the kept ones; repeat for several")
	return cmd
}

func serveRun(ctx context.Context, opts *ServeOptions) error {
	f := opts.Factory
	release, err := lockHome(f, "serve")
	if err != nil {
		return err
	}
	defer release()
	errOut := f.IOStreams.ErrOut
	var events <-chan tsync.Event
	n, err := f.StartNode(ctx, NodeOptions{
		Listen:      opts.Listen,
		Logger:      warnLogger(errOut),
		BeforeStart: func(n *tsync.Node) { events, _ = n.Subscribe() },
	})
	if err != nil {
		return err
	}
	st, err := f.Store(ctx)
	if err != nil {
		n.Close()
		return err
	}
	sp, err := f.Space(ctx)
	if err != nil {
		n.Close()
		return err
	}
	rec := newSyncRecorder(st, f.recordLastSync, f.Now)
	done := make(chan struct{})
	go func() {
		defer close(done)
		logEvents(ctx, errOut, events, rec)
	}()

	var addrs []string
	for _, a := range n.Addrs() {
		addrs = append(addrs, a.String())
	}
	fmt.Fprintf(f.IOStreams.Out, "listening on %s\n", strings.Join(addrs, " "))
	if len(n.Peers()) == 0 {
		fmt.Fprintln(errOut, notPairedLine(ctx, f))
	}

	// Devices unpaired while they were offline are told now, and again
	// until they are.
	farewellsDone := make(chan struct{})
	go func() {
		defer close(farewellsDone)
		farewellLoop(ctx, sp, st, n, errOut)
	}()

	<-ctx.Done()
	<-farewellsDone
	fmt.Fprintln(errOut, "going offline")
	closeErr := n.Close() // ends the sessions, then closes events
	<-done
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := rec.flush(fctx); err != nil {
		return fmt.Errorf("record the last sync: %w", err)
	}
	if closeErr != nil {
		return fmt.Errorf("go offline: %w", closeErr)
	}
	return nil
}

// logEvents tells, in words, what happens to the sessions of a node until
// its events close, and records each device's last sync.
func logEvents(ctx context.Context, w io.Writer, events <-chan tsync.Event, rec *syncRecorder) {
	wctx := context.WithoutCancel(ctx)
	insync := map[string]bool{} // by peer: said "in sync" since it came online
	// A device whose data is refused is redialed and refused again: its
	// refusal is told once, and its connects and disconnects not at all,
	// until it syncs or is refused for another reason.
	refusing := map[string]string{} // by peer: the refusal told
	told := map[string]bool{}       // damage told, by peer, document and reason
	transfers := map[string]*transferLog{}
	pathTold := map[string]tsync.Path{} // by peer: the way of reaching it told
	tick := time.NewTicker(recordEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := rec.flush(wctx); err != nil {
				fmt.Fprintf(w, "cannot record the last sync: %v\n", oneLine(err.Error()))
			}
			continue
		case ev, ok := <-events:
			if !ok {
				return
			}
			name := remoteName(ev.Peer.String(), ev.Remote)
			switch ev.Type {
			case tsync.PeerOnline:
				insync[ev.Peer.String()] = false
				if refusing[ev.Peer.String()] == "" {
					fmt.Fprintf(w, "connected to %s\n", name)
				}
			case tsync.PeerOffline:
				delete(insync, ev.Peer.String())
				if l := transfers[ev.Peer.String()]; l != nil {
					if line := l.stopped(name); line != "" {
						fmt.Fprintln(w, line)
					}
					delete(transfers, ev.Peer.String())
				}
				switch {
				case refusalOf(ev.Err) != nil:
					// Told by the Refused event that follows.
				case errors.Is(ev.Err, trustsync.ErrCheckUnavailable):
					// Checks that cannot run have a line of their own.
				case ev.Err != nil && !errors.Is(ev.Err, context.Canceled) && !errors.Is(ev.Err, tsync.ErrOffline):
					fmt.Fprintf(w, "disconnected from %s: %s\n", name, oneLine(ev.Err.Error()))
				default:
					// A partner going offline (its serve stopped, its
					// connection closed or reset) is no error.
					fmt.Fprintf(w, "disconnected from %s\n", name)
				}
			case tsync.Unpaired:
				// serve never unpairs ('trustsync unpair' does, in a
				// process of its own): this is a device telling this one
				// that it unpaired it.
				fmt.Fprintln(w, unpairedByLine(ev.Remote))
			case tsync.ChecksUnavailable:
				fmt.Fprintf(w, "cannot take changes from %s: %s; still online, retrying by itself\n", name, uncheckedServeWords(ev.Err))
			case tsync.ChecksRestored:
				fmt.Fprintf(w, "checks work again: syncing with %s resumes\n", name)
			case tsync.Progress:
				l := transfers[ev.Peer.String()]
				if l == nil {
					l = &transferLog{}
					transfers[ev.Peer.String()] = l
				}
				for _, line := range l.lines(name, ev.Progress) {
					fmt.Fprintln(w, line)
				}
			case tsync.PathChanged:
				rec.path(ev.Remote.DeviceID, ev.Path)
				if line := pathLine(name, ev.Path, false); line != "" && pathTold[ev.Peer.String()] != ev.Path {
					pathTold[ev.Peer.String()] = ev.Path
					fmt.Fprintln(w, line)
				}
			case tsync.ChangesReceived:
				if words := receivedWords(ev.Received.Items); words != "" {
					fmt.Fprintf(w, "received %s from %s\n", words, name)
				}
			case tsync.Refused:
				re := refusalOf(ev.Err)
				if re == nil {
					continue
				}
				line := refusalLine(ev.Peer.String(), re)
				if refusing[ev.Peer.String()] == line {
					continue
				}
				refusing[ev.Peer.String()] = line
				fmt.Fprintln(w, line)
				if err := recordRefusal(wctx, rec.st, re, rec.now()); err != nil {
					fmt.Fprintf(w, "cannot record the refusal: %v\n", oneLine(err.Error()))
				}
			case tsync.ChangeRefused:
				key := fmt.Sprintf("refused %s %v %q %q", ev.Peer, ev.Refusal.Remote, ev.Refusal.Doc, ev.Refusal.Reason)
				if told[key] {
					continue
				}
				told[key] = true
				if ev.Refusal.Remote {
					fmt.Fprintf(w, "%s refused a change this device sent to %s: %s\n", name, ev.Refusal.Doc, oneLine(ev.Refusal.Reason))
				} else {
					fmt.Fprintf(w, "refused a change to %s from %s: %s; the other documents sync on\n", ev.Refusal.Doc, name, oneLine(ev.Refusal.Reason))
				}
			case tsync.DocDamaged, tsync.DocRestored:
				key := fmt.Sprintf("%s %v %v %q %q", ev.Peer, ev.Type, ev.Damage.Remote, ev.Damage.Doc, ev.Damage.Reason)
				if told[key] {
					continue
				}
				told[key] = true
				fmt.Fprintln(w, serveDamageLine(ev))
			case tsync.Synced:
				delete(refusing, ev.Peer.String())
				if !insync[ev.Peer.String()] {
					insync[ev.Peer.String()] = true
					fmt.Fprintf(w, "in sync with %s\n", name)
				}
				if err := rec.synced(wctx, ev.Remote.DeviceID); err != nil {
					fmt.Fprintf(w, "cannot record the last sync: %v\n", oneLine(err.Error()))
				}
			}
		}
	}
}

// pathLine says, for serve (now) and sync (done), that the device name
// is reached through a relay or through a hole punched in both routers;
// "" for a direct connection, the usual case, which needs no line.
func pathLine(name string, p tsync.Path, done bool) string {
	verb := "reaching"
	if done {
		verb = "reached"
	}
	switch p {
	case tsync.PathRelayed:
		return fmt.Sprintf("%s %s through a relay: the sync stays end-to-end encrypted, the relay sees only that your devices talk", verb, name)
	case tsync.PathHolePunched:
		return fmt.Sprintf("%s %s directly through both routers (hole punched), not through the relay", verb, name)
	}
	return ""
}

// unpairedByLine tells that the device r unpaired this one, and what that
// means here.
func unpairedByLine(r tsync.Remote) string {
	who := r.MemberName
	if who == "" {
		who = "your partner"
	}
	return oneLine(fmt.Sprintf("%s unpaired this device from %q: it no longer syncs with %s's devices, and keeps everything shared so far", who, r.DeviceName, who))
}

// notPairedLine says why serve has no device to sync with: none was ever
// paired, or every one was unpaired.
func notPairedLine(ctx context.Context, f *Factory) string {
	if at, ok := unpairedSince(ctx, f); ok {
		return fmt.Sprintf("not paired with any device since the unpairing %s: to sync with a partner again, pair with 'trustsync pair'", relTime(f.Now(), at))
	}
	return "not paired with any device yet: pair with 'trustsync pair' to sync with your partner"
}

// unpairedSince reports whether the partner left -- every device of theirs
// unpaired, from either side -- and when the last of them was.
func unpairedSince(ctx context.Context, f *Factory) (time.Time, bool) {
	sp, err := f.Space(ctx)
	if err != nil {
		return time.Time{}, false
	}
	r, err := loadRoster(ctx, sp)
	if err != nil {
		return time.Time{}, false
	}
	p, ok := r.partner()
	if !ok {
		return time.Time{}, false
	}
	return r.left(p)
}

// uncheckedServeWords says why serve cannot take changes, from an error
// wrapping trustsync.ErrCheckUnavailable, in the words of uncheckedLine.
func uncheckedServeWords(err error) string {
	why := ""
	var ue *trustsync.CheckUnavailableError
	if errors.As(err, &ue) && ue.Why != "" {
		why = " (" + ue.Why + ")"
	}
	return "the process that checks received data before it is applied could not run" + why +
		"; nothing was applied and nothing is lost: raise the open-file limit (ulimit -n) or free memory"
}

// receivedWords counts the distinct items of each kind that received
// changes touched, in words ("2 boundaries and 1 check-in").
func receivedWords(items []crdt.ItemRef) string {
	seen := map[crdt.ItemRef]bool{}
	tally := map[string]int{}
	for _, it := range items {
		if !seen[it] {
			seen[it] = true
			tally[it.Kind]++
		}
	}
	return tsync.Words(tally)
}

// remoteName names a device the way sync reports do: "Sam (sam-laptop)",
// or the end of its peer ID before the hello said who it is.
func remoteName(peerID string, r tsync.Remote) string {
	switch {
	case r.MemberName != "" && r.DeviceName != "":
		return fmt.Sprintf("%s (%s)", r.MemberName, r.DeviceName)
	case r.MemberName != "":
		return r.MemberName
	case len(peerID) > 8:
		return "device " + peerID[len(peerID)-8:]
	}
	return "device " + peerID
}

// warnLogger writes the node's warnings to w as plain lines; debug and info
// messages are dropped.
func warnLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// serveDamageLine tells what serve does about a document damaged on one
// side, or restored.
func serveDamageLine(ev tsync.Event) string {
	who := deviceWords(ev.Peer.String(), ev.Remote)
	d := ev.Damage
	switch {
	case ev.Type == tsync.DocRestored:
		return restoredLine(ev.Peer.String(), ev.Remote, d.Doc)
	case d.Remote:
		return oneLine(fmt.Sprintf("document %q is damaged on %s (%s): sending it this device's copy; the other documents sync on", d.Doc, who, d.Reason))
	}
	return oneLine(fmt.Sprintf("document %q is damaged on this device: restoring it from %s if it has a copy; the other documents sync on: %s", d.Doc, who, d.Reason))
}
