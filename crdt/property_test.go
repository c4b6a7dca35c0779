package crdt_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

// TestSpace_ConvergesUnderRandomEditsAndSyncs: random edits on two or three
// devices, random pairwise syncs, then a full sync. Every device must end
// with identical documents, identical views, and every acknowledged change
// in its history; a space reopened from each store must agree.
func TestSpace_ConvergesUnderRandomEditsAndSyncs(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		n := rapid.IntRange(2, 3).Draw(rt, "devices")
		c := newClock()
		var spaces []*crdt.Space
		var stores []trustsync.Store
		for i := 0; i < n; i++ {
			st := store.NewMemory()
			s, err := crdt.Create(ctx, st, crdt.CreateOptions{Options: crdt.Options{Now: c.now, CompactAfter: 5},
				MemberName: fmt.Sprint("m", i), DeviceName: fmt.Sprint("d", i)})
			if err != nil {
				rt.Fatal(err)
			}
			defer st.Close()
			defer s.Close()
			spaces = append(spaces, s)
			stores = append(stores, st)
		}
		for i := 1; i < n; i++ {
			if err := spaces[i].Adopt(ctx, spaces[0].Self().SpaceID); err != nil {
				rt.Fatal(err)
			}
		}
		var acked []string // summaries of acknowledged edits that changed something
		var boundaries, goals, checkins []string
		pick := func(ids []string, label string) string {
			return ids[rapid.IntRange(0, len(ids)-1).Draw(rt, label)]
		}
		historyLen := func(s *crdt.Space) int {
			h, err := s.History(ctx, crdt.HistoryOptions{})
			if err != nil {
				rt.Fatal(err)
			}
			return len(h)
		}
		steps := rapid.IntRange(1, 30).Draw(rt, "steps")
		for step := 0; step < steps; step++ {
			s := spaces[rapid.IntRange(0, n-1).Draw(rt, "device")]
			text := fmt.Sprintf("text %d %s", step, rapid.StringMatching(`[a-z ]{0,12}`).Draw(rt, "text"))
			before := historyLen(s)
			var err error
			var id string
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); {
			case op == 0 || len(boundaries) == 0:
				id, err = s.AddBoundary(ctx, text)
				boundaries = append(boundaries, id)
			case op == 1:
				err = s.EditBoundary(ctx, pick(boundaries, "b"), text)
			case op == 2:
				err = s.AgreeBoundary(ctx, pick(boundaries, "b"))
			case op == 3:
				if rapid.Bool().Draw(rt, "archive") {
					err = s.ArchiveBoundary(ctx, pick(boundaries, "b"))
				} else {
					err = s.RestoreBoundary(ctx, pick(boundaries, "b"))
				}
			case op == 4 || op == 5 && len(goals) == 0:
				id, err = s.AddGoal(ctx, text, "")
				goals = append(goals, id)
			case op == 5:
				err = s.EditGoal(ctx, pick(goals, "g"), crdt.GoalEdit{Title: &text})
			case op == 6 && len(goals) > 0:
				_, err = s.AddStep(ctx, pick(goals, "g"), text)
			case op == 7:
				id, err = s.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: trustsync.Mood(1 + step%5), Note: text})
				checkins = append(checkins, id)
			case op == 8 && len(checkins) > 0:
				err = s.AckCheckIn(ctx, pick(checkins, "c"), text)
			default:
				i, j := rapid.IntRange(0, n-1).Draw(rt, "from"), rapid.IntRange(0, n-1).Draw(rt, "to")
				if i != j {
					syncAll(rt, spaces[i], spaces[j])
				}
				continue
			}
			if errors.Is(err, trustsync.ErrNotFound) && id == "" {
				// An item made on another device that has not reached
				// this one yet.
				continue
			}
			if err != nil {
				rt.Fatalf("step %d: %v", step, err)
			}
			if after := historyLen(s); after > before {
				h, _ := s.History(ctx, crdt.HistoryOptions{Limit: 1})
				acked = append(acked, h[0].Hash)
			}
		}
		// Full sync: every pair, twice, so changes travel through any device.
		for round := 0; round < 2; round++ {
			for i := 0; i < n; i++ {
				for j := i + 1; j < n; j++ {
					syncAll(rt, spaces[i], spaces[j])
				}
			}
		}
		snapshot := func(s *crdt.Space) string {
			var sb strings.Builder
			docs, err := s.Docs(ctx)
			if err != nil {
				rt.Fatal(err)
			}
			for _, d := range docs {
				h, err := s.Heads(ctx, d)
				if err != nil {
					rt.Fatal(err)
				}
				fmt.Fprintf(&sb, "%s %v\n", d, h)
			}
			bs, _ := s.Boundaries(ctx, crdt.ListOptions{All: true})
			gs, _ := s.Goals(ctx, crdt.ListOptions{All: true})
			cs, _ := s.CheckIns(ctx)
			fmt.Fprintf(&sb, "%+v\n%+v\n%+v\n", bs, gs, cs)
			return sb.String()
		}
		want := snapshot(spaces[0])
		for i, s := range spaces {
			if got := snapshot(s); got != want {
				rt.Fatalf("device %d differs:\n%s\nvs device 0:\n%s", i, got, want)
			}
			h, err := s.History(ctx, crdt.HistoryOptions{})
			if err != nil {
				rt.Fatal(err)
			}
			var hashes []string
			for _, c := range h {
				hashes = append(hashes, c.Hash)
			}
			for _, a := range acked {
				if !slices.Contains(hashes, a) {
					rt.Fatalf("device %d lacks acknowledged change %s", i, a)
				}
			}
			// Reloaded from its store, the device still agrees.
			re, err := crdt.Open(ctx, stores[i], crdt.Options{})
			if err != nil {
				rt.Fatal(err)
			}
			got := snapshot(re)
			re.Close()
			if got != want {
				rt.Fatalf("device %d reopened from its store differs:\n%s\nvs\n%s", i, got, want)
			}
		}
	})
}
