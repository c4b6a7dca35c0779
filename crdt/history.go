package crdt

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/trustsync/trustsync"
)

// History returns who changed what, newest first. Each change names the
// partner and the device that made it, resolved from the space document.
func (s *Space) History(ctx context.Context, opts HistoryOptions) ([]trustsync.Change, error) {
	var out []trustsync.Change
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		p, err := loadPeople(tx)
		if err != nil {
			return err
		}
		devs, err := tx.Items(KindDevice)
		if err != nil {
			return err
		}
		devices := make(map[string]trustsync.Device, len(devs))
		for _, it := range devs {
			var d trustsync.Device
			if err := json.Unmarshal(it.Data, &d); err != nil {
				return viewDamaged(it, err)
			}
			devices[d.ID] = d
		}
		var entries []trustsync.HistoryEntry
		if opts.Item == "" {
			entries, err = tx.History(opts.Offset, opts.Limit)
		} else {
			entries, err = tx.History(0, 0)
		}
		if err != nil {
			return err
		}
		skip := opts.Offset
		for _, e := range entries {
			c := toChange(e, p, devices)
			if opts.Item != "" {
				if c.Item != opts.Item && c.goal != opts.Item {
					continue
				}
				if skip > 0 {
					skip--
					continue
				}
				if opts.Limit > 0 && len(out) == opts.Limit {
					break
				}
			}
			out = append(out, c.Change)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return out, nil
}

type change struct {
	trustsync.Change
	goal string
}

// toChange turns a stored history entry into a Change a person can read.
func toChange(e trustsync.HistoryEntry, p people, devices map[string]trustsync.Device) change {
	c := change{Change: trustsync.Change{
		Hash:     e.Hash,
		At:       e.At,
		Doc:      e.Doc,
		DeviceID: e.Actor,
	}}
	if d, ok := devices[e.Actor]; ok {
		c.Device = d.Name
		c.By = d.Owner
		p.fill(&c.By)
	} else {
		c.Device = "unknown device " + short(e.Actor)
		c.By = trustsync.Person{Name: "someone"}
	}
	var m changeMsg
	if err := json.Unmarshal([]byte(e.Message), &m); err == nil && m.A != "" {
		c.Action, c.Kind, c.Item, c.Summary, c.goal = m.A, m.K, m.I, m.S, m.G
	} else {
		c.Action = "change"
		c.Kind = docKind(e.Doc)
		c.Summary = "changed " + docKind(e.Doc)
		if e.Message != "" {
			c.Summary += ": " + quote(e.Message)
		}
	}
	return c
}

func short(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}
