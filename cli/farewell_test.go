package cli

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// TestUpdateFarewells: the devices still to be told of an unpairing are
// kept once each, dropped when told, and the record goes when none is left.
func TestUpdateFarewells(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	steps := []struct {
		name      string
		add, drop []string
		want      []string
	}{
		{"two devices not reached", []string{"a", "b"}, nil, []string{"a", "b"}},
		{"one of them again, and a third", []string{"b", "c"}, nil, []string{"a", "b", "c"}},
		{"one told", nil, []string{"b"}, []string{"a", "c"}},
		{"the others told", nil, []string{"a", "c"}, nil},
	}
	for _, s := range steps {
		if err := updateFarewells(ctx, st, s.add, s.drop); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, err := loadFarewells(ctx, st)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !slices.Equal(got, s.want) {
			t.Fatalf("%s: still to tell %v, want %v", s.name, got, s.want)
		}
	}
	if err := st.View(ctx, func(tx trustsync.ReadTx) error {
		_, err := tx.Get(farewellKey)
		return err
	}); !errors.Is(err, trustsync.ErrNotFound) {
		t.Fatalf("with nobody left to tell the record stays (%v)", err)
	}
}
