package crdt

// Reading view rows: the generic listing and lookup that every kind's
// listing (Commitments, Apologies, ...) is made of.

import (
	"context"
	"encoding/json"

	"github.com/trustsync/trustsync"
)

// readRow decodes an item's view row into v.
func readRow(it trustsync.Item, v any) error {
	if err := json.Unmarshal(it.Data, v); err != nil {
		return viewDamaged(it, err)
	}
	return nil
}

// listRows decodes every view row of kind with read, which also resolves
// names.
func listRows[T any](s *Space, ctx context.Context, kind string, read func(trustsync.Item, people) (T, error)) ([]T, error) {
	var out []T
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		p, err := loadPeople(tx)
		if err != nil {
			return err
		}
		items, err := tx.Items(kind)
		if err != nil {
			return err
		}
		out = make([]T, 0, len(items))
		for _, it := range items {
			v, err := read(it, p)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// oneRow resolves id (or a prefix) among items of kind and decodes its row.
func oneRow[T any](s *Space, ctx context.Context, id, kind string, read func(trustsync.Item, people) (T, error)) (T, error) {
	var v T
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		r, err := resolve(tx, id, kind)
		if err != nil {
			return err
		}
		p, err := loadPeople(tx)
		if err != nil {
			return err
		}
		v, err = read(r.item, p)
		return err
	})
	return v, err
}
