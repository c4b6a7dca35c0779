package crdt_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

// A check-in says how a partner feels (a mood from 1 to 5, the words they
// choose) and, if they want, what they need, what worries them and what
// they appreciate. Each UTC month's check-ins are one document.
func ExampleSpace_AddCheckIn() {
	ctx := context.Background()
	st := store.NewMemory()
	defer st.Close()
	june := time.Date(2026, 6, 14, 20, 0, 0, 0, time.UTC)
	s, err := crdt.Create(ctx, st, crdt.CreateOptions{
		Options:    crdt.Options{Now: func() time.Time { return june }},
		MemberName: "Sam", DeviceName: "sam-laptop",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	_, err = s.AddCheckIn(ctx, trustsync.NewCheckIn{
		Mood:         4,
		Feelings:     []string{"hopeful", "tired"},
		Note:         "I felt heard when we talked on Sunday.",
		Appreciation: "You asked before you decided.",
	})
	if err != nil {
		log.Fatal(err)
	}
	cs, err := s.CheckIns(ctx) // newest first
	if err != nil {
		log.Fatal(err)
	}
	c := cs[0]
	fmt.Printf("%s, mood %d (%s), feeling %v\n", c.Author.Name, c.Mood, c.Mood.Word(), c.Feelings)
	fmt.Println("in document", crdt.CheckInDoc(c.CreatedAt))

	// A mood outside 1..5 is refused; test for it with errors.Is.
	_, err = s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 0})
	fmt.Println(err)
	// Output:
	// Sam, mood 4 (good), feeling [hopeful tired]
	// in document checkins/2026-06
	// add check-in: mood 0 is outside 1..5: invalid input
}

// Subscribe reports every change to the space: this device's own edits
// (Remote false) and those that arrive from the partner's devices (Remote
// true, From naming the device). An app re-reads what an event names.
func ExampleSpace_Subscribe() {
	ctx := context.Background()
	sam, alex := examplePair(ctx)
	defer sam.Close()
	defer alex.Close()

	events, stop := sam.Subscribe()
	defer stop()

	// Sam's own edit is reported before AddBoundary returns.
	if _, err := sam.AddBoundary(ctx, "Phones away at dinner"); err != nil {
		log.Fatal(err)
	}
	ev := <-events
	fmt.Printf("%s: a %s, remote %v\n", ev.Doc, ev.Items[0].Kind, ev.Remote)

	// Alex's check-in reaches Sam's device by sync.
	if _, err := alex.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Feelings: []string{"nervous"}}); err != nil {
		log.Fatal(err)
	}
	exampleSync(ctx, sam, alex)
	for ev := range events {
		if ev.Lost {
			log.Fatal("fell behind: re-read everything")
		}
		if len(ev.Items) == 0 || ev.Items[0].Kind != crdt.KindCheckIn {
			continue // the space document: devices noting each other
		}
		fmt.Printf("check-in from Alex's device: remote %v, from Alex's device %v\n",
			ev.Remote, ev.From == alex.Self().DeviceID)
		c, err := sam.CheckIn(ctx, ev.Items[0].ID)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c.Author.Name, "feels", c.Feelings)
		break
	}
	// Output:
	// boundaries: a boundary, remote false
	// check-in from Alex's device: remote true, from Alex's device true
	// Alex feels [nervous]
}
