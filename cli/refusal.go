package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trustsync/trustsync"
	tsync "github.com/trustsync/trustsync/sync"
)

// refusalKey is the store metadata key holding the last refusal between
// this device and the device deviceID, as JSON of refusalRecord.
func refusalKey(deviceID string) string { return "sync/refused/" + deviceID }

// refusalRecord is what status remembers of a refusal.
type refusalRecord struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	// ByPeer is true when the device refused this one, false when this
	// device refused the device's data.
	ByPeer bool `json:"by_peer,omitempty"`
}

// recordRefusal stores the refusal re, made at at, for status.
func recordRefusal(ctx context.Context, st trustsync.Store, re *tsync.RefusedError, at time.Time) error {
	if re.Remote.DeviceID == "" {
		return nil // a device the space does not know: nothing to show it under
	}
	b, err := json.Marshal(refusalRecord{At: at.UTC(), Reason: re.Reason(), ByPeer: re.ByPeer})
	if err != nil {
		return err
	}
	return st.Update(ctx, func(tx trustsync.Tx) error {
		return tx.Put(refusalKey(re.Remote.DeviceID), b)
	})
}

// loadRefusal returns the last refusal recorded for deviceID, and false
// when there is none (or the record is unreadable).
func loadRefusal(ctx context.Context, st trustsync.Store, deviceID string) (refusalRecord, bool, error) {
	var rec refusalRecord
	var ok bool
	err := st.View(ctx, func(tx trustsync.ReadTx) error {
		b, err := tx.Get(refusalKey(deviceID))
		if errors.Is(err, trustsync.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ok = json.Unmarshal(b, &rec) == nil && !rec.At.IsZero()
		return nil
	})
	return rec, ok, err
}

// deviceWords names a device the way refusals and damage reports do: "Sam's
// device sam-laptop", or the end of its peer ID when nothing names it.
func deviceWords(peerID string, r tsync.Remote) string {
	switch {
	case r.MemberName != "" && r.DeviceName != "":
		return fmt.Sprintf("%s's device %s", r.MemberName, r.DeviceName)
	case r.DeviceName != "":
		return "device " + r.DeviceName
	case r.MemberName != "":
		return r.MemberName + "'s device"
	case len(peerID) > 8:
		return "device " + peerID[len(peerID)-8:]
	}
	return "device " + peerID
}

// refusalLine is the one line a user sees for a refusal: "refused data from
// Sam's device sam-laptop: REASON", or, when the device refused this one,
// "Sam's device sam-laptop refused this device: REASON".
func refusalLine(peerID string, re *tsync.RefusedError) string {
	who := deviceWords(peerID, re.Remote)
	if re.ByPeer {
		return oneLine(fmt.Sprintf("%s refused this device: %s", who, re.Reason()))
	}
	return oneLine(fmt.Sprintf("refused data from %s: %s", who, re.Reason()))
}

// damageLine is the one line a user sees for a document left out of a sync
// because it is damaged on one side.
func damageLine(peerID string, r tsync.Remote, d tsync.DocDamage) string {
	who := deviceWords(peerID, r)
	if forkReason(d.Reason) {
		return oneLine(fmt.Sprintf("document %q cannot be synced with %s, the other documents were synced: %s", d.Doc, who, d.Reason))
	}
	if d.Remote {
		return oneLine(fmt.Sprintf("document %q is damaged on %s (%s); the other documents were synced", d.Doc, who, d.Reason))
	}
	return oneLine(fmt.Sprintf("document %q is damaged on this device and %s did not restore it; the other documents were synced: %s", d.Doc, who, d.Reason))
}

// restoredLine is the one line a user sees for a damaged document of this
// device restored from the partner's copy.
func restoredLine(peerID string, r tsync.Remote, doc string) string {
	return oneLine(fmt.Sprintf("restored document %q from %s: it was damaged on this device", doc, deviceWords(peerID, r)))
}

// forkReason reports whether a document was left out because its history
// forked between the two devices (the words of [crdt.ForkError]) rather
// than because it is damaged.
func forkReason(reason string) bool {
	return strings.Contains(reason, "another copy of this device's home") || strings.Contains(reason, "its history is forked")
}
