package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// RelayUseOptions are the inputs of 'trustsync relay use'.
type RelayUseOptions struct {
	Factory *Factory
	Addr    string
}

// NewCmdRelayUse returns 'trustsync relay use'.
func NewCmdRelayUse(f *Factory, runF func(*RelayUseOptions) error) *cobra.Command {
	opts := &RelayUseOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "use ADDR",
		Short: "Record a relay your devices meet through",
		Long: heredoc(`
			Record the relay at ADDR -- the address 'trustsync relay' printed,
			ending in /p2p/ and the relay's peer ID -- in what the two of you
			share. Every device of both of you learns it at its next sync, and
			from then on keeps a reservation on it while online (so the others
			can reach it through the relay) and reaches the others through it
			when it cannot reach them directly. Pairing invites made afterwards
			carry it, so two devices on different networks can pair.

			Record only a relay the two of you trust to stay up: it sees which
			of your devices talk and when, their network addresses and how much
			they send, never what (see 'trustsync relay'). trustsync knows no
			public relays and uses none you did not record: a relay someone
			else runs works too, if you accept what it learns. At most 8
			relays are recorded; recording one twice changes nothing.
		`),
		Example: examples(`
			$ trustsync relay use /ip4/203.0.113.7/tcp/4001/p2p/12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X
		`),
		Args: exactArgs("ADDR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := crdt.RelayAddr(args[0])
			if err != nil {
				return usageErrorf("%s", stripSentinel(err, trustsync.ErrInvalid))
			}
			opts.Addr = addr
			if runF != nil {
				return runF(opts)
			}
			return relayUseRun(cmd.Context(), opts)
		},
	}
	return cmd
}

// recordedRelays opens this device's space and reads the relays the
// couple recorded.
func recordedRelays(ctx context.Context, f *Factory) (*crdt.Space, []string, error) {
	sp, err := f.Space(ctx)
	if err != nil {
		return nil, nil, err
	}
	have, err := sp.Relays(ctx)
	if err != nil {
		return nil, nil, err
	}
	return sp, have, nil
}

func relayUseRun(ctx context.Context, opts *RelayUseOptions) error {
	f := opts.Factory
	sp, have, err := recordedRelays(ctx, f)
	if err != nil {
		return err
	}
	if slices.Contains(have, opts.Addr) {
		fmt.Fprintf(f.IOStreams.Out, "relay %s is already recorded\n", opts.Addr)
		return nil
	}
	if err := sp.UseRelay(ctx, opts.Addr); err != nil {
		if errors.Is(err, trustsync.ErrInvalid) {
			return failf("cannot record relay %s: %s", opts.Addr, oneLine(stripSentinel(err, trustsync.ErrInvalid)))
		}
		return err
	}
	fmt.Fprintf(f.IOStreams.Out, "recorded relay %s: your devices and your partner's use it from their next sync\n", opts.Addr)
	return nil
}

// RelayListOptions are the inputs of 'trustsync relay list'.
type RelayListOptions struct {
	Factory *Factory
	JSON    bool
}

// NewCmdRelayList returns 'trustsync relay list'.
func NewCmdRelayList(f *Factory, runF func(*RelayListOptions) error) *cobra.Command {
	opts := &RelayListOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the relays your devices meet through",
		Long: heredoc(`
			List the relays recorded with 'trustsync relay use', in the order
			they were recorded: the same list on every device of both of you once
			they have synced. Relays added for this run with TRUSTSYNC_RELAYS
			are listed after them, marked so.

			--json prints an array of objects: addr, peer_id (the relay's), and
			source: "space" for a recorded relay, "environment" for one from
			TRUSTSYNC_RELAYS.

			list reads only this device's data; it does not go online.
		`),
		Example: examples(`
			$ trustsync relay list
			$ trustsync relay list --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return relayListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON array")
	return cmd
}

type relayJSON struct {
	Addr   string `json:"addr"`
	PeerID string `json:"peer_id"`
	Source string `json:"source"`
}

func relayListRun(ctx context.Context, opts *RelayListOptions) error {
	f := opts.Factory
	_, recorded, err := recordedRelays(ctx, f)
	if err != nil {
		return err
	}
	sw, err := readNetSwitches(f.Getenv)
	if err != nil {
		return &userError{msg: err.Error(), err: err}
	}
	out := []relayJSON{}
	seen := map[string]bool{}
	for _, group := range []struct {
		source string
		addrs  []string
	}{{"space", recorded}, {"environment", sw.Relays}} {
		for _, a := range group.addrs {
			if seen[a] {
				continue
			}
			seen[a] = true
			v := relayJSON{Addr: a, Source: group.source}
			if m, err := ma.NewMultiaddr(a); err == nil {
				v.PeerID, _ = m.ValueForProtocol(ma.P_P2P)
			}
			out = append(out, v)
		}
	}
	if opts.JSON {
		return writeJSON(f.IOStreams.Out, out)
	}
	w := f.IOStreams.Out
	if len(out) == 0 {
		fmt.Fprintln(w, "no relay recorded: your devices reach each other directly only (on one network, or where a router lets them in); 'trustsync relay --help' says how to run and record one")
		return nil
	}
	for _, r := range out {
		if r.Source == "environment" {
			fmt.Fprintf(w, "%s (this run only, from TRUSTSYNC_RELAYS)\n", r.Addr)
			continue
		}
		fmt.Fprintln(w, r.Addr)
	}
	if sw.NoRelay {
		fmt.Fprintln(w, "TRUSTSYNC_RELAY=off: commands run with it use none of them")
	}
	return nil
}

// RelayForgetOptions are the inputs of 'trustsync relay forget'.
type RelayForgetOptions struct {
	Factory *Factory
	Addr    string
}

// NewCmdRelayForget returns 'trustsync relay forget'.
func NewCmdRelayForget(f *Factory, runF func(*RelayForgetOptions) error) *cobra.Command {
	opts := &RelayForgetOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "forget ADDR",
		Short: "Stop using a relay",
		Long: heredoc(`
			Remove a relay recorded with 'trustsync relay use': ADDR as 'trustsync
			relay list' shows it, or the relay's peer ID (the part after /p2p/).
			Every device of both of you stops using it at its next sync.
		`),
		Example: examples(`
			$ trustsync relay forget /ip4/203.0.113.7/tcp/4001/p2p/12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X
		`),
		Args: exactArgs("ADDR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr = strings.TrimSpace(args[0])
			if opts.Addr == "" {
				return usageErrorf("ADDR is empty: give a relay as 'trustsync relay list' shows it")
			}
			if runF != nil {
				return runF(opts)
			}
			return relayForgetRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func relayForgetRun(ctx context.Context, opts *RelayForgetOptions) error {
	f := opts.Factory
	sp, have, err := recordedRelays(ctx, f)
	if err != nil {
		return err
	}
	var match []string
	for _, a := range have {
		if a == opts.Addr || !strings.Contains(opts.Addr, "/") && strings.HasSuffix(a, "/p2p/"+opts.Addr) {
			match = append(match, a)
		}
	}
	if len(match) == 0 {
		return failf("relay %s is not recorded: 'trustsync relay list' shows the recorded ones", opts.Addr)
	}
	for _, a := range match {
		if err := sp.ForgetRelay(ctx, a); err != nil && !errors.Is(err, trustsync.ErrNotFound) {
			return err
		}
		fmt.Fprintf(f.IOStreams.Out, "forgot relay %s: your devices and your partner's stop using it from their next sync\n", a)
	}
	return nil
}
