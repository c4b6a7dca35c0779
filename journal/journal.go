// Package journal keeps one partner's private journal and self-care plan.
//
// A journal lives outside the couple's space altogether: in its own store
// (a separate SQLite file under the home, [Dir]), which the crdt package
// never opens and the sync package cannot name. Nothing in a journal is an
// Automerge document, so there is nothing to replicate; no import path
// leads from crdt or sync to this package (a test checks it).
//
// The only way out of a journal is an explicit copy: [Journal.PreviewEntry]
// or [Journal.PreviewCare] builds the exact check-in that would be shared,
// and [Journal.Share] adds that check-in, unchanged, to the shared space
// through any [CheckInAdder] (a *crdt.Space is one). The journal records
// locally what it shared and when.
//
// # What a journal holds
//
//   - entries ([Entry]): free text, with a mood when the writer gives one;
//   - a self-care plan: practices ([Practice]) such as "a walk after work",
//     kept until dropped;
//   - a self-care log ([Care]): what was done, optionally naming a practice.
//
// # Encryption
//
// [Open] takes a key: with one, the journal's store is wrapped by
// [store.Encrypt] and nothing in its files is readable without the key.
// The CLI derives that key from the home's key, or from the journal's own
// passphrase when it has one.
package journal

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

// Dir is the directory of the journal inside a home.
const Dir = "journal"

// The kinds of items a journal's store holds.
const (
	KindEntry    = "entry"
	KindPractice = "practice"
	KindCare     = "care"
	KindShare    = "share"
)

// doc is the document name of every journal item. The journal has no
// Automerge documents; items need a document name all the same.
const doc = "journal"

// Entry is one private journal entry.
type Entry struct {
	ID        string         `json:"id"`
	Text      string         `json:"text"`
	Mood      trustsync.Mood `json:"mood,omitempty"` // 0: none given
	CreatedAt time.Time      `json:"created_at"`
	// Shared lists the check-ins this entry was copied into.
	Shared []Share `json:"shared,omitempty"`
}

// Practice is one item of the self-care plan.
type Practice struct {
	ID        string    `json:"id"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
	Dropped   bool      `json:"dropped,omitempty"`
}

// Care is one entry of the self-care log.
type Care struct {
	ID       string    `json:"id"`
	Practice string    `json:"practice,omitempty"` // a Practice ID, or ""
	Note     string    `json:"note"`
	At       time.Time `json:"at"`
}

// Share records one copy from the journal into the shared space.
type Share struct {
	ID      string    `json:"id"`
	Source  string    `json:"source"` // an entry ID, or "selfcare"
	CheckIn string    `json:"checkin"`
	At      time.Time `json:"at"`
}

// Options configure a Journal. The zero value works.
type Options struct {
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Journal is one partner's private journal. It is safe for concurrent use
// as far as its store is.
type Journal struct {
	st    trustsync.Store
	now   func() time.Time
	owned bool
}

// New returns a journal kept in st, which the caller owns and closes. st
// must not be the store of a space.
func New(st trustsync.Store, opts Options) *Journal {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Journal{st: st, now: opts.Now}
}

// Open opens (creating when missing) a journal kept in its own store in
// dir -- for a home, filepath.Join(home, [Dir]) -- encrypted under key
// unless key is nil. Without a key, a journal that was encrypted gives an
// error wrapping [store.ErrEncrypted]. [Journal.Close] closes the store.
func Open(ctx context.Context, dir string, key []byte, opts Options) (*Journal, error) {
	d, err := store.Open(dir, store.Options{})
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	var st trustsync.Store = d
	if key == nil {
		enc, err := store.IsEncrypted(ctx, d)
		if err == nil && enc {
			err = store.ErrEncrypted
		}
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("open journal: %w", err)
		}
	} else {
		if st, err = store.Encrypt(ctx, d, key); err != nil {
			d.Close()
			return nil, fmt.Errorf("open journal: %w", err)
		}
	}
	j := New(st, opts)
	j.owned = true
	return j, nil
}

// Close closes the journal's store if Open opened it.
func (j *Journal) Close() error {
	if !j.owned {
		return nil
	}
	return j.st.Close()
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newID() string {
	var b [10]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// stamp is the clock read to the millisecond, as every time is kept.
func (j *Journal) stamp() time.Time { return j.now().UTC().Truncate(time.Millisecond) }

func put(tx trustsync.Tx, kind, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.PutItem(trustsync.Item{Kind: kind, ID: id, Doc: doc, Data: b})
}

// text validates required free text by the rules of the shared documents
// ([crdt.CheckText]): an entry may be shared into a check-in later, and its
// words are shown on a terminal.
func text(op, s string) (string, error) {
	s, err := optionalText(op, s)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", fmt.Errorf("%s: the text is empty: %w", op, trustsync.ErrInvalid)
	}
	return s, nil
}

// optionalText validates free text that may be empty; it returns it
// trimmed, with CRLF line ends turned into newlines.
func optionalText(op, s string) (string, error) {
	if err := crdt.CheckText("the text", s, false); err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n")), nil
}

// Add writes a new entry. mood may be 0 (none) or 1..5.
func (j *Journal) Add(ctx context.Context, s string, mood trustsync.Mood) (Entry, error) {
	s, err := text("add journal entry", s)
	if err != nil {
		return Entry{}, err
	}
	if mood != 0 && !mood.Valid() {
		return Entry{}, fmt.Errorf("add journal entry: mood %d is outside 1..5: %w", mood, trustsync.ErrInvalid)
	}
	e := Entry{ID: newID(), Text: s, Mood: mood, CreatedAt: j.stamp()}
	return e, j.st.Update(ctx, func(tx trustsync.Tx) error { return put(tx, KindEntry, e.ID, e) })
}

// Entries returns every entry, newest first.
func (j *Journal) Entries(ctx context.Context) ([]Entry, error) {
	var out []Entry
	err := j.st.View(ctx, func(tx trustsync.ReadTx) error {
		shares, err := list[Share](tx, KindShare)
		if err != nil {
			return err
		}
		if out, err = list[Entry](tx, KindEntry); err != nil {
			return err
		}
		for i := range out {
			out[i].Shared = sharesOf(shares, out[i].ID)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Entry) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, err
}

// Entry returns one entry; id may be abbreviated to a unique prefix of at
// least [trustsync.MinIDPrefix] characters.
func (j *Journal) Entry(ctx context.Context, id string) (Entry, error) {
	var e Entry
	err := j.st.View(ctx, func(tx trustsync.ReadTx) error {
		var err error
		if e, err = get[Entry](tx, KindEntry, id, "journal entry"); err != nil {
			return err
		}
		shares, err := list[Share](tx, KindShare)
		e.Shared = sharesOf(shares, e.ID)
		return err
	})
	return e, err
}

func sharesOf(all []Share, source string) []Share {
	var out []Share
	for _, s := range all {
		if s.Source == source {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Share) int { return a.At.Compare(b.At) })
	return out
}

// AddPractice adds a practice to the self-care plan.
func (j *Journal) AddPractice(ctx context.Context, s string) (Practice, error) {
	s, err := text("add practice", s)
	if err != nil {
		return Practice{}, err
	}
	p := Practice{ID: newID(), Text: s, CreatedAt: j.stamp()}
	return p, j.st.Update(ctx, func(tx trustsync.Tx) error { return put(tx, KindPractice, p.ID, p) })
}

// Plan returns the practices of the self-care plan, oldest first; dropped
// ones only when all is true.
func (j *Journal) Plan(ctx context.Context, all bool) ([]Practice, error) {
	var ps []Practice
	err := j.st.View(ctx, func(tx trustsync.ReadTx) error {
		var err error
		ps, err = list[Practice](tx, KindPractice)
		return err
	})
	ps = slices.DeleteFunc(ps, func(p Practice) bool { return p.Dropped && !all })
	slices.SortFunc(ps, func(a, b Practice) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return ps, err
}

// DropPractice takes a practice out of the plan. Its log entries stay.
func (j *Journal) DropPractice(ctx context.Context, id string) (Practice, error) {
	var p Practice
	err := j.st.Update(ctx, func(tx trustsync.Tx) error {
		var err error
		if p, err = get[Practice](tx, KindPractice, id, "practice"); err != nil {
			return err
		}
		p.Dropped = true
		return put(tx, KindPractice, p.ID, p)
	})
	return p, err
}

// LogCare records self-care; practice, when not "", names a practice of
// the plan (abbreviated or not).
func (j *Journal) LogCare(ctx context.Context, note, practice string) (Care, error) {
	note, err := optionalText("log self-care", note)
	if err != nil {
		return Care{}, err
	}
	var c Care
	err = j.st.Update(ctx, func(tx trustsync.Tx) error {
		if practice != "" {
			p, err := get[Practice](tx, KindPractice, practice, "practice")
			if err != nil {
				return err
			}
			practice = p.ID
		} else if note == "" {
			return fmt.Errorf("log self-care: give a note or a practice: %w", trustsync.ErrInvalid)
		}
		c = Care{ID: newID(), Practice: practice, Note: note, At: j.stamp()}
		return put(tx, KindCare, c.ID, c)
	})
	return c, err
}

// CareLog returns the self-care log since a time (zero: all), newest first.
func (j *Journal) CareLog(ctx context.Context, since time.Time) ([]Care, error) {
	var cs []Care
	err := j.st.View(ctx, func(tx trustsync.ReadTx) error {
		var err error
		cs, err = list[Care](tx, KindCare)
		return err
	})
	cs = slices.DeleteFunc(cs, func(c Care) bool { return c.At.Before(since) })
	slices.SortFunc(cs, func(a, b Care) int { return b.At.Compare(a.At) })
	return cs, err
}

func list[T any](tx trustsync.ReadTx, kind string) ([]T, error) {
	items, err := tx.Items(kind)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(items))
	for i, it := range items {
		if err := json.Unmarshal(it.Data, &out[i]); err != nil {
			return nil, fmt.Errorf("read %s %s: %w", kind, it.ID, err)
		}
	}
	return out, nil
}

// get reads one item by ID or unique prefix.
func get[T any](tx trustsync.ReadTx, kind, id, what string) (T, error) {
	var v T
	id = strings.ToLower(strings.TrimSpace(id))
	if len(id) < trustsync.MinIDPrefix {
		return v, fmt.Errorf("%s %q: an ID needs at least %d characters: %w", what, id, trustsync.MinIDPrefix, trustsync.ErrInvalid)
	}
	ids, err := tx.ItemIDs(kind, id)
	if err != nil {
		return v, err
	}
	switch {
	case slices.Contains(ids, id):
		ids = []string{id}
	case len(ids) == 0:
		return v, fmt.Errorf("no %s %q in your journal: %w", what, id, trustsync.ErrNotFound)
	case len(ids) > 1:
		return v, &trustsync.AmbiguousIDError{Prefix: id, Candidates: ids}
	}
	it, err := tx.Item(kind, ids[0])
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(it.Data, &v); err != nil {
		return v, fmt.Errorf("read %s %s: %w", kind, it.ID, err)
	}
	return v, nil
}

// ErrNoMood is returned by the previews when the check-in would have no
// mood: a check-in needs one.
var ErrNoMood = errors.New("a check-in needs a mood from 1 to 5")

// CopyTo copies everything in j into dst, which should be empty: it is how
// a journal moves to a store under another key.
func (j *Journal) CopyTo(ctx context.Context, dst *Journal) error {
	return j.st.View(ctx, func(rtx trustsync.ReadTx) error {
		return dst.st.Update(ctx, func(tx trustsync.Tx) error {
			for _, kind := range []string{KindEntry, KindPractice, KindCare, KindShare} {
				items, err := rtx.Items(kind)
				if err != nil {
					return err
				}
				for _, it := range items {
					if err := tx.PutItem(it); err != nil {
						return err
					}
				}
			}
			return nil
		})
	})
}
