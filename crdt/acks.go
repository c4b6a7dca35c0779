package crdt

// Acknowledgements: one partner's "I read this", with an optional reply,
// kept per member on check-ins, apologies and kept-or-missed entries.

import (
	"slices"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// readAcks reads the per-member acknowledgements of an item: acks holds
// each member's reply, ackAt when they acknowledged.
func readAcks(m *automerge.Map, acksKey, atKey string) []trustsync.Ack {
	out := []trustsync.Ack{}
	acks := getMap(m, acksKey)
	if acks == nil {
		return out
	}
	at := getMap(m, atKey)
	vals, _ := acks.Values()
	for member, v := range vals {
		out = append(out, trustsync.Ack{By: trustsync.Person{ID: member}, At: getTime(at, member), Reply: strOf(v)})
	}
	slices.SortFunc(out, func(x, y trustsync.Ack) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		return strings.Compare(x.By.ID, y.By.ID)
	})
	return out
}

// setAck records member me's acknowledgement with reply in the per-member
// maps of m. It returns errNoChange when the same reply is already there.
func setAck(m *automerge.Map, me, reply string, at time.Time) error {
	acks, ackAt, err := memberMaps(m, "acks", "ack_at")
	if err != nil {
		return err
	}
	if v := getValue(acks, me); v != nil && strOf(v) == reply {
		return errNoChange
	}
	if err := acks.Set(me, reply); err != nil {
		return err
	}
	return setTime(ackAt, me, at)
}

func (p people) acks(acks []trustsync.Ack) {
	for i := range acks {
		p.fill(&acks[i].By)
	}
}

// ackSummary is the history summary of an acknowledgement.
func ackSummary(what, reply string) string {
	s := "acknowledged " + what
	if reply != "" {
		s += " and replied " + quote(reply)
	}
	return s
}
