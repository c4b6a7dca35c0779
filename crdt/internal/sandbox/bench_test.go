package sandbox

import (
	"context"
	"fmt"
	"testing"

	"github.com/automerge/automerge-go"
)

// syncedPair returns a 200-item document and a synced copy of it.
func syncedPair(b *testing.B) *pair {
	local := newDoc(b, 200)
	remote, err := local.Fork()
	if err != nil {
		b.Fatal(err)
	}
	p := newPair(local, remote)
	p.exchange(b, nil)
	return p
}

// exchange runs the sync until quiet, checking each message to local with
// c when c is not nil.
func (p *pair) exchange(b testing.TB, c *Checker) int {
	n := 0
	for i := 0; i < 10; i++ {
		progressed := false
		if m, ok := p.remoteSS.GenerateMessage(); ok {
			msg := m.Bytes()
			if c != nil {
				if err := c.CheckMessage(context.Background(), "doc", p.local, p.localSS.Save(), msg); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if _, err := p.localSS.ReceiveMessage(msg); err != nil {
				b.Fatal(err)
			}
			progressed = true
		}
		if m, ok := p.localSS.GenerateMessage(); ok {
			if _, err := p.remoteSS.ReceiveMessage(m.Bytes()); err != nil {
				b.Fatal(err)
			}
			progressed = true
		}
		if !progressed {
			return n
		}
	}
	b.Fatal("sync did not finish")
	return n
}

// BenchmarkCheckMessage measures one check of a small sync message (one
// change setting one key) against a 200-item document whose mirror is in
// step: the cost added to each received message.
func BenchmarkCheckMessage(b *testing.B) {
	for _, localEdits := range []bool{false, true} {
		b.Run(fmt.Sprintf("localEdits=%v", localEdits), func(b *testing.B) {
			p := syncedPair(b)
			c := New(Options{})
			defer c.Close()
			if err := c.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				edit(b, p.remote, "k", int64(i))
				if localEdits {
					// The mirror must catch up with a local change too.
					edit(b, p.local, "l", int64(i))
				}
				m, ok := p.remoteSS.GenerateMessage()
				if !ok {
					b.Fatal("nothing to send")
				}
				msg, state := m.Bytes(), p.localSS.Save()
				b.StartTimer()
				if err := c.CheckMessage(context.Background(), "doc", p.local, state, msg); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := p.localSS.ReceiveMessage(msg); err != nil {
					b.Fatal(err)
				}
				p.exchange(b, nil)
				b.StartTimer()
			}
			b.StopTimer()
			st := c.Stats()
			if st.FullSyncs != 1 || st.Rejected != 0 {
				b.Fatalf("stats %+v", st)
			}
		})
	}
}

// BenchmarkReceiveDirect is the baseline: the same message received
// in-process without a check.
func BenchmarkReceiveDirect(b *testing.B) {
	p := syncedPair(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		edit(b, p.remote, "k", int64(i))
		m, _ := p.remoteSS.GenerateMessage()
		msg := m.Bytes()
		b.StartTimer()
		if _, err := p.localSS.ReceiveMessage(msg); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		p.exchange(b, nil)
		b.StartTimer()
	}
}

// BenchmarkRestart measures what a crash costs the next check: starting a
// new child and loading the 200-item document into its mirror, then
// checking one message.
func BenchmarkRestart(b *testing.B) {
	p := syncedPair(b)
	edit(b, p.remote, "k", 1)
	m, _ := p.remoteSS.GenerateMessage()
	msg, state := m.Bytes(), p.localSS.Save()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := New(Options{})
		if err := c.CheckMessage(context.Background(), "doc", p.local, state, msg); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

// BenchmarkStart measures starting a child alone (fork, exec, Go runtime
// and package initialisation, one ping).
func BenchmarkStart(b *testing.B) {
	for i := 0; i < b.N; i++ {
		c := New(Options{})
		if err := c.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

var _ = automerge.New
