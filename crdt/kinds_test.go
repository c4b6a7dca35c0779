package crdt_test

import (
	"context"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

var updateKinds = flag.Bool("update-kinds", false, "rewrite the table of kinds in docs/KINDS.md")

// kindSamples makes one item of each kind on a and returns its ID; members
// and devices come from pairing. A kind without a sample fails
// TestKinds_Derived: add one with the kind.
var kindSamples = map[string]func(ctx context.Context, a *crdt.Space) (string, error){
	crdt.KindMember: func(ctx context.Context, a *crdt.Space) (string, error) { return a.Self().MemberID, nil },
	crdt.KindDevice: func(ctx context.Context, a *crdt.Space) (string, error) { return a.Self().DeviceID, nil },
	crdt.KindBoundary: func(ctx context.Context, a *crdt.Space) (string, error) {
		return a.AddBoundary(ctx, "We say when we need a break")
	},
	crdt.KindGoal: func(ctx context.Context, a *crdt.Space) (string, error) { return a.AddGoal(ctx, "Walk on Sundays", "") },
	crdt.KindStep: func(ctx context.Context, a *crdt.Space) (string, error) {
		g, err := a.AddGoal(ctx, "Cook together", "")
		if err != nil {
			return "", err
		}
		return a.AddStep(ctx, g, "Pick a recipe")
	},
	crdt.KindCheckIn: func(ctx context.Context, a *crdt.Space) (string, error) {
		return a.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Feelings: []string{"calm"}})
	},
	crdt.KindRhythm: func(ctx context.Context, a *crdt.Space) (string, error) {
		if err := a.SetRhythm(ctx, trustsync.Cadence{Every: "daily"}); err != nil {
			return "", err
		}
		r, err := a.Rhythm(ctx)
		return r.ID, err
	},
	crdt.KindCommitment: func(ctx context.Context, a *crdt.Space) (string, error) {
		return a.AddCommitment(ctx, "I text when I leave work")
	},
	crdt.KindCommitmentEntry: func(ctx context.Context, a *crdt.Space) (string, error) {
		c, err := a.AddCommitment(ctx, "I put the phone away at dinner")
		if err != nil {
			return "", err
		}
		return a.RecordCommitment(ctx, c, true, "")
	},
	crdt.KindApology: func(ctx context.Context, a *crdt.Space) (string, error) {
		return a.WriteApology(ctx, trustsync.NewApology{Happened: "I was late"})
	},
	crdt.KindSetback: func(ctx context.Context, a *crdt.Space) (string, error) {
		b, err := a.AddBoundary(ctx, "No phones in bed")
		if err != nil {
			return "", err
		}
		return a.AddSetback(ctx, "Phones in bed again", b, "")
	},
	crdt.KindQuestion: func(ctx context.Context, a *crdt.Space) (string, error) {
		return a.AskQuestion(ctx, "What made you feel close this week?")
	},
	crdt.KindMoment: func(ctx context.Context, a *crdt.Space) (string, error) { return a.AddMoment(ctx, "Pancakes", false) },
}

// TestKinds_Derived fails when a kind of the table lacks a piece derived
// from its row: words, a document a peer may send, an export key or a
// parent, a markdown section, a row in docs/KINDS.md, and -- made on one
// device and synced to the other -- a view row and a history entry there.
func TestKinds_Derived(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	a, _ := newSpaceAt(t, c, "Sam", "sam-laptop")
	b, bst := newSpaceAt(t, c, "Alex", "alex-phone")
	pair(t, a, b)
	ids := map[string]string{}
	for _, k := range crdt.Kinds() {
		sample, ok := kindSamples[k.Name]
		if !ok {
			t.Errorf("kind %s has no sample in kindSamples", k.Name)
			continue
		}
		ids[k.Name] = must[string](t)(sample(ctx, a))
	}
	syncAll(t, a, b)
	hist := must[[]trustsync.Change](t)(b.History(ctx, crdt.HistoryOptions{}))
	seen := map[string]bool{}
	for _, k := range crdt.Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			if k.One == "" || k.Many == "" || k.One == k.Many || strings.Contains(k.One+k.Many, "_") {
				t.Errorf("words %q and %q: want one and several, as a person says them", k.One, k.Many)
			}
			if seen[k.One] {
				t.Errorf("another kind is also called %q", k.One)
			}
			seen[k.One] = true
			if k.Count(1) != "1 "+k.One || k.Count(2) != "2 "+k.Many {
				t.Errorf("Count: %q, %q", k.Count(1), k.Count(2))
			}
			doc := k.Doc
			if k.Monthly() {
				doc = crdt.CheckInDoc(c.now())
			}
			if !crdt.ValidDoc(doc) {
				t.Errorf("its document %q is not a valid document", doc)
			}
			if k.About == "" {
				t.Error("no About line for docs/KINDS.md")
			}
			if got, ok := crdt.KindOf(k.Name); !ok || got.Name != k.Name {
				t.Errorf("KindOf(%q) = %+v, %v", k.Name, got, ok)
			}
			switch {
			case k.Export == "" && k.Parent == "":
				t.Error("neither an export key nor a parent it is exported with")
			case k.Parent != "":
				if _, ok := crdt.KindOf(k.Parent); !ok {
					t.Errorf("its parent %q is no kind", k.Parent)
				}
			case !k.Plumbing && k.Section == "":
				t.Error("no section in the markdown export")
			}
			id := ids[k.Name]
			if id == "" {
				return
			}
			var items []trustsync.Item
			noErr(t, bst.View(ctx, func(tx trustsync.ReadTx) error {
				var err error
				items, err = tx.Items(k.Name)
				return err
			}))
			if !slices.ContainsFunc(items, func(it trustsync.Item) bool { return it.ID == id }) {
				t.Errorf("the partner's view has no row for %s %s (rows: %d)", k.Name, id, len(items))
			}
			if !k.Plumbing && !slices.ContainsFunc(hist, func(h trustsync.Change) bool { return h.Kind == k.Name }) {
				t.Errorf("the partner's history has no entry of kind %s", k.Name)
			}
			if k.Plumbing != crdt.IsPlumbing(trustsync.Change{Kind: k.Name, Doc: doc}) {
				t.Errorf("IsPlumbing says %v", !k.Plumbing)
			}
		})
	}
}

// TestKinds_Docs: docs/KINDS.md holds the table of kinds as the code has
// it. Run the test with -update-kinds to rewrite it.
func TestKinds_Docs(t *testing.T) {
	const path = "../docs/KINDS.md"
	const begin, end = "<!-- kinds table: begin -->\n", "<!-- kinds table: end -->\n"
	b, err := os.ReadFile(path)
	noErr(t, err)
	before, rest, ok1 := strings.Cut(string(b), begin)
	_, after, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("%s has no %q ... %q markers around its table", path, begin, end)
	}
	want := before + begin + crdt.KindsMarkdown() + end + after
	if *updateKinds {
		noErr(t, os.WriteFile(path, []byte(want), 0o644))
		return
	}
	if string(b) != want {
		t.Errorf("%s is out of step with the table of kinds in crdt/kinds.go: run go test ./crdt -run TestKinds_Docs -update-kinds", path)
	}
}
