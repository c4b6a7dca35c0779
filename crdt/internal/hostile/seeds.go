package hostile

import (
	"fmt"
	"time"

	"github.com/automerge/automerge-go"
)

// Kind is what an input is meant for.
type Kind int

const (
	Doc         Kind = iota // a whole saved document: automerge.Load, Import
	Incremental             // incremental chunks: Doc.LoadIncremental
	Changes                 // change chunks: automerge.LoadChanges
	Sync                    // one sync message: SyncState.ReceiveMessage
	numKinds
)

// Kinds lists every Kind.
var Kinds = []Kind{Doc, Incremental, Changes, Sync}

func (k Kind) String() string {
	switch k {
	case Doc:
		return "doc"
	case Incremental:
		return "incremental"
	case Changes:
		return "changes"
	case Sync:
		return "sync"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// A Seed is a valid input made with automerge-go.
type Seed struct {
	Kind Kind
	Name string
	Data []byte
	// Session, for sync seeds, is the whole conversation the message came
	// from: every message one side sent, in order.
	Session [][]byte
}

// Fixed actors and times make the seeds the same on every run.
var (
	actorA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	actorB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	actorC = "cccccccccccccccccccccccccccccccc"
	epoch  = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

type builder struct {
	d    *automerge.Doc
	tick int
	err  error
}

func newBuilder(actor string) *builder {
	b := &builder{d: automerge.New()}
	b.err = b.d.SetActorID(actor)
	return b
}

func (b *builder) do(f func(root *automerge.Map) error) {
	if b.err == nil {
		b.err = f(b.d.RootMap())
	}
}

func (b *builder) commit(msg string) {
	if b.err != nil {
		return
	}
	b.tick++
	t := epoch.Add(time.Duration(b.tick) * time.Second)
	_, b.err = b.d.Commit(msg, automerge.CommitOptions{Time: &t, AllowEmpty: true})
}

// rich fills a document with every kind of value and operation: maps,
// lists, texts, counters and their increments, deletions, scalars of every
// type. Its panics sites in the Rust core (unknown actions, increments of
// non-counters, list indexes, map key order) are what mutations aim at.
func (b *builder) rich(prefix string, items int) {
	b.do(func(root *automerge.Map) error {
		if err := root.Set(prefix+"title", automerge.NewText("hello "+prefix)); err != nil {
			return err
		}
		if err := root.Set(prefix+"count", automerge.NewCounter(3)); err != nil {
			return err
		}
		l := automerge.NewList()
		if err := root.Set(prefix+"list", l); err != nil {
			return err
		}
		if err := l.Append("a", int64(-7), uint64(1<<40), 2.5, true, nil, []byte{1, 2, 3}, epoch); err != nil {
			return err
		}
		m := automerge.NewMap()
		if err := root.Set(prefix+"items", m); err != nil {
			return err
		}
		for i := 0; i < items; i++ {
			it := automerge.NewMap()
			if err := m.Set(fmt.Sprintf("i%03d", i), it); err != nil {
				return err
			}
			if err := it.Set("text", fmt.Sprintf("item %d", i)); err != nil {
				return err
			}
			if err := it.Set("n", int64(i)); err != nil {
				return err
			}
		}
		return nil
	})
	b.commit(prefix + "create")
	b.do(func(root *automerge.Map) error {
		v, err := root.Get(prefix + "count")
		if err != nil {
			return err
		}
		if err := v.Counter().Inc(5); err != nil {
			return err
		}
		t, err := root.Get(prefix + "title")
		if err != nil {
			return err
		}
		if err := t.Text().Splice(2, 2, "LL"); err != nil {
			return err
		}
		l, err := root.Get(prefix + "list")
		if err != nil {
			return err
		}
		if err := l.List().Delete(1); err != nil {
			return err
		}
		if err := l.List().Insert(0, "first"); err != nil {
			return err
		}
		return root.Delete(prefix + "gone")
	})
	b.commit(prefix + "edit")
}

// Seeds returns the valid inputs the generator mutates: documents (one of
// about 200 items), incremental chunks, single changes and change sets, and
// the sync messages of a conversation between two documents that both
// changed (with their whole sessions).
func Seeds() ([]Seed, error) {
	var seeds []Seed
	a := newBuilder(actorA)
	a.rich("a.", 5)
	if a.err != nil {
		return nil, a.err
	}
	incr0 := a.d.SaveIncremental()
	a.rich("a2.", 3)
	incr1 := a.d.SaveIncremental()
	if a.err != nil {
		return nil, a.err
	}
	seeds = append(seeds, Seed{Kind: Incremental, Name: "incr-first", Data: incr0}, Seed{Kind: Incremental, Name: "incr-next", Data: incr1})

	// b forks a and edits concurrently, so merges have conflicts.
	bd, err := a.d.Fork()
	if err != nil {
		return nil, err
	}
	b := &builder{d: bd}
	b.err = bd.SetActorID(actorB)
	b.do(func(root *automerge.Map) error {
		if err := root.Set("a.title", "overwritten"); err != nil {
			return err
		}
		return root.Set("b.only", int64(42))
	})
	b.commit("b edit")
	a.do(func(root *automerge.Map) error { return root.Set("a.title", "conflict") })
	a.commit("a edit")
	if a.err != nil || b.err != nil {
		return nil, fmt.Errorf("seeds: %v %v", a.err, b.err)
	}
	merged, err := a.d.Fork()
	if err != nil {
		return nil, err
	}
	if err := merged.LoadIncremental(b.d.Save()); err != nil {
		return nil, err
	}
	big := newBuilder(actorC)
	big.rich("", 200)
	if big.err != nil {
		return nil, big.err
	}
	empty := automerge.New()
	seeds = append(seeds,
		Seed{Kind: Doc, Name: "doc-a", Data: a.d.Save()},
		Seed{Kind: Doc, Name: "doc-merged", Data: merged.Save()},
		Seed{Kind: Doc, Name: "doc-200", Data: big.d.Save()},
		Seed{Kind: Doc, Name: "doc-empty", Data: empty.Save()},
	)
	chs, err := merged.Changes()
	if err != nil {
		return nil, err
	}
	for i, c := range chs {
		seeds = append(seeds, Seed{Kind: Changes, Name: fmt.Sprintf("change-%d", i), Data: c.Save()})
	}
	seeds = append(seeds, Seed{Kind: Changes, Name: "changes-all", Data: automerge.SaveChanges(chs)})
	seeds = append(seeds, Seed{Kind: Incremental, Name: "incr-changes", Data: automerge.SaveChanges(chs)})

	// A sync conversation: b (behind) and a big document syncing with a.
	for _, pair := range []struct {
		name     string
		from, to *automerge.Doc
	}{{"sync-a-to-b", a.d, b.d}, {"sync-b-to-a", b.d, a.d}, {"sync-200-to-empty", big.d, automerge.New()}} {
		from, err := pair.from.Fork()
		if err != nil {
			return nil, err
		}
		to, err := pair.to.Fork()
		if err != nil {
			return nil, err
		}
		session, err := converse(from, to)
		if err != nil {
			return nil, err
		}
		for i, m := range session {
			seeds = append(seeds, Seed{Kind: Sync, Name: fmt.Sprintf("%s-%d", pair.name, i), Data: m, Session: session})
		}
	}
	return seeds, nil
}

// converse syncs from and to until neither has anything to send, and
// returns the messages from sent, in order.
func converse(from, to *automerge.Doc) ([][]byte, error) {
	fs, ts := automerge.NewSyncState(from), automerge.NewSyncState(to)
	var sent [][]byte
	for i := 0; i < 20; i++ {
		progressed := false
		if m, ok := fs.GenerateMessage(); ok {
			b := m.Bytes()
			sent = append(sent, b)
			if _, err := ts.ReceiveMessage(b); err != nil {
				return nil, err
			}
			progressed = true
		}
		if m, ok := ts.GenerateMessage(); ok {
			if _, err := fs.ReceiveMessage(m.Bytes()); err != nil {
				return nil, err
			}
			progressed = true
		}
		if !progressed {
			return sent, nil
		}
	}
	return nil, fmt.Errorf("seeds: sync did not finish")
}
