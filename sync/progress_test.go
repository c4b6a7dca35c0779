package sync

import (
	"context"
	"testing"
	"time"
)

// collectProgress reads events until the Synced event that follows a
// Progress event with Done, and returns the Progress events in order.
func collectProgress(t *testing.T, events <-chan Event, who string) []Transfer {
	t.Helper()
	var got []Transfer
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			switch {
			case ev.Type == Progress:
				got = append(got, ev.Progress)
			case ev.Type == Synced && len(got) > 0 && got[len(got)-1].Done:
				return got
			}
		case <-deadline:
			t.Fatalf("%s: no Synced after a last Progress within 30s; progress so far %+v", who, got)
		}
	}
}

// TestNode_ProgressOfFirstSync: a new device's first sync of 12 month
// documents is reported as Progress events on both sides: the counts only
// grow, and the last event, just before Synced, says every document the
// hello exchange found to differ was received (on the new device) and sent
// (on the other), with the bytes of the session.
func TestNode_ProgressOfFirstSync(t *testing.T) {
	const months = 12
	a, b := newMonthsDevice(t, "Alex", months), newDevice(t, "Sam")
	pairAll(t, a, b)
	na, nb := a.start(t), b.start(t)
	evA, stopA := na.Subscribe()
	defer stopA()
	evB, stopB := nb.Subscribe()
	defer stopB()
	connect(t, nb, na)

	for _, side := range []struct {
		who     string
		events  <-chan Event
		receive bool
	}{{"new device", evB, true}, {"sending device", evA, false}} {
		got := collectProgress(t, side.events, side.who)
		first, last := got[0], got[len(got)-1]
		if first.Done || (side.receive && first.Receive < months) || (!side.receive && first.Send < months) {
			t.Fatalf("%s: first progress %+v, want at least %d documents to move, not done", side.who, first, months)
		}
		for i := 1; i < len(got); i++ {
			p, q := got[i-1], got[i]
			if q.Received < p.Received || q.Sent < p.Sent || q.BytesIn < p.BytesIn || q.BytesOut < p.BytesOut ||
				q.Receive != first.Receive || q.Send != first.Send {
				t.Fatalf("%s: progress went from %+v to %+v", side.who, p, q)
			}
		}
		if !last.Done || last.Received != last.Receive || last.Sent != last.Send || last.BytesIn == 0 || last.BytesOut == 0 {
			t.Fatalf("%s: last progress %+v, want done with every document received and sent", side.who, last)
		}
	}
	ctx := context.Background()
	cs, err := b.space.CheckIns(ctx)
	must(t, err)
	if len(cs) != months {
		t.Fatalf("the new device has %d check-ins, want %d", len(cs), months)
	}
}
