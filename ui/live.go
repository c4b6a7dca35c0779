package ui

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	stdsync "sync"
	"time"

	"github.com/trustsync/trustsync/crdt"
)

// change is what a live update tells the page: which parts to refresh.
type change struct {
	Parts []string // the parts ("boundaries", "goals", ...) that changed
	All   bool     // refresh everything (lock, unlock, events lost)
}

// partOf maps a kind of item to the part of the page showing it.
var partOf = map[string]string{
	crdt.KindBoundary:        "boundaries",
	crdt.KindGoal:            "goals",
	crdt.KindStep:            "goals",
	crdt.KindCheckIn:         "checkins",
	crdt.KindCommitment:      "commitments",
	crdt.KindCommitmentEntry: "commitments",
	crdt.KindApology:         "apologies",
	crdt.KindSetback:         "setbacks",
	crdt.KindRhythm:          "rhythm",
	crdt.KindQuestion:        "questions",
	crdt.KindMoment:          "moments",
	crdt.KindMember:          "devices",
	crdt.KindDevice:          "devices",
}

// changeOf turns a space event into the parts it touched. A change whose
// items are not known refreshes every part.
func changeOf(ev crdt.Event) change {
	if ev.Lost || len(ev.Items) == 0 {
		return change{All: true}
	}
	var c change
	for _, it := range ev.Items {
		p, ok := partOf[it.Kind]
		if !ok {
			return change{All: true}
		}
		if !slices.Contains(c.Parts, p) {
			c.Parts = append(c.Parts, p)
		}
	}
	return c
}

// data is the event's data line: the parts, space-separated, or "all".
// Every change also touches the overview, history and devices.
func (c change) data() string {
	if c.All {
		return "all"
	}
	return strings.Join(append(slices.Clone(c.Parts), "status", "history"), " ")
}

// hub hands each change to every open event stream.
type hub struct {
	mu     stdsync.Mutex
	subs   map[chan change]struct{}
	closed bool
	done   chan struct{}
}

func newHub() *hub { return &hub{subs: map[chan change]struct{}{}, done: make(chan struct{})} }

// publish never blocks: a stream that is behind gets a refresh of
// everything instead.
func (h *hub) publish(c change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- c:
		default:
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- change{All: true}:
			default:
			}
		}
	}
}

func (h *hub) subscribe() (chan change, func()) {
	ch := make(chan change, 16)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.done)
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}

// events streams changes to the page as server-sent events: "event:
// change" with the parts as data. A comment every 20 seconds keeps the
// connection open.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "live updates are not available", http.StatusInternalServerError)
		return
	}
	ch, unsub := s.hub.subscribe()
	defer unsub()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	tick := time.NewTicker(20 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			fmt.Fprint(w, ": still here\n\n")
		case c, ok := <-ch:
			if !ok {
				return
			}
			fmt.Fprintf(w, "event: change\ndata: %s\n\n", c.data())
		}
		fl.Flush()
	}
}
