package netlab_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/trustsync/trustsync/cli"
)

// TestMain lets the test binary act as two commands, run inside the
// namespaces: `trustsync` (the real main, so that the end-to-end tests
// run real trustsync processes without building the command first) and
// `netprobe` (a small UDP tool that shows what the routers do).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"trustsync": func() { os.Exit(runTrustsync()) },
		"netprobe":  func() { os.Exit(netprobe(os.Args[1:])) },
	})
}

// runTrustsync is cmd/trustsync's main.
func runTrustsync() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := cli.NewFactory(cli.System())
	return cli.Execute(ctx, f, cli.NewCmdRoot(f), os.Args[1:])
}

// netprobe is a small UDP tool:
//
//	netprobe echo PORT             answers every datagram on PORT with the
//	                               address it came from; prints "ready"
//	                               once listening, runs until killed
//	netprobe ask PORT ADDR:PORT... from local PORT, asks each address in
//	                               turn and prints "ADDR:PORT SEEN RTT",
//	                               SEEN what it answered, or
//	                               "ADDR:PORT timeout" after 1 s
func netprobe(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: netprobe echo PORT | netprobe ask PORT ADDR:PORT...")
		return 2
	}
	port, err := strconv.Atoi(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "netprobe: port:", err)
		return 2
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{Port: port})
	if err != nil {
		fmt.Fprintln(os.Stderr, "netprobe:", err)
		return 1
	}
	defer conn.Close()
	buf := make([]byte, 1500)
	switch args[0] {
	case "echo":
		fmt.Println("ready")
		for {
			_, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				fmt.Fprintln(os.Stderr, "netprobe:", err)
				return 1
			}
			_, _ = conn.WriteToUDP([]byte(from.String()), from)
		}
	case "ask":
		out := bufio.NewWriter(os.Stdout)
		defer out.Flush()
		for _, a := range args[2:] {
			to, err := net.ResolveUDPAddr("udp4", a)
			if err != nil {
				fmt.Fprintln(os.Stderr, "netprobe:", err)
				return 2
			}
			start := time.Now()
			if _, err := conn.WriteToUDP([]byte("?"), to); err != nil {
				fmt.Fprintf(out, "%s timeout\n", a)
				continue
			}
			_ = conn.SetReadDeadline(time.Now().Add(time.Second))
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				fmt.Fprintf(out, "%s timeout\n", a)
				continue
			}
			fmt.Fprintf(out, "%s %s %s\n", a, buf[:n], time.Since(start))
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "netprobe: unknown command", args[0])
	return 2
}
