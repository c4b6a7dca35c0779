package crdt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/trustsync/trustsync"
)

// Refusal is this device's record of the changes it refused from one
// device ([RefusedChangeError]): how many, and the last one's reason.
type Refusal struct {
	From    string    `json:"from"`    // the device that sent them
	Author  string    `json:"author"`  // the device named as the last one's author
	Doc     string    `json:"doc"`     // the last one's document
	Reason  string    `json:"reason"`  // the last one's reason
	Count   int       `json:"count"`   // changes refused from this device
	At      time.Time `json:"at"`      // when the last was refused
	Pending bool      `json:"pending"` // the last waits for a device's certificate, or its signature; sent again later
}

const refusalMeta = "trust/refused/"

// noteRefusal records a refused change from the device from, in its own
// transaction (the one that refused it rolled back). Errors are logged:
// the refusal itself stands either way.
func (s *Space) noteRefusal(ctx context.Context, from string, err error) {
	var re *RefusedChangeError
	if !errors.As(err, &re) || from == "" {
		return
	}
	pending := re.Unknown || re.Resend
	switch {
	case re.Unknown:
		s.log.Info("a change waits for its device's certificate", "from", from, "doc", re.Doc, "author", re.Author)
	case re.Resend:
		s.log.Info("a change set aside earlier lost its signature; it is sent again", "from", from, "doc", re.Doc, "author", re.Author)
	default:
		s.log.Warn("refused a change", "from", from, "doc", re.Doc, "author", re.Author, "reason", re.Reason)
	}
	uerr := s.st.Update(context.WithoutCancel(ctx), func(tx trustsync.Tx) error {
		var r Refusal
		if b, err := tx.Get(refusalMeta + from); err == nil {
			_ = json.Unmarshal(b, &r)
		}
		if !pending {
			r.Count++
		}
		r.From, r.Author, r.Doc, r.Reason, r.At, r.Pending = from, re.Author, re.Doc, re.Reason, time.Now().UTC(), pending
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return tx.Put(refusalMeta+from, b)
	})
	if uerr != nil {
		s.log.Warn("could not record a refused change", "err", uerr)
	}
}

// Refusals returns this device's records of changes it refused, by the
// device that sent them.
func (s *Space) Refusals(ctx context.Context, devices []string) (map[string]Refusal, error) {
	out := map[string]Refusal{}
	err := s.st.View(ctx, func(tx trustsync.ReadTx) error {
		for _, d := range devices {
			b, err := tx.Get(refusalMeta + d)
			if errors.Is(err, trustsync.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			var r Refusal
			if json.Unmarshal(b, &r) == nil {
				out[d] = r
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("refused changes: %w", err)
	}
	return out, nil
}
