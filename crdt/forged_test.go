package crdt_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
	tsync "github.com/trustsync/trustsync/sync"
)

// forgedHome is one partner's device for the modified-client suite: a home
// on disk and a real libp2p node on 127.0.0.1.
type forgedHome struct {
	sp   *crdt.Space
	st   trustsync.Store
	node *tsync.Node
}

func newForgedHome(t *testing.T, member, device string, opts crdt.Options) *forgedHome {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(t.TempDir(), store.Options{})
	noErr(t, err)
	sp, err := crdt.Create(ctx, st, crdt.CreateOptions{Options: opts, MemberName: member, DeviceName: device})
	noErr(t, err)
	n, err := tsync.New(tsync.Config{Space: sp, Store: st, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	noErr(t, err)
	noErr(t, n.Start(ctx))
	h := &forgedHome{sp: sp, st: st, node: n}
	t.Cleanup(func() {
		h.node.Close()
		h.sp.Close()
		h.st.Close()
	})
	return h
}

// syncOnce runs one sync from h with its paired devices, under a hang
// detector.
func (h *forgedHome) syncOnce(t *testing.T) tsync.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := h.node.SyncOnce(ctx)
	if err != nil && !strings.Contains(err.Error(), "refused") {
		t.Logf("sync: %v", err)
	}
	return rep
}

// TestForged_ModifiedClientOverLibp2p plays Sam's device running a modified
// trustsync against Alex's unmodified one, over real libp2p on 127.0.0.1:
// Sam's device writes changes its own program would never write and sends
// them in ordinary syncs. Alex's device must refuse each, record why (for
// `trustsync status`), keep nothing of it, and keep taking Sam's honest
// changes to the other documents.
func TestForged_ModifiedClientOverLibp2p(t *testing.T) {
	ctx := context.Background()
	start := time.Now().Add(-time.Second)
	alex := newForgedHome(t, "Alex", "alex-laptop", crdt.Options{})
	// The modified client does not protect itself from its own forgeries
	// (its checking child would have to load the oversized note).
	sam := newForgedHome(t, "Sam", "sam-laptop", crdt.Options{NoSandbox: true})

	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	inv, err := alex.node.Invite(pctx, tsync.InviteOptions{})
	noErr(t, err)
	defer inv.Close()
	if _, err := sam.node.Join(pctx, inv.Invite(), tsync.JoinOptions{}); err != nil {
		t.Fatalf("join: %v", err)
	}
	if _, err := inv.Wait(pctx); err != nil {
		t.Fatalf("invite: %v", err)
	}
	honest := must[string](t)(alex.sp.AddBoundary(ctx, "We tell each other when plans change"))
	sam.syncOnce(t)
	alex.syncOnce(t)
	if _, err := sam.sp.Boundary(ctx, honest); err != nil {
		t.Fatalf("Sam's device did not get Alex's boundary before the forgeries: %v", err)
	}
	alexDev, samDev := alex.sp.Self().DeviceID, sam.sp.Self().DeviceID
	_, otherKey, _ := ed25519.GenerateKey(nil)

	cases := []struct {
		name string
		doc  string
		f    crdt.Forgery
		then *crdt.Forgery // a second change on top of the first
		want string        // in the reason Alex's device records
	}{
		// Sam's device claims Alex's actor: the change says Alex made it.
		{"in Alex's name", crdt.CommitmentsDoc, crdt.Forgery{Actor: alexDev}, nil, "signature does not match"},
		// Sam's own actor, but no signature at all.
		{"unsigned", crdt.GoalsDoc, crdt.Forgery{Unsigned: true}, nil, "no signature"},
		// Sam's actor, signed by a key that is not Sam's device's.
		{"signed by another key", crdt.MomentsDoc, crdt.Forgery{Key: otherKey}, nil, "signature does not match"},
		// A change in Alex's name, unsigned, under a change of Sam's own
		// that Sam's device signs: that signature covers only Sam's
		// changes.
		{"in Alex's name under Sam's signed change", crdt.RhythmDoc, crdt.Forgery{Actor: alexDev, Unsigned: true}, &crdt.Forgery{}, "no signature of its device covers it"},
	}
	refusedBefore := 0
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := "forged" + string(rune('a'+i)) + "0000000000"
			_, err := crdt.Forge(ctx, sam.sp, tc.doc, tc.f, func(root *automerge.Map) error {
				m := automerge.NewMap()
				if err := root.Set(id, m); err != nil {
					return err
				}
				return m.Set("text", "agreed by Alex")
			})
			noErr(t, err)
			if tc.then != nil {
				_, err := crdt.Forge(ctx, sam.sp, tc.doc, *tc.then, func(root *automerge.Map) error {
					return root.Set(id+"x", "Sam's own")
				})
				noErr(t, err)
			}
			sam.syncOnce(t)
			alex.syncOnce(t)
			refs := must[map[string]crdt.Refusal](t)(alex.sp.Refusals(ctx, []string{samDev}))
			r := refs[samDev]
			if r.Count <= refusedBefore || !strings.Contains(r.Reason, tc.want) || r.Doc != tc.doc {
				t.Fatalf("Alex's device recorded %+v, want a new refusal in %q saying %q", r, tc.doc, tc.want)
			}
			refusedBefore = r.Count
			for _, c := range must[[]trustsync.Change](t)(alex.sp.History(ctx, crdt.HistoryOptions{})) {
				if c.Item == id || strings.Contains(c.Summary, "agreed by Alex") {
					t.Fatalf("the forged change reached Alex's history: %+v", c)
				}
			}
		})
	}

	alexMember := alex.sp.Self().MemberID
	// The check-ins of this month exist on Alex's device: what Sam's
	// device adds to them comes in sync messages.
	must[string](t)(alex.sp.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Note: "A calm evening"}))
	alex.syncOnce(t)
	sam.syncOnce(t)
	// A boundary's words are shared: Sam's program may edit them, but a
	// change message naming another item no longer hides the edit.
	other := must[string](t)(alex.sp.AddBoundary(ctx, "We keep our phones out of the bedroom"))
	alex.syncOnce(t)
	sam.syncOnce(t)
	_, err = crdt.Forge(ctx, sam.sp, crdt.BoundariesDoc, crdt.Forgery{
		Message: `{"a":"edit","k":"boundary","i":"` + other + `","s":"fixed a typo"}`,
	}, func(root *automerge.Map) error {
		m, err := root.Get(honest)
		if err != nil {
			return err
		}
		txt, err := m.Map().Get("text")
		if err != nil {
			return err
		}
		return txt.Text().Set("We tell each other nothing")
	})
	noErr(t, err)
	sam.syncOnce(t)
	alex.syncOnce(t)
	if b := mustBoundary(t, alex.sp, honest); b.Text != "We tell each other nothing" || b.Agreed {
		t.Fatalf("Alex's list shows %+v after an edit under another item's message, want the new words, not agreed", b)
	}

	rules := []struct {
		name string
		doc  string
		at   time.Time
		edit func(root *automerge.Map) error
		want string
	}{
		// Alex's agreement, written by Sam's device.
		{"agreement in Alex's name", crdt.BoundariesDoc, time.Time{}, func(root *automerge.Map) error {
			m, err := root.Get(honest)
			if err != nil {
				return err
			}
			ag, err := m.Map().Get("agree")
			if err != nil {
				return err
			}
			return ag.Map().Set(alexMember, "We tell each other nothing")
		}, "written in Alex's name"},
		// An unpairing "by Alex", of Alex's own device.
		{"unpair in Alex's name", crdt.SpaceDoc, time.Time{}, func(root *automerge.Map) error {
			d, err := root.Get("d:" + alexDev)
			if err != nil {
				return err
			}
			for k, v := range map[string]any{"removed": true, "removed_by": alexMember} {
				if err := d.Map().Set(k, v); err != nil {
					return err
				}
			}
			return nil
		}, "device"},
		// A junk answer under a made-up member, to make Alex's device
		// reveal Alex's answer.
		{"junk answer", crdt.QuestionsDoc, time.Time{}, func(root *automerge.Map) error {
			m := automerge.NewMap()
			if err := root.Set("forgedquestion00", m); err != nil {
				return err
			}
			ans := automerge.NewMap()
			if err := m.Set("answer", ans); err != nil {
				return err
			}
			return ans.Set("zzzzzzzzzzzzzzzz", "bm90IGFuIGFuc3dlcg==")
		}, "written in"},
		// One ordinary-looking check-in with a note of 300,000 characters,
		// typed in one change (a 1,000,000-character note meets the same
		// check, only later in the parse).
		{"an oversized note", crdt.CheckInDoc(time.Now()), time.Time{}, func(root *automerge.Map) error {
			m := automerge.NewMap()
			if err := root.Set("forgedcheckin000", m); err != nil {
				return err
			}
			for k, v := range map[string]any{"author": sam.sp.Self().MemberID, "created_at": time.Now().UnixMilli()} {
				if err := m.Set(k, v); err != nil {
					return err
				}
			}
			return m.Set("note", automerge.NewText(strings.Repeat("I am fine. ", 30_000)[:300_000]))
		}, "limit of 100000 operations"},
	}
	for _, tc := range rules {
		t.Run(tc.name, func(t *testing.T) {
			_, err := crdt.Forge(ctx, sam.sp, tc.doc, crdt.Forgery{At: tc.at}, tc.edit)
			noErr(t, err)
			sam.syncOnce(t)
			alex.syncOnce(t)
			r := must[map[string]crdt.Refusal](t)(alex.sp.Refusals(ctx, []string{samDev}))[samDev]
			if r.Count <= refusedBefore || !strings.Contains(r.Reason, tc.want) || r.Doc != tc.doc {
				t.Fatalf("Alex's device recorded %+v, want a new refusal in %q saying %q", r, tc.doc, tc.want)
			}
			refusedBefore = r.Count
		})
	}
	if ms := must[[]trustsync.Member](t)(alex.sp.Members(ctx)); len(ms) != 2 || ms[0].Devices[0].Removed || ms[1].Devices[0].Removed {
		t.Fatalf("a forged unpairing shows on Alex's device: %+v", ms)
	}

	// A backdated change: accepted (a moment of Sam's own), but shown no
	// earlier than the changes it follows.
	_, err = crdt.Forge(ctx, sam.sp, crdt.ApologiesDoc, crdt.Forgery{At: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}, func(root *automerge.Map) error {
		return root.Set("schema_note", "x")
	})
	noErr(t, err)
	sam.syncOnce(t)
	alex.syncOnce(t)
	for _, c := range must[[]trustsync.Change](t)(alex.sp.History(ctx, crdt.HistoryOptions{})) {
		if c.At.Before(start) {
			t.Fatalf("Alex's history shows a change at %v, before anything in this test happened: %+v", c.At, c)
		}
	}

	// Honest changes from Sam's device to documents it did not forge in
	// keep flowing, in the same sessions.
	sb := must[string](t)(sam.sp.AddSetback(ctx, "I forgot to call when I was late", other, "Set a reminder"))
	sam.syncOnce(t)
	alex.syncOnce(t)
	if _, err := alex.sp.Setback(ctx, sb); err != nil {
		t.Fatalf("Sam's honest setback did not reach Alex's device after the refusals: %v", err)
	}

	// A device Sam's program adds in Alex's name, vouched for by Sam's
	// device only, is nobody's device on Alex's side.
	pub, _, _ := ed25519.GenerateKey(nil)
	fake := strings.Repeat("fa", 16)
	_, err = crdt.Forge(ctx, sam.sp, crdt.SpaceDoc, crdt.Forgery{}, func(root *automerge.Map) error {
		m := automerge.NewMap()
		if err := root.Set("d:"+fake, m); err != nil {
			return err
		}
		for k, v := range map[string]any{"member": alex.sp.Self().MemberID, "name": "alex-tablet", "peer_id": crdt.PeerIDOf(pub)} {
			if err := m.Set(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	noErr(t, err)
	sam.syncOnce(t)
	alex.syncOnce(t)
	for _, m := range must[[]trustsync.Member](t)(alex.sp.Members(ctx)) {
		for _, d := range m.Devices {
			if d.ID == fake {
				t.Fatalf("Alex's device lists the device Sam's program added in Alex's name: %+v of %s", d, m.Name)
			}
		}
	}
}
