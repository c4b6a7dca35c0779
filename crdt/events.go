package crdt

import (
	"context"
	"github.com/trustsync/trustsync/internal/stagetrace"
	"slices"
	"sync"

	"github.com/trustsync/trustsync"
)

// subscriberBuffer is how many events a subscriber may fall behind before it
// gets Event{Lost: true} instead of the events.
const subscriberBuffer = 64

type subscriber struct {
	ch   chan Event
	lost bool // a Lost event is queued and events are being dropped
}

// Subscribe returns a channel of events and a function that ends the
// subscription and closes the channel. An edit through this Space is
// queued on the channel before the edit returns (Remote false); changes
// received from a peer are queued as they are applied (Remote true, From
// naming the device). Edits that another process makes on the same store
// are reported, with Remote set and no From or Items, once [Space.Refresh]
// finds them, which a running sync Node calls for the space. A writer
// never waits for a subscriber: one that falls more than 64 events behind
// receives a single Event with Lost set and should then re-read everything. Close ends every subscription and
// closes the channels, so a goroutine ranging over one ends with it.
func (s *Space) Subscribe() (<-chan Event, func()) {
	sub := &subscriber{ch: make(chan Event, subscriberBuffer)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		close(sub.ch)
		return sub.ch, func() {}
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if _, ok := s.subs[sub]; ok {
				delete(s.subs, sub)
				close(sub.ch)
			}
		})
	}
}

// publish hands ev to every subscriber without ever blocking. Only publish
// sends on subscriber channels, always under s.mu, and it keeps one slot
// free for the Lost event, so the sends below cannot block.
func (s *Space) publish(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		if sub.lost {
			if len(sub.ch) > 0 {
				continue // the Lost event is still queued: it covers ev
			}
			sub.lost = false
		}
		if len(sub.ch) < cap(sub.ch)-1 {
			sub.ch <- ev
		} else {
			sub.ch <- Event{Lost: true}
			sub.lost = true
		}
	}
}

// Refresh catches up with writes made by other processes on the same store and
// returns the documents that changed. Sync calls it periodically.
//
// A document counts as changed when the store holds chunks of it that this
// space neither wrote nor merged yet. Cached documents are caught up; each
// changed document is published as an Event with Remote set.
func (s *Space) Refresh(ctx context.Context) ([]string, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	after := s.lastSeen
	s.mu.Unlock()
	latest := map[string]int64{}
	var last int64
	err := s.st.View(ctx, func(tx trustsync.ReadTx) error {
		var err error
		if last, err = tx.LastSeq(); err != nil {
			return err
		}
		if last <= after {
			return nil
		}
		chunks, err := tx.Chunks("", after)
		for _, c := range chunks {
			latest[c.Doc] = max(latest[c.Doc], c.Seq)
		}
		if err != nil {
			s.log.Warn("refresh: damaged chunks", "err", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	stagetrace.Mark("refresh.listed")
	var changed []string
	s.mu.Lock()
	for doc, seq := range latest {
		if seq > s.seen[doc] {
			changed = append(changed, doc)
		}
	}
	if last > s.lastSeen {
		s.lastSeen = last
	}
	s.mu.Unlock()
	slices.Sort(changed)
	for _, doc := range changed {
		if err := s.refreshDoc(ctx, doc, latest[doc]); err != nil {
			return changed, err
		}
		s.publish(Event{Doc: doc, Remote: true})
	}
	return changed, nil
}

// refreshDoc catches up a cached document and records what was seen.
func (s *Space) refreshDoc(ctx context.Context, doc string, seq int64) error {
	s.mu.Lock()
	ds := s.docs[doc]
	s.mu.Unlock()
	if ds != nil {
		ds.mu.Lock()
		if ds.doc != nil {
			err := s.st.View(ctx, func(tx trustsync.ReadTx) error {
				_, err := s.catchUp(tx, ds, false)
				return err
			})
			stagetrace.Mark("refresh.caughtup")
			if err != nil {
				ds.drop()
				s.log.Warn("refresh: cannot catch up", "doc", doc, "err", err)
			}
		}
		ds.mu.Unlock()
	}
	s.noteSeen(doc, seq)
	return nil
}
