package crdt_test

import (
	"context"
	"strings"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

func mustCommitment(t *testing.T, s *crdt.Space, id string) trustsync.Commitment {
	t.Helper()
	c, err := s.Commitment(context.Background(), id)
	if err != nil {
		t.Fatalf("Commitment(%s) on %s: %v", id, s.Self().DeviceName, err)
	}
	return c
}

// Entries written by each partner and acknowledged by the other at the
// same time, on two devices, all end up on both devices as a plain
// timeline: who, kept or missed, the note, and each acknowledgement.
func TestMerge_CommitmentConcurrentAcknowledgements(t *testing.T) {
	ctx := context.Background()
	for _, ex := range exchanges() {
		t.Run(ex.name, func(t *testing.T) {
			a, b := newPair(t)
			id := must[string](t)(a.AddCommitment(ctx, "I will tell you when plans change"))
			kept := must[string](t)(a.RecordCommitment(ctx, id, true, "called before the late meeting"))
			ex.run(t, a, b)
			missed := must[string](t)(b.RecordCommitment(ctx, id[:8], false, "Friday went by without a word"))
			noErr(t, b.AckCommitmentEntry(ctx, kept, "thank you for calling"))
			ex.run(t, a, b)
			// Both acknowledge at once, each on their own device.
			noErr(t, a.AckCommitmentEntry(ctx, missed, "you are right, I am sorry"))
			noErr(t, b.AckCommitmentEntry(ctx, kept[:7], "it helped a lot"))
			ex.run(t, a, b)
			for _, s := range []*crdt.Space{a, b} {
				c := mustCommitment(t, s, id)
				if c.Text != "I will tell you when plans change" || c.MadeBy.Name != "Sam" || len(c.Entries) != 2 {
					t.Fatalf("on %s: %+v", s.Self().DeviceName, c)
				}
				e0, e1 := c.Entries[0], c.Entries[1]
				if e0.ID != kept || !e0.Kept || e0.By.Name != "Sam" || e0.Note != "called before the late meeting" {
					t.Fatalf("on %s: first entry %+v", s.Self().DeviceName, e0)
				}
				if e1.ID != missed || e1.Kept || e1.By.Name != "Alex" {
					t.Fatalf("on %s: second entry %+v", s.Self().DeviceName, e1)
				}
				if len(e0.Acks) != 1 || e0.Acks[0].By.Name != "Alex" || e0.Acks[0].Reply != "it helped a lot" {
					t.Fatalf("on %s: acks of the kept entry %+v", s.Self().DeviceName, e0.Acks)
				}
				if len(e1.Acks) != 1 || e1.Acks[0].By.Name != "Sam" || e1.Acks[0].Reply != "you are right, I am sorry" {
					t.Fatalf("on %s: acks of the missed entry %+v", s.Self().DeviceName, e1.Acks)
				}
				cs, err := s.Commitments(ctx)
				noErr(t, err)
				if len(cs) != 1 || cs[0].ID != id {
					t.Fatalf("on %s: Commitments %+v", s.Self().DeviceName, cs)
				}
				_, e, err := s.CommitmentEntry(ctx, missed[:6])
				noErr(t, err)
				if e.ID != missed {
					t.Fatalf("CommitmentEntry(%s) = %+v", missed[:6], e)
				}
			}
		})
	}
}

// A partner does not acknowledge their own entry; a missing commitment or
// entry is not found; an empty commitment is refused.
func TestSpace_CommitmentRefusals(t *testing.T) {
	ctx := context.Background()
	a, _ := newPair(t)
	id := must[string](t)(a.AddCommitment(ctx, "I put my phone away at dinner"))
	e := must[string](t)(a.RecordCommitment(ctx, id, true, ""))
	if err := a.AckCommitmentEntry(ctx, e, ""); !strings.Contains(err.Error(), "your own") {
		t.Fatalf("self acknowledgement: %v", err)
	}
	wantErr(t, a.AckCommitmentEntry(ctx, e, ""), trustsync.ErrInvalid)
	_, err := a.RecordCommitment(ctx, "zzzzzzzz", true, "")
	wantErr(t, err, trustsync.ErrNotFound)
	wantErr(t, a.AckCommitmentEntry(ctx, "zzzzzzzz", ""), trustsync.ErrNotFound)
	_, err = a.AddCommitment(ctx, "  ")
	wantErr(t, err, trustsync.ErrInvalid)
}

// The commitment's history holds its entries, in words: no score, no
// count, no percentage.
func TestSpace_CommitmentHistoryInWords(t *testing.T) {
	ctx := context.Background()
	a, b := newPair(t)
	id := must[string](t)(a.AddCommitment(ctx, "I tell you when plans change"))
	must[string](t)(a.RecordCommitment(ctx, id, true, ""))
	e := must[string](t)(a.RecordCommitment(ctx, id, false, "forgot on Tuesday"))
	syncAll(t, a, b)
	noErr(t, b.AckCommitmentEntry(ctx, e, ""))
	syncAll(t, a, b)
	hist, err := a.History(ctx, crdt.HistoryOptions{Item: id})
	noErr(t, err)
	var got []string
	for _, h := range hist {
		got = append(got, h.By.Name+": "+h.Summary)
	}
	want := []string{
		`Alex: acknowledged that the commitment "I tell you when plans change" was missed`,
		`Sam: noted a time the commitment "I tell you when plans change" was missed: "forgot on Tuesday"`,
		`Sam: noted a time the commitment "I tell you when plans change" was kept`,
		`Sam: committed to "I tell you when plans change"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("history:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, s := range got {
		if strings.ContainsAny(s, "0123456789%") {
			t.Fatalf("a number in the history: %q", s)
		}
	}
}
