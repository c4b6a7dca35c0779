package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/spf13/cobra"

	"github.com/trustsync/trustsync/relay"
)

// RelayOptions are the inputs of 'trustsync relay' (running the service).
type RelayOptions struct {
	Factory *Factory
	// Dir keeps the relay's key (--dir); empty means [DefaultRelayDir].
	Dir string
	// Listen replaces [relay.DefaultListen] (--listen).
	Listen []string
}

// NewCmdRelay returns 'trustsync relay' with its subcommands use, list and
// forget. runF replaces the service's work in tests; nil runs it.
func NewCmdRelay(f *Factory, runF func(*RelayOptions) error) *cobra.Command {
	opts := &RelayOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "relay [--dir DIR] [--listen MULTIADDR]...",
		Short: "Run a relay, or choose the relays your devices meet through",
		Long: heredoc(`
			Two devices on different networks -- at home and at work, or on two
			phones -- usually cannot reach each other directly: each is behind a
			router that lets nothing in. A relay is a small program on a machine
			both can reach (a server with a public address) that passes their
			sync along. Your sync stays end-to-end encrypted and checked as on a
			direct connection: the relay sees only that two devices talk, their
			network addresses and how much they send, never what. Where the
			routers allow it, the two devices then make a direct connection and
			the relay steps aside.

			'trustsync relay' runs a relay until interrupted (Ctrl-C, SIGINT or
			SIGTERM). It prints its addresses and the exact 'trustsync relay use'
			line to run on one of your devices; on standard error it logs each
			reservation (a device waiting to be reached through it) and each
			connection it carries, naming devices by the start of their peer IDs.
			It keeps nothing but its key, in --dir (default
			$XDG_DATA_HOME/trustsync-relay, else ~/.local/share/trustsync-relay),
			so its address stays the same when it restarts. It needs no home and
			syncs with no one. By default it listens on TCP and UDP port 4001 of
			every interface: open both in the server's firewall.

			'trustsync relay use ADDR' records a relay in what the two of you
			share: every device of both of you learns it at its next sync and
			uses it to be reached and to reach the others. 'trustsync relay
			list' shows the relays recorded, 'trustsync relay forget ADDR'
			removes one.

			A device never uses a relay for a device it reaches directly (on the
			same network, say). TRUSTSYNC_RELAY=off keeps a command from using
			any relay, TRUSTSYNC_HOLEPUNCH=off from making direct connections
			through routers, TRUSTSYNC_AUTONAT=off from asking other machines
			whether it can be reached; TRUSTSYNC_RELAYS=ADDR,ADDR adds relays for
			one run without recording them.
		`),
		Example: examples(`
			$ trustsync relay
			$ trustsync relay --listen /ip4/0.0.0.0/tcp/4001 --listen /ip4/0.0.0.0/udp/4001/quic-v1
			$ trustsync relay use /ip4/203.0.113.7/udp/4001/quic-v1/p2p/12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X
			$ trustsync relay list
		`),
		Args: noArgsOrUnknownCommand,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("listen") {
				opts.Listen = nil
			}
			if cmd.Flags().Changed("dir") && strings.TrimSpace(opts.Dir) == "" {
				return usageErrorf("--dir is empty: give the DIR that keeps the relay's key, or leave --dir out for the default")
			}
			for _, a := range opts.Listen {
				if err := relay.CheckListenAddr(a); err != nil {
					return usageErrorf("--listen: %v", err)
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return relayRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "the `DIR` that keeps the relay's key")
	cmd.Flags().StringArrayVar(&opts.Listen, "listen", nil, "a `MULTIADDR` to listen on instead of TCP and UDP port 4001 of every interface; repeat for several")
	cmd.AddCommand(NewCmdRelayUse(f, nil), NewCmdRelayList(f, nil), NewCmdRelayForget(f, nil))
	return cmd
}

// DefaultRelayDir is where 'trustsync relay' keeps its key without --dir:
// $XDG_DATA_HOME/trustsync-relay, else ~/.local/share/trustsync-relay. It
// is apart from any home: a relay often runs where no home is.
func DefaultRelayDir(getenv func(string) string) (string, error) {
	if xdg := getenv("XDG_DATA_HOME"); xdg != "" && filepath.IsAbs(xdg) {
		return filepath.Join(xdg, "trustsync-relay"), nil
	}
	h := getenv("HOME")
	if h == "" {
		return "", errors.New("HOME is not set")
	}
	return filepath.Abs(filepath.Join(h, ".local", "share", "trustsync-relay"))
}

func relayRun(ctx context.Context, opts *RelayOptions) error {
	f := opts.Factory
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = DefaultRelayDir(f.Getenv); err != nil {
			return failf("cannot tell where to keep the relay's key (%v): give --dir DIR", err)
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return failf("cannot use --dir %s: %v", opts.Dir, err)
	}
	errOut := f.IOStreams.ErrOut
	r, err := relay.New(relay.Options{Dir: dir, Listen: opts.Listen, Logger: relayLogger(errOut)})
	if err != nil {
		return &UsageError{Err: err}
	}
	if err := r.Start(ctx); err != nil {
		r.Close()
		var inUse *relay.PortInUseError
		if errors.As(err, &inUse) || strings.Contains(err.Error(), "address already in use") {
			addr := "a port the relay listens on"
			if inUse != nil {
				addr = inUse.Addr
			}
			return failf("%s is in use by another program (perhaps another relay): choose another with --listen", addr)
		}
		return failf("cannot start the relay: %s", oneLine(err.Error()))
	}
	writeRelayAddrs(f.IOStreams.Out, r.Addrs(), dir)
	<-ctx.Done()
	fmt.Fprintln(errOut, "stopping the relay")
	if err := r.Close(); err != nil {
		return fmt.Errorf("stop the relay: %w", err)
	}
	return nil
}

// writeRelayAddrs prints the relay's addresses and the line to give both
// partners: with its public address when it has one, and its QUIC address
// before its TCP one, since devices punch through their routers over QUIC
// only (they dial TCP from a port of their own, which no router keeps open
// for the other device).
func writeRelayAddrs(w io.Writer, addrs []ma.Multiaddr, dir string) {
	fmt.Fprintln(w, "relay listening on:")
	for _, a := range addrs {
		fmt.Fprintf(w, "  %s\n", a)
	}
	use, public := pickRelayAddr(addrs)
	fmt.Fprintln(w, "to use it, run this on one of your devices (every device of both of you learns it when it syncs):")
	if use != nil {
		fmt.Fprintf(w, "  trustsync relay use %s\n", use)
	}
	if !public && len(addrs) > 0 {
		parts := strings.Split(use.String(), "/")
		parts[2] = "PUBLIC-IP"
		fmt.Fprintf(w, "this machine has no public address: devices on other networks reach it only if a router forwards the relay's ports to it; then give the router's public address instead, like %s\n", strings.Join(parts, "/"))
	}
	fmt.Fprintf(w, "the relay keeps only its key, in %s; stop it with Ctrl-C\n", dir)
}

// pickRelayAddr returns the address to give both partners: public before
// private, then QUIC before TCP; public says whether it is public.
func pickRelayAddr(addrs []ma.Multiaddr) (use ma.Multiaddr, public bool) {
	rank := func(a ma.Multiaddr) int {
		r := 0
		if !manet.IsPublicAddr(a) {
			r += 2
		}
		if _, err := a.ValueForProtocol(ma.P_QUIC_V1); err != nil {
			r++
		}
		return r
	}
	for _, a := range addrs {
		if use == nil || rank(a) < rank(use) {
			use = a
		}
	}
	return use, use != nil && manet.IsPublicAddr(use)
}

// relayLogger writes the relay's log to w, one line each, with the time
// and without the level.
func relayLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.LevelKey {
				return slog.Attr{}
			}
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.String(slog.TimeKey, a.Value.Time().UTC().Format("2006-01-02T15:04:05Z"))
			}
			return a
		},
	}))
}
