package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	tsync "github.com/trustsync/trustsync/sync"
)

// An unpaired device that could not be told at once ('trustsync unpair'
// while it was offline) is told later by this device's 'serve': otherwise
// its own serve would only find itself refused, without a word of why.

// farewellKey is the metadata key of the devices this device unpaired and
// has not told yet: a JSON array of device IDs.
const farewellKey = "sync/farewell"

// farewellEvery is how often serve tries again to tell them.
var farewellEvery = 30 * time.Second

// farewellFor is how long after the unpairing serve keeps trying: a device
// gone for good (a lost phone) is not dialed forever.
const farewellFor = 30 * 24 * time.Hour

// loadFarewells returns the IDs of the unpaired devices not told yet.
func loadFarewells(ctx context.Context, st trustsync.Store) ([]string, error) {
	var ids []string
	err := st.View(ctx, func(tx trustsync.ReadTx) error {
		b, err := tx.Get(farewellKey)
		if errors.Is(err, trustsync.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if json.Unmarshal(b, &ids) != nil {
			ids = nil // unreadable: nobody is waiting to be told
		}
		return nil
	})
	return ids, err
}

// updateFarewells adds the devices in add to those not told yet and drops
// those in drop, in one transaction.
func updateFarewells(ctx context.Context, st trustsync.Store, add, drop []string) error {
	return st.Update(ctx, func(tx trustsync.Tx) error {
		var ids []string
		b, err := tx.Get(farewellKey)
		switch {
		case errors.Is(err, trustsync.ErrNotFound):
		case err != nil:
			return err
		default:
			_ = json.Unmarshal(b, &ids)
		}
		for _, id := range add {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		ids = slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(drop, id) })
		if len(ids) == 0 {
			return tx.Delete(farewellKey)
		}
		b, err = json.Marshal(ids)
		if err != nil {
			return err
		}
		return tx.Put(farewellKey, b)
	})
}

// tellFarewells tells the unpaired devices not told yet that this device
// unpaired them, writing a line to w for each one told. A device paired
// again meanwhile, no longer in the space, or unpaired more than
// farewellFor ago is dropped from the list.
func tellFarewells(ctx context.Context, sp *crdt.Space, st trustsync.Store, n *tsync.Node, w io.Writer) error {
	ids, err := loadFarewells(ctx, st)
	if err != nil || len(ids) == 0 {
		return err
	}
	members, err := sp.Members(ctx)
	if err != nil {
		return err
	}
	var devs []trustsync.Device
	var drop []string
	for _, id := range ids {
		d, ok := removedDevice(members, id)
		if !ok || time.Since(d.RemovedAt) > farewellFor {
			drop = append(drop, id)
			continue
		}
		devs = append(devs, d)
	}
	if len(devs) > 0 {
		for _, d := range n.TellRemoved(ctx, devs) {
			drop = append(drop, d.ID)
			fmt.Fprintf(w, "told %q that this device unpaired it; it stops syncing with you too\n", d.Name)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	return updateFarewells(context.WithoutCancel(ctx), st, nil, drop)
}

// removedDevice finds an unpaired device of the space, with its owner's
// name.
func removedDevice(members []trustsync.Member, id string) (trustsync.Device, bool) {
	for _, m := range members {
		for _, d := range m.Devices {
			if d.ID == id && d.Removed {
				d.Owner.Name = m.Name
				return d, true
			}
		}
	}
	return trustsync.Device{}, false
}

// farewellLoop tells the unpaired devices not told yet at once and then
// every farewellEvery, until ctx ends.
func farewellLoop(ctx context.Context, sp *crdt.Space, st trustsync.Store, n *tsync.Node, w io.Writer) {
	t := time.NewTicker(farewellEvery)
	defer t.Stop()
	for {
		if err := tellFarewells(ctx, sp, st, n, w); err != nil && ctx.Err() == nil {
			fmt.Fprintf(w, "cannot tell the unpaired devices: %s\n", oneLine(err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
