package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync/home"
	tsync "github.com/trustsync/trustsync/sync"
	"github.com/trustsync/trustsync/ui"
)

// UIOptions are the inputs of 'trustsync ui'.
type UIOptions struct {
	Factory *Factory
	// Port is the port of 127.0.0.1 to serve the page on; 0 picks a free
	// one (--port).
	Port int
	// NoOpen leaves the browser closed (--no-open).
	NoOpen bool
	// Listen replaces the stored listen addresses of the node for this
	// run (--listen), as for serve.
	Listen []string
	// OpenBrowser opens url in a browser. Default: xdg-open (open on
	// macOS) when a display exists.
	OpenBrowser func(url string) error
}

// NewCmdUI returns 'trustsync ui'. runF replaces the command's work in
// tests; nil runs it.
func NewCmdUI(f *Factory, runF func(*UIOptions) error) *cobra.Command {
	opts := &UIOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "ui [--port N] [--no-open] [--listen MULTIADDR]...",
		Short: "Open a page in your browser to do all of this by clicking",
		Long: heredoc(`
			Show this home as a page in your web browser, served by this device
			alone: status and what is due, boundaries, goals, check-ins, the
			practices, history, your journal, pairing and devices. It stays
			online as 'trustsync serve' does, so what your partner writes
			appears on the page as it arrives.

			ui prints the page's address on standard output and opens it in
			your browser when this machine has a display (--no-open leaves it
			closed). The address carries a secret made for this run, which the
			browser trades for a cookie on its first visit: keep it to
			yourself while ui runs. The page answers only on 127.0.0.1 of this
			device, on a free port or the one given with --port, and loads
			nothing from the internet.

			A locked home shows only a page asking for its passphrase, unless
			TRUSTSYNC_PASSPHRASE opens it, as for every command. Stop ui
			with Ctrl-C; everything written is already saved. --listen replaces
			the node's addresses for this run, as for serve.
		`),
		Example: examples(`
			$ trustsync ui
			$ trustsync ui --no-open --port 8421
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Port < 0 || opts.Port > 65535 {
				return usageErrorf("--port must be from 0 to 65535, not %d", opts.Port)
			}
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
			return uiRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVar(&opts.Port, "port", 0, "the `PORT` of 127.0.0.1 to serve the page on; 0 picks a free one")
	cmd.Flags().BoolVar(&opts.NoOpen, "no-open", false, "print the address without opening a browser")
	cmd.Flags().StringArrayVar(&opts.Listen, "listen", nil, "a `MULTIADDR` for the node to listen on instead of the kept ones; repeat for several")
	return cmd
}

func uiRun(ctx context.Context, opts *UIOptions) error {
	f := opts.Factory
	dir, err := f.Home()
	if err != nil {
		return err
	}
	release, err := lockHome(f, "ui")
	if err != nil {
		return err
	}
	defer release()
	errOut := f.IOStreams.ErrOut
	hopts := f.options()
	hopts.AskPassphrase = nil // the page asks
	if p := f.Getenv("TRUSTSYNC_PASSPHRASE"); p != "" {
		hopts.Passphrase = []byte(p) // as for every command
	}
	srv, err := ui.New(ui.Options{
		Dir:    dir,
		Addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port)),
		Home:   hopts,
		Now:    f.Now,
		Logger: warnLogger(errOut),
		Start: func(ctx context.Context, h *home.Home) (*tsync.Node, func() error, error) {
			return uiStartNode(ctx, f, h, opts.Listen)
		},
	})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		srv.Close()
		var user *userError
		if errors.As(err, &user) {
			return err
		}
		if isListenError(err) {
			return failf("cannot serve the page on port %d (%s): choose another with --port, or 0 for a free one", opts.Port, oneLine(err.Error()))
		}
		return f.homeError(err, dir)
	}
	fmt.Fprintln(f.IOStreams.Out, srv.URL())
	fmt.Fprintln(errOut, "The page is served on this device only. Keep its address to yourself while ui runs: it opens your home. Stop with Ctrl-C.")
	if !opts.NoOpen {
		open := opts.OpenBrowser
		if open == nil {
			open = systemBrowser(f.Getenv)
		}
		if open == nil {
			fmt.Fprintln(errOut, "No display here to open a browser on: open the address above in a browser of this device.")
		} else if err := open(srv.URL()); err != nil {
			fmt.Fprintf(errOut, "Could not open a browser (%s): open the address above yourself.\n", oneLine(err.Error()))
		}
	}
	<-ctx.Done()
	fmt.Fprintln(errOut, "going offline")
	return srv.Close()
}

// isListenError reports whether err is the failure to listen on the
// page's port.
func isListenError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "listen"
}

// uiStartNode starts the node of the home the page opened, as serve does:
// its events told on standard error, the last syncs recorded, farewells
// sent to devices unpaired while offline. The returned stop undoes it.
func uiStartNode(ctx context.Context, f *Factory, h *home.Home, listen []string) (*tsync.Node, func() error, error) {
	f.home = h // the page's home is this command's
	errOut := f.IOStreams.ErrOut
	var events <-chan tsync.Event
	n, err := f.StartNode(ctx, NodeOptions{
		Listen:      listen,
		Logger:      warnLogger(errOut),
		BeforeStart: func(n *tsync.Node) { events, _ = n.Subscribe() },
	})
	if err != nil {
		f.home = nil
		return nil, nil, err
	}
	rec := newSyncRecorder(h.Store(), f.recordLastSync, f.Now)
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		logEvents(lctx, errOut, events, rec)
	}()
	farewells := make(chan struct{})
	go func() {
		defer close(farewells)
		farewellLoop(lctx, h.Space(), h.Store(), n, errOut)
	}()
	return n, func() error {
		cancel()
		<-farewells
		closeErr := n.Close() // closes events, which ends logEvents
		<-logged
		fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer fcancel()
		flushErr := rec.flush(fctx)
		f.home = nil // the page closes it
		if closeErr != nil {
			return fmt.Errorf("go offline: %w", closeErr)
		}
		if flushErr != nil {
			return fmt.Errorf("record the last sync: %w", flushErr)
		}
		return nil
	}, nil
}

// systemBrowser returns what opens a URL in the browser of this machine,
// or nil when there is no display to open one on.
func systemBrowser(getenv func(string) string) func(url string) error {
	var name string
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		return nil
	default:
		if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
			return nil
		}
		name = "xdg-open"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return nil
	}
	return func(url string) error {
		cmd := exec.Command(path, url)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
		cmd.Env = os.Environ()
		if err := cmd.Start(); err != nil {
			return err
		}
		go cmd.Wait() // reaps the opener, which exits once the browser has the URL
		return nil
	}
}
