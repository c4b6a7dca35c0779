// Command app is what an application built on trustsync looks like: it
// keeps one partner's data in an encrypted home opened through package
// home, pairs that device with the other partner's (a second home, which
// would be on the partner's phone; here in the same process), and syncs a
// moment both of them then see. Nothing goes beyond 127.0.0.1.
//
//	go run ./examples/app                 # in a new temporary directory
//	go run ./examples/app -dir ~/our-app  # keeps the homes there
//
// The passphrase comes from APP_PASSPHRASE (a demo one when unset). A
// second run with the same -dir opens the existing homes, pairs again only
// when they are not paired yet, and adds one more moment.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/sync"
)

func main() {
	dir := flag.String("dir", "", "where to keep the two homes (default: a new temporary directory, removed at the end)")
	flag.Parse()
	pass := os.Getenv("APP_PASSPHRASE")
	if pass == "" {
		pass = "a demo passphrase, not a secret"
	}
	if err := run(os.Stdout, *dir, []byte(pass)); err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, dir string, pass []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if dir == "" {
		tmp, err := os.MkdirTemp("", "trustsync-app-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	loopback := []string{"/ip4/127.0.0.1/tcp/0"}

	// This device's home, encrypted: made on the first run, opened with
	// the passphrase on every later one. NoKeeper: the app asks for the
	// passphrase itself and keeps the key nowhere.
	mine := filepath.Join(dir, "alex")
	opts := home.Options{Passphrase: pass, Keeper: home.NoKeeper()}
	alex, err := home.Open(mine, opts)
	if errors.Is(err, trustsync.ErrNotInitialized) {
		alex, err = home.Create(mine, home.CreateOptions{
			Options: opts, Name: "Alex", Device: "alex-laptop", Encrypt: true, Listen: loopback, NoMDNS: true,
		})
	}
	if err != nil {
		return fmt.Errorf("open Alex's home: %w", err)
	}
	defer alex.Close()
	fmt.Fprintf(w, "Alex's home is open (encrypted: %v).\n", alex.Encrypted())

	// The partner's device: on the partner's phone in real life.
	theirs := filepath.Join(dir, "sam")
	sam, err := home.Open(theirs, home.Options{Keeper: home.NoKeeper()})
	if errors.Is(err, trustsync.ErrNotInitialized) {
		sam, err = home.Create(theirs, home.CreateOptions{
			Options: home.Options{Keeper: home.NoKeeper()}, Name: "Sam", Device: "sam-phone", Listen: loopback, NoMDNS: true,
		})
	}
	if err != nil {
		return fmt.Errorf("open Sam's home: %w", err)
	}
	defer sam.Close()

	// Online; each home keeps the port it got, so the two find each other
	// again on the next run.
	alexNode, err := alex.StartNode(ctx, home.NodeOptions{})
	if err != nil {
		return err
	}
	samNode, err := sam.StartNode(ctx, home.NodeOptions{})
	if err != nil {
		return err
	}

	if alex.Space().Self().SpaceID != sam.Space().Self().SpaceID {
		inv, err := alexNode.Invite(ctx, sync.InviteOptions{})
		if err != nil {
			return err
		}
		defer inv.Close()
		joined := make(chan sync.PairResult, 1)
		go func() {
			res, err := samNode.Join(ctx, inv.Invite(), sync.JoinOptions{})
			if err != nil {
				fmt.Fprintln(w, "Sam's phone could not join:", err)
				cancel()
			}
			joined <- res
		}()
		res, err := inv.Wait(ctx)
		if err != nil {
			return fmt.Errorf("pair: %w", err)
		}
		if other := <-joined; other.Code != res.Code {
			return fmt.Errorf("pair: the codes differ (%s and %s): someone else joined", res.Code, other.Code)
		}
		fmt.Fprintf(w, "Paired with %s's %s; both devices showed the same code.\n", res.Remote.MemberName, res.Remote.DeviceName)
	}

	// Alex writes; once Alex's device knows Sam's holds all it has, Sam's
	// phone shows it. The two nodes find each other by themselves (each
	// dials the devices it trusts, at the addresses it keeps); WaitSynced
	// waits for that, across a failed first dial.
	text := "Dinner on the balcony, phones inside"
	id, err := alex.Space().AddMoment(ctx, text, false)
	if err != nil {
		return err
	}
	if err := alexNode.WaitSynced(ctx, samNode.ID()); err != nil {
		return err
	}
	ms, err := sam.Space().Moments(ctx)
	if err != nil {
		return err
	}
	shown := false
	for _, m := range ms {
		if m.ID == id {
			shown = true
			fmt.Fprintf(w, "Sam's phone shows the moment %q by %s (%s in all).\n", m.Text, m.By.Name, moments(len(ms)))
		}
	}
	if !shown {
		return errors.New("Sam's phone does not show the moment after the sync")
	}

	// At rest, Alex's home holds no readable text, and it does not open
	// without the passphrase.
	plain := false
	for _, f := range []string{"trustsync.db", "trustsync.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(mine, f))
		plain = plain || bytes.Contains(b, []byte(text))
	}
	fmt.Fprintf(w, "The moment's text is readable in Alex's files on disk: %v.\n", plain)
	_, err = home.Open(mine, home.Options{Keeper: home.NoKeeper()})
	fmt.Fprintf(w, "Opening Alex's home without the passphrase is refused as locked: %v.\n", errors.Is(err, home.ErrLocked))
	return nil
}

func moments(n int) string {
	if n == 1 {
		return "1 moment"
	}
	return fmt.Sprintf("%d moments", n)
}
