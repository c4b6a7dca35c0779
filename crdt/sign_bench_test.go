package crdt

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// BenchmarkChangeSignature is the cost of signing one change and of
// checking one signature (Ed25519 over the document and change hash).
func BenchmarkChangeSignature(b *testing.B) {
	_, k, _ := ed25519.GenerateKey(nil)
	var h automerge.ChangeHash
	h[0] = 1
	sig := ed25519.Sign(k, changeSigInput(BoundariesDoc, h))
	pub := k.Public().(ed25519.PublicKey)
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			ed25519.Sign(k, changeSigInput(BoundariesDoc, h))
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, changeSigInput(BoundariesDoc, h), sig) {
				b.Fatal("does not verify")
			}
		}
	})
}

// benchPair makes two paired spaces in memory, without the sandbox (the
// benchmark measures the signature checks, not the child process).
func benchPair(b *testing.B) (*Space, *Space) {
	ctx := context.Background()
	mk := func(member, device string) *Space {
		s, err := Create(ctx, store.NewMemory(), CreateOptions{Options: Options{NoSandbox: true}, MemberName: member, DeviceName: device})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	a, c := mk("Sam", "sam-laptop"), mk("Alex", "alex-phone")
	pairByHand(b, a, c)
	return a, c
}

// BenchmarkSignedSync measures the two sync workloads with the signature
// checks on and off: a first sync (a device takes the partner's whole
// boundaries document of 500 changes) and a reconnect (20 changes made
// offline arrive in sync messages). Signing happens at every edit either
// way; its cost is BenchmarkChangeSignature/sign per change.
func BenchmarkSignedSync(b *testing.B) {
	ctx := context.Background()
	for _, on := range []bool{true, false} {
		name := map[bool]string{true: "checked", false: "unchecked"}[on]
		b.Run("first-sync-500/"+name, func(b *testing.B) {
			checkSignatures = on
			defer func() { checkSignatures = true }()
			a, _ := benchPair(b)
			for i := range 500 {
				if _, err := a.AddBoundary(ctx, fmt.Sprint("boundary number ", i)); err != nil {
					b.Fatal(err)
				}
			}
			data, err := a.SaveSigned(ctx, BoundariesDoc)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				b.StopTimer()
				_, c := benchPair(b)
				o := a.Self()
				pid, _ := a.PeerID(ctx)
				if err := c.TrustDevice(ctx, trustsync.Device{ID: o.DeviceID, PeerID: pid, Owner: trustsync.Person{ID: o.MemberID}}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := c.Import(ctx, BoundariesDoc, data, o.DeviceID); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/500, "ns/change")
		})
		b.Run("reconnect-20/"+name, func(b *testing.B) {
			checkSignatures = on
			defer func() { checkSignatures = true }()
			a, c := benchPair(b)
			pa, pc := a.Peer(c.Self().DeviceID), c.Peer(a.Self().DeviceID)
			sync := func() {
				for round := 0; round < 20; round++ {
					sent := false
					for _, dir := range [][2]*Peer{{pa, pc}, {pc, pa}} {
						msg, ok, err := dir[0].GenerateMessage(ctx, BoundariesDoc)
						if err != nil {
							b.Fatal(err)
						}
						if !ok {
							continue
						}
						sent = true
						if _, err := dir[1].ReceiveMessage(ctx, BoundariesDoc, msg); err != nil {
							b.Fatal(err)
						}
					}
					if !sent {
						return
					}
				}
			}
			sync()
			for b.Loop() {
				b.StopTimer()
				for i := range 20 {
					if _, err := a.AddBoundary(ctx, fmt.Sprint("offline edit ", i)); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				sync()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/20, "ns/change")
		})
	}
}
