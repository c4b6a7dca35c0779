// Command trustsync keeps the boundaries, goals and check-ins of a couple
// rebuilding trust on their own devices, and syncs them peer to peer.
//
// Run 'trustsync --help' for the commands; package cli implements them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/trustsync/trustsync/cli"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := cli.NewFactory(cli.System())
	return cli.Execute(ctx, f, cli.NewCmdRoot(f), os.Args[1:])
}
