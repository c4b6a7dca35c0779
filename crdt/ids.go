package crdt

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trustsync/trustsync"
)

// idEncoding writes item IDs: lowercase base32 without padding. Ten random
// bytes make exactly 16 characters.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a fresh random item ID: 16 characters of lowercase base32
// (80 random bits).
func newID() string {
	var b [10]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// newDeviceID returns a fresh device ID: 32 lowercase hex characters, usable
// as an Automerge actor ID.
func newDeviceID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validDeviceID reports whether id is 32 lowercase hex characters.
func validDeviceID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// CheckInDoc returns the ID of the document that holds the check-ins created
// at t: "checkins/YYYY-MM" of t's UTC month.
func CheckInDoc(t time.Time) string {
	return "checkins/" + t.UTC().Format("2006-01")
}

// resolved is an ID argument resolved against the view.
type resolved struct {
	kind string
	id   string
	item trustsync.Item
}

// resolve turns an ID or unique prefix of at least MinIDPrefix characters
// into the full ID of an item of one of kinds, with its view row.
func resolve(tx trustsync.ReadTx, id string, kinds ...string) (resolved, error) {
	what := kindName(kinds[0])
	if len(kinds) > 1 {
		what = "item"
	}
	p := strings.ToLower(strings.TrimSpace(id))
	if p == "" {
		return resolved{}, fmt.Errorf("no %s ID given: %w", what, trustsync.ErrInvalid)
	}
	if len(p) < trustsync.MinIDPrefix {
		return resolved{}, fmt.Errorf("%s ID %q is too short: give at least %d characters: %w",
			what, id, trustsync.MinIDPrefix, trustsync.ErrInvalid)
	}
	type cand struct{ kind, id string }
	var cands []cand
	for _, k := range kinds {
		ids, err := tx.ItemIDs(k, p)
		if err != nil {
			return resolved{}, err
		}
		for _, full := range ids {
			if full == p {
				cands = []cand{{k, full}}
				break
			}
			cands = append(cands, cand{k, full})
		}
		if len(cands) == 1 && cands[0].id == p {
			break
		}
	}
	switch len(cands) {
	case 0:
		return resolved{}, fmt.Errorf("no %s with ID %q: %w", what, id, trustsync.ErrNotFound)
	case 1:
	default:
		names := make([]string, len(cands))
		for i, c := range cands {
			names[i] = c.id
		}
		slices.Sort(names)
		return resolved{}, &trustsync.AmbiguousIDError{Prefix: id, Candidates: names}
	}
	it, err := tx.Item(cands[0].kind, cands[0].id)
	if err != nil {
		return resolved{}, err
	}
	return resolved{kind: cands[0].kind, id: cands[0].id, item: it}, nil
}
