package showtext

import (
	"strings"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// JoinNames joins names as a person would: "Sam", "Sam and Alex", "Sam,
// Alex and Kim".
func JoinNames(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// Agreement sums up who agreed to the current words of an item (a
// boundary, a rhythm) and who has not yet. Before pairing the partner is
// not known by name.
type Agreement struct {
	AgreedBy   []string // names, in the order they agreed
	WaitingFor []string // names, this device's person first
	PartnerYet bool     // false before pairing: the partner still has to agree
	// YouAgreed and YouWaiting are AgreedBy and WaitingFor as this
	// device's person reads them: "you" in place of their own name.
	YouAgreed  []string
	YouWaiting []string
}

// AgreementOf sums up the agreements as to the member self, among members.
func AgreementOf(agreements []trustsync.Agreement, members []trustsync.Member, self string) Agreement {
	var a Agreement
	agreed := map[string]bool{}
	you := func(p trustsync.Person) string {
		if p.ID == self {
			return "you"
		}
		return p.Name
	}
	for _, ag := range agreements {
		if ag.Current {
			agreed[ag.By.ID] = true
			a.AgreedBy = append(a.AgreedBy, ag.By.Name)
			a.YouAgreed = append(a.YouAgreed, you(ag.By))
		}
	}
	var ordered []trustsync.Member // self first
	for _, m := range members {
		if m.ID == self {
			ordered = append([]trustsync.Member{m}, ordered...)
		} else {
			ordered = append(ordered, m)
			a.PartnerYet = true
		}
	}
	for _, m := range ordered {
		if !agreed[m.ID] {
			a.WaitingFor = append(a.WaitingFor, m.Name)
			a.YouWaiting = append(a.YouWaiting, you(m.Person))
		}
	}
	return a
}

// Status says in a few words where the agreement stands, to this device's
// person: "agreed by both", "waiting for you and your partner", "agreed by
// Sam; waiting for you".
func (a Agreement) Status() string {
	waiting := a.YouWaiting
	if !a.PartnerYet {
		waiting = append(append([]string(nil), waiting...), "your partner")
	}
	switch {
	case len(waiting) == 0:
		return "agreed by both"
	case len(a.YouAgreed) == 0:
		return "waiting for " + JoinNames(waiting)
	}
	return "agreed by " + JoinNames(a.YouAgreed) + "; waiting for " + JoinNames(waiting)
}

// ChangeWords says what a change of the history did, on one line:
// "boundary 3f2a91c0: proposed ...", its item's kind as the table of kinds
// names it and the start of the item's ID.
func ChangeWords(h trustsync.Change) string {
	what := OneLine(h.Summary)
	if what == "" {
		what = h.Action + " " + h.Kind
	}
	if h.Item != "" && h.Kind != "" {
		what = KindWord(h.Kind) + " " + ShortID(h.Item) + ": " + what
	}
	return what
}

// KindWord names an item kind as a person would: its word in the table of
// kinds (crdt.Kinds), or the kind itself for one this build does not know.
func KindWord(kind string) string {
	if k, ok := crdt.KindOf(kind); ok {
		return k.One
	}
	return kind
}

// ShortID is the start of an ID that text shows: its first 8 characters.
// Input accepts any unique prefix of at least trustsync.MinIDPrefix.
func ShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// OneLine puts s on one line: trimmed, its lines joined by "; ".
func OneLine(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	return strings.ReplaceAll(s, "\n", "; ")
}
