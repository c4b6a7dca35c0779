package sync

import (
	stdsync "sync"
	"time"
)

// Transfer says how far a session is with the documents its hello exchange
// found to differ between the two devices. A [Node] reports it in
// [Progress] events; [Session.Progress] returns it.
type Transfer struct {
	// Receive is how many documents the peer's hello named at other heads
	// than this device's (those only the peer has included); Received how
	// many of them the peer's data arrived for so far.
	Receive, Received int
	// Send is how many documents this device holds at other heads than
	// the peer's hello named (those the peer lacks included); Sent how
	// many of them this device's data went out for so far.
	Send, Sent int
	// BytesIn and BytesOut count the session's bytes so far, both ways.
	BytesIn, BytesOut int64
	// Elapsed is the time since the hello exchange.
	Elapsed time.Duration
	// Done is set in the last report: both sides hold the same heads.
	Done bool
}

// progressEvery is the least time between two progress reports of a
// session, but for the first, the one where every document moved, and the
// last.
const progressEvery = 100 * time.Millisecond

// progress follows a session's transfer from its hello exchange until both
// sides first hold the same heads. The loop and the writer both report to
// it.
type progress struct {
	mu        stdsync.Mutex
	on        bool // between the hello and the first time in step
	remote    Remote
	start     time.Time
	last      time.Time
	receive   map[string]bool
	send      map[string]bool
	got, sent map[string]bool
}

// progressStart starts following the documents to receive and to send.
// Nothing is reported when there are none.
func (s *Session) progressStart(remote Remote, receive, send []string) {
	pr := &s.prog
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if len(receive)+len(send) == 0 {
		return
	}
	pr.on, pr.remote, pr.start = true, remote, time.Now()
	pr.receive, pr.send = map[string]bool{}, map[string]bool{}
	pr.got, pr.sent = map[string]bool{}, map[string]bool{}
	for _, d := range receive {
		pr.receive[d] = true
	}
	for _, d := range send {
		pr.send[d] = true
	}
	s.reportLocked(true)
}

// progressGot notes that the peer's data for doc arrived.
func (s *Session) progressGot(doc string) { s.progressMoved(doc, false) }

// progressSent notes that this device's data for doc went out.
func (s *Session) progressSent(doc string) { s.progressMoved(doc, true) }

func (s *Session) progressMoved(doc string, out bool) {
	pr := &s.prog
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if !pr.on {
		return
	}
	want, moved := pr.receive, pr.got
	if out {
		want, moved = pr.send, pr.sent
	}
	if !want[doc] || moved[doc] {
		return
	}
	moved[doc] = true
	all := len(pr.got) == len(pr.receive) && len(pr.sent) == len(pr.send)
	s.reportLocked(all || time.Since(pr.last) >= progressEvery)
}

// progressDone reports the last progress: both sides are in step.
func (s *Session) progressDone() {
	pr := &s.prog
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if !pr.on {
		return
	}
	pr.on = false
	s.reportLocked(true)
}

// transferLocked returns the transfer so far. pr.mu is held.
func (s *Session) transferLocked() Transfer {
	pr := &s.prog
	t := Transfer{
		Receive: len(pr.receive), Received: len(pr.got),
		Send: len(pr.send), Sent: len(pr.sent),
		BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(),
		Done: !pr.on && !pr.start.IsZero(),
	}
	if !pr.start.IsZero() {
		t.Elapsed = time.Since(pr.start)
	}
	return t
}

// reportLocked hands the transfer to the progress hook when now is set.
// pr.mu is held, so that reports keep their order.
func (s *Session) reportLocked(now bool) {
	pr := &s.prog
	if !now || s.cfg.hooks.progress == nil {
		return
	}
	pr.last = time.Now()
	s.cfg.hooks.progress(pr.remote, s.transferLocked())
}

// Progress returns how far the session is with the documents its hello
// exchange found to differ; the zero Transfer when none did (or before the
// hello exchange). Its counts stop at the first time both sides are in
// step (Done), when live edits take over.
func (s *Session) Progress() Transfer {
	s.prog.mu.Lock()
	defer s.prog.mu.Unlock()
	return s.transferLocked()
}
