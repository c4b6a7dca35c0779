package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/store"
)

// InitOptions are the inputs of 'trustsync init'.
type InitOptions struct {
	Factory *Factory
	Name    string
	Device  string
	Listen  []string
	NoMDNS  bool
	// Encrypt encrypts the home at rest under a passphrase (lock.go).
	Encrypt bool
	// ListenGiven is set when --listen was given, so that the environment
	// does not override it.
	ListenGiven bool
}

// NewCmdInit returns 'trustsync init'. runF replaces the command's work in
// tests; nil runs it.
func NewCmdInit(f *Factory, runF func(*InitOptions) error) *cobra.Command {
	opts := &InitOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "init --name NAME [--listen MULTIADDR]... [--no-mdns] [--device NAME]",
		Short: "Set up this device with your name and an empty shared space",
		Long: heredoc(`
			Set up this device: your name as your partner will see it, a name for
			this device, and an empty space for your boundaries, goals and
			check-ins. Pair with your partner afterwards to share it.

			--listen sets the addresses this device listens on when it syncs
			(default: TCP and QUIC on all interfaces). A port of 0 is picked by
			the system the first time the device goes online, and kept from
			then on, so your partner's devices can find this one again.
			--no-mdns turns off discovery on the local network.
			TRUSTSYNC_LISTEN (comma-separated) and TRUSTSYNC_MDNS=off do the
			same from the environment.

			--device names this device for the two of you (default: the host
			name; for a home in a directory not named "trustsync", the host name
			and the directory name, as in laptop-alex, so that two homes on one
			machine are told apart).

			init prints the new device's ID on standard output. It sends nothing
			over the network, and fails if the home already holds a space.
		`),
		Example: examples(`
			$ trustsync init --name Sam
			$ trustsync init --name Sam --device sam-laptop
			$ trustsync --home /tmp/alex init --name Alex --listen /ip4/127.0.0.1/tcp/0 --no-mdns
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ListenGiven = cmd.Flags().Changed("listen")
			if strings.TrimSpace(opts.Name) == "" {
				return usageErrorf("--name is required: it is how your partner will see you")
			}
			if err := crdt.CheckNames(opts.Name, opts.Device); err != nil {
				return &UsageError{Err: errors.New(stripSentinel(err, trustsync.ErrInvalid))}
			}
			for _, a := range opts.Listen {
				if err := CheckMultiaddr(a); err != nil {
					return &UsageError{Err: err}
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return initRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", "", "your `NAME`, as your partner will see it")
	cmd.Flags().StringVar(&opts.Device, "device", "", "a `NAME` for this device (default: the host name, and the home's directory name unless it is \"trustsync\")")
	cmd.Flags().StringArrayVar(&opts.Listen, "listen", nil, "a `MULTIADDR` to listen on when syncing; repeat for several")
	cmd.Flags().BoolVar(&opts.NoMDNS, "no-mdns", false, "do not look for your partner's devices on the local network")
	cmd.Flags().BoolVar(&opts.Encrypt, "encrypt", false, "encrypt everything in the home under a passphrase (asked, or TRUSTSYNC_PASSPHRASE); see 'trustsync unlock'")
	return cmd
}

func initRun(ctx context.Context, opts *InitOptions) error {
	f := opts.Factory
	cfg := Config{Listen: opts.Listen, MDNS: !opts.NoMDNS}
	if !opts.ListenGiven {
		cfg.Listen = append([]string(nil), DefaultListen...)
	}
	env, err := applyEnv(cfg, f.Getenv)
	if err != nil {
		return &userError{msg: err.Error(), err: err}
	}
	if !opts.ListenGiven {
		cfg.Listen = env.Listen
	}
	cfg.MDNS = cfg.MDNS && env.MDNS
	dir, err := f.Home()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	copts := home.CreateOptions{
		Options: f.options(),
		Name:    strings.TrimSpace(opts.Name),
		Device:  strings.TrimSpace(opts.Device),
		Listen:  cfg.Listen,
		NoMDNS:  !cfg.MDNS,
		Encrypt: opts.Encrypt,
		KDF:     f.kdfParams(),
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		// Before asking for a passphrase that could not be used.
		return f.homeError(fmt.Errorf("create home %s: %w", dir, home.ErrNotDir), dir)
	}
	if opts.Encrypt {
		if _, err := os.Stat(filepath.Join(dir, store.FileName)); err == nil {
			return &userError{msg: fmt.Sprintf("%s already holds a space, so nothing was changed: encryption is set up only by init, on a new home", dir), err: trustsync.ErrAlreadyInitialized}
		}
		if copts.Passphrase, err = f.newPassphrase("TRUSTSYNC_PASSPHRASE", "this home"); err != nil {
			return err
		}
	}
	h, err := home.Create(dir, copts)
	if errors.Is(err, trustsync.ErrAlreadyInitialized) {
		return &userError{
			msg: fmt.Sprintf("%s already holds a space, so nothing was changed: use it as it is, or give another --home for another device", dir),
			err: err,
		}
	}
	if errors.Is(err, fs.ErrExist) && !errors.Is(err, trustsync.ErrAlreadyInitialized) {
		if target, lerr := os.Readlink(dir); lerr == nil {
			return &userError{
				msg: fmt.Sprintf("cannot make a home in %s: it is a link to %s, which does not exist: make that directory, or give --home another DIR", dir, target),
				err: err,
			}
		}
	}
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return &userError{
			msg: fmt.Sprintf("cannot make a home in %s (%s): give --home a DIR this user may write to", dir, fileProblem(err, filepath.Dir(dir))),
			err: err,
		}
	}
	if err != nil {
		return f.homeError(err, dir)
	}
	f.home = h
	self := h.Space().Self()
	w := f.IOStreams.ErrOut
	fmt.Fprintf(w, "Welcome, %s. This device (%s) is ready, with its data in %s.\n", self.MemberName, self.DeviceName, dir)
	fmt.Fprintf(w, "Next: invite your partner with 'trustsync pair', and add what matters to you with\n")
	fmt.Fprintf(w, "'trustsync boundary add', 'trustsync goal add' or 'trustsync checkin add'.\n")
	if opts.Encrypt {
		f.tellEncrypted(h)
	}
	fmt.Fprintln(f.IOStreams.Out, self.DeviceID)
	return nil
}
