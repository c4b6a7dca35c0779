package home_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/sync"
)

// An application keeps a partner's data in an encrypted home, pairs with
// the other partner's device -- here a second home in the same process, on
// 127.0.0.1 without mDNS -- and an edit made on one device reaches the
// other.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "trustsync-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	loopback := []string{"/ip4/127.0.0.1/tcp/0"}

	// Once: Alex's device makes its home, encrypted under a passphrase.
	pass := []byte("correct horse battery staple")
	alex, err := home.Create(filepath.Join(dir, "alex"), home.CreateOptions{
		Options: home.Options{Passphrase: pass, Keeper: home.NoKeeper()},
		Name:    "Alex", Device: "alex-laptop", Encrypt: true, Listen: loopback, NoMDNS: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	alex.Close()
	// Every later run opens it with the passphrase.
	alex, err = home.Open(filepath.Join(dir, "alex"), home.Options{Passphrase: pass, Keeper: home.NoKeeper()})
	if err != nil {
		log.Fatal(err)
	}
	defer alex.Close()

	// Sam's device, on Sam's machine in real life.
	sam, err := home.Create(filepath.Join(dir, "sam"), home.CreateOptions{
		Name: "Sam", Device: "sam-phone", Listen: loopback, NoMDNS: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sam.Close()

	// Both go online. Alex's device invites; Sam's joins with the invite
	// (a line of text, or a QR code, passed from one partner to the other).
	alexNode, err := alex.StartNode(ctx, home.NodeOptions{})
	if err != nil {
		log.Fatal(err)
	}
	samNode, err := sam.StartNode(ctx, home.NodeOptions{})
	if err != nil {
		log.Fatal(err)
	}
	inv, err := alexNode.Invite(ctx, sync.InviteOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer inv.Close()
	joined := make(chan error, 1)
	go func() {
		_, err := samNode.Join(ctx, inv.Invite(), sync.JoinOptions{})
		joined <- err
	}()
	res, err := inv.Wait(ctx)
	if err = errors.Join(err, <-joined); err != nil {
		log.Fatal(err)
	}
	fmt.Println("Alex's device paired with", res.Remote.MemberName)

	// An edit on Alex's device reaches Sam's.
	id, err := alex.Space().AddBoundary(ctx, "We talk before any purchase over 100")
	if err != nil {
		log.Fatal(err)
	}
	// Paired nodes find each other by themselves; Alex's device waits
	// until Sam's holds everything it has.
	if err := alexNode.WaitSynced(ctx, samNode.ID()); err != nil {
		log.Fatal(err)
	}
	b, err := sam.Space().Boundary(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Sam's device shows %q, proposed by %s\n", b.Text, b.ProposedBy.Name)
	// Output:
	// Alex's device paired with Sam
	// Sam's device shows "We talk before any purchase over 100", proposed by Alex
}

// An encrypted home whose key is not kept opens only with its passphrase.
func ExampleOpen_locked() {
	dir, err := os.MkdirTemp("", "trustsync-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	h, err := home.Create(dir, home.CreateOptions{
		Options: home.Options{Passphrase: []byte("correct horse battery staple"), Keeper: home.NoKeeper()},
		Name:    "Alex", Encrypt: true, NoMDNS: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	h.Close()

	_, err = home.Open(dir, home.Options{Keeper: home.NoKeeper()})
	fmt.Println("without a passphrase:", errors.Is(err, home.ErrLocked))
	_, err = home.Open(dir, home.Options{Passphrase: []byte("a wrong guess"), Keeper: home.NoKeeper()})
	fmt.Println("with a wrong one:", errors.Is(err, home.ErrWrongPassphrase))
	h, err = home.Open(dir, home.Options{Passphrase: []byte("correct horse battery staple"), Keeper: home.NoKeeper()})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	fmt.Println("with the right one:", h.Space().Self().MemberName)
	// Output:
	// without a passphrase: true
	// with a wrong one: true
	// with the right one: Alex
}
