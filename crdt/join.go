package crdt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// Pairing changes both homes in one store transaction each, and never
// before the exchange has come as far as it can: the inviting device
// takes the joining device in with [Space.Admit] once it has the joining
// device's records, and the joining device takes the space with
// [Space.JoinSpace] once it has the inviting device's. A pairing refused or
// interrupted before that leaves a home exactly as it was; one that
// fails inside it is rolled back. Neither side ever sends a change it has
// not stored, so an interrupted pairing can always be tried again: the
// next attempt sends the same changes, or later ones.

// Joiner is a device joining the space through an invite of this device,
// as it presents itself.
type Joiner struct {
	// Device is the joining device's ID.
	Device string
	// PeerID is its libp2p peer ID, recorded when its record has none.
	PeerID string
	// Member is who it joins as: its own member (the partner's first
	// device), or an existing member of the space (a further device of
	// that person).
	Member trustsync.Person
	// From is the member the device was created as, when it joins as
	// another: Create made a member for it, which the space no longer
	// needs once the device is handed over to Member. Empty otherwise.
	From string
}

// Admit takes a joining device into the space, on the inviting device,
// in one store transaction: it merges the device's space document (data,
// the bytes of its [Space.Save]), hands the device over to j.Member when
// it was created as another member (deleting that member, which only the
// device's own Create made), records the device's peer ID when its record
// has none, and notes the pairing ([Space.NotePaired]). check sees the
// members as the merged document gives them, before the handover, and may
// refuse the device. When check or any step fails, the store is left
// exactly as it was.
func (s *Space) Admit(ctx context.Context, data []byte, j Joiner, check func(members []trustsync.Member) error) error {
	if err := s.check(); err != nil {
		return err
	}
	me := s.Self()
	j.Device = strings.ToLower(strings.TrimSpace(j.Device))
	switch {
	case !validDeviceID(j.Device):
		return fmt.Errorf("admit device: device ID %q is not 32 hex characters: %w", j.Device, trustsync.ErrInvalid)
	case j.Device == me.DeviceID:
		return fmt.Errorf("admit device: %s is this device: %w", j.Device, trustsync.ErrInvalid)
	case j.Member.ID == "":
		return fmt.Errorf("admit device: no member given: %w", trustsync.ErrInvalid)
	case len(data) == 0:
		return fmt.Errorf("admit device: no space document: %w", trustsync.ErrInvalid)
	}
	if j.From == j.Member.ID {
		j.From = ""
	}
	ds := s.docState(SpaceDoc)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	var rec Received
	var touched []ItemRef
	err := s.st.Update(ctx, func(tx trustsync.Tx) error {
		before, err := memberSet(tx)
		if err != nil {
			return err
		}
		if j.From != "" && before[j.From] {
			return fmt.Errorf("the joining device was created as a member of this space and cannot be handed over to another: %w", trustsync.ErrInvalid)
		}
		// The joining device was met first-hand, on the connection its
		// peer ID authenticates: its key is trusted for the member it
		// joins as, so that the changes it sends verify.
		key, err := peerIDKey(j.PeerID)
		if err != nil {
			return fmt.Errorf("the joining device's key: %v: %w", err, trustsync.ErrInvalid)
		}
		if err := addAnchor(tx, anchor{Device: j.Device, Member: j.Member.ID, Key: key}); err != nil {
			return err
		}
		if rec, err = s.importTx(ctx, tx, me, ds, data); err != nil {
			return err
		}
		if check != nil {
			members, err := readMembers(tx)
			if err != nil {
				return err
			}
			if err := check(members); err != nil {
				return err
			}
		}
		e, err := s.writeTx(tx, ds, s.now(), handOver(j.Device, j.Member.ID, j.From, j.PeerID, "added the device %s of %s"))
		if err != nil && !errors.Is(err, errNoChange) {
			return err
		}
		touched = append(touched, e.touched...)
		if e, err = s.writeTx(tx, ds, s.now(), s.notePaired(me.DeviceID, j.Device)); err != nil {
			return err
		}
		touched = append(touched, e.touched...)
		// This device vouches for the new one, so that every other device
		// of the space knows whose it is (trust.go).
		e, err = s.writeTx(tx, ds, s.now(), s.certify(tx, me, j.Device, key, j.Member.ID))
		if err != nil && !errors.Is(err, errNoChange) {
			return err
		}
		touched = append(touched, e.touched...)
		return nil
	})
	if err != nil {
		ds.drop()
		return fmt.Errorf("admit device: %w", err)
	}
	s.noteSeen(SpaceDoc, ds.seq)
	s.publish(Event{Doc: SpaceDoc, Items: mergeRefs(rec.Items, touched), Remote: rec.Changes > 0, From: j.Device})
	return nil
}

// JoinSpace makes this device a device of another space, on the joining
// device, in one store transaction once the inviting device has sent its
// space document (data): it merges that document, takes the space ID and,
// joining as an existing member (a further device of that person), hands
// this device over to member as [Space.JoinAs] does, and notes the pairing
// with the inviting device. member is this device's own member when it
// joins as a new one, the partner. When any step fails -- a document that
// cannot be merged, an inviting device missing from it -- the store is
// left exactly as it was, space ID and identity included.
func (s *Space) JoinSpace(ctx context.Context, spaceID string, member trustsync.Person, data []byte, inviter, inviterPeer string) error {
	if err := s.check(); err != nil {
		return err
	}
	me := s.Self()
	spaceID = strings.TrimSpace(spaceID)
	member.Name = strings.TrimSpace(member.Name)
	switch {
	case spaceID == "":
		return fmt.Errorf("join space: no space ID given: %w", trustsync.ErrInvalid)
	case member.ID == "":
		return fmt.Errorf("join space: no member given: %w", trustsync.ErrInvalid)
	case inviter == me.DeviceID:
		return fmt.Errorf("join space: %s is this device: %w", inviter, trustsync.ErrInvalid)
	case len(data) == 0:
		return fmt.Errorf("join space: no space document: %w", trustsync.ErrInvalid)
	}
	id := me
	id.SpaceID = spaceID
	from := ""
	if member.ID != me.MemberID {
		if member.Name == "" {
			return fmt.Errorf("join space: the member has no name: %w", trustsync.ErrInvalid)
		}
		id.MemberID, id.MemberName = member.ID, member.Name
		from = me.MemberID
	}
	idBytes, err := json.Marshal(id)
	if err != nil {
		return err
	}
	ds := s.docState(SpaceDoc)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	var rec Received
	var touched []ItemRef
	err = s.st.Update(ctx, func(tx trustsync.Tx) error {
		if from != "" {
			docs, err := tx.Docs()
			if err != nil {
				return err
			}
			if slices.ContainsFunc(docs, func(d string) bool { return d != SpaceDoc }) {
				return fmt.Errorf("this device already holds boundaries, goals or check-ins written as %s; join from a newly initialised device: %w",
					me.MemberName, trustsync.ErrInvalid)
			}
		}
		// The inviting device was met first-hand, on the connection its
		// peer ID (from the invite) authenticates. Its member is what its
		// own record says.
		key, err := peerIDKey(inviterPeer)
		if err != nil {
			return fmt.Errorf("the inviting device's key: %v: %w", err, trustsync.ErrInvalid)
		}
		if err := addAnchor(tx, anchor{Device: inviter, Key: key}); err != nil {
			return err
		}
		if rec, err = s.importTx(ctx, tx, id, ds, data); err != nil {
			return err
		}
		root := ds.doc.RootMap()
		inv := getMap(root, "d:"+inviter)
		if inv == nil || getStr(inv, "member") == "" {
			return fmt.Errorf("the inviting device sent no record of itself: %w", trustsync.ErrInvalid)
		}
		if got := getStr(inv, "peer_id"); got != "" && got != inviterPeer {
			return fmt.Errorf("the inviting device's record names another key: %w", trustsync.ErrInvalid)
		}
		invMember := getStr(inv, "member")
		if err := addAnchor(tx, anchor{Device: inviter, Member: invMember, Key: key}); err != nil {
			return err
		}
		if from != "" {
			// The inviting device hands this one over (Admit); this is
			// for an inviting device that did not.
			e, err := s.writeTx(tx, ds, s.now(), handOver(me.DeviceID, member.ID, from, "", "joined as the device %s of %s"))
			if err != nil && !errors.Is(err, errNoChange) {
				return err
			}
			touched = append(touched, e.touched...)
		}
		e, err := s.writeTx(tx, ds, s.now(), s.notePaired(me.DeviceID, inviter))
		if err != nil {
			return err
		}
		touched = append(touched, e.touched...)
		if invMember != id.MemberID {
			// The partner's first device, met here: this device vouches
			// for it, for this person's further devices (trust.go).
			e, err = s.writeTx(tx, ds, s.now(), s.certify(tx, id, inviter, key, invMember))
			if err != nil && !errors.Is(err, errNoChange) {
				return err
			}
			touched = append(touched, e.touched...)
		}
		return tx.Put(identityKey, idBytes)
	})
	if err != nil {
		ds.drop()
		return fmt.Errorf("join space: %w", err)
	}
	s.mu.Lock()
	s.id = id
	s.mu.Unlock()
	s.noteSeen(SpaceDoc, ds.seq)
	s.publish(Event{Doc: SpaceDoc, Items: mergeRefs(rec.Items, touched), Remote: rec.Changes > 0, From: inviter})
	return nil
}

// handOver is the edit that gives device to the member to, when the
// device's record names from (the member its Create made), deletes from
// once it has no device left, and records peerID when the record has none.
// summary has two %s: the device's name and the member's. It changes
// nothing when the record already says all that.
func handOver(device, to, from, peerID, summary string) editFunc {
	return func(doc *automerge.Doc, root *automerge.Map) (edit, error) {
		d := getMap(root, "d:"+device)
		if d == nil {
			return edit{}, fmt.Errorf("the joining device sent no record of itself: %w", trustsync.ErrInvalid)
		}
		toRec := getMap(root, "m:"+to)
		if toRec == nil {
			return edit{}, fmt.Errorf("member %s is not in the space: %w", to, trustsync.ErrInvalid)
		}
		changed := false
		touched := []ItemRef{{KindDevice, device}, {KindMember, to}}
		if owner := getStr(d, "member"); owner != to {
			if from == "" || owner != from {
				return edit{}, fmt.Errorf("the joining device's record names another member: %w", trustsync.ErrInvalid)
			}
			if err := d.Set("member", to); err != nil {
				return edit{}, err
			}
			changed = true
		}
		if from != "" && getMap(root, "m:"+from) != nil {
			others, err := devicesOf(root, from)
			if err != nil {
				return edit{}, err
			}
			if len(others) == 0 {
				if err := root.Delete("m:" + from); err != nil {
					return edit{}, err
				}
				touched = append(touched, ItemRef{KindMember, from})
				changed = true
			}
		}
		if peerID != "" && getStr(d, "peer_id") == "" {
			if err := setPeer(d, peerID); err != nil {
				return edit{}, err
			}
			changed = true
		}
		if !changed {
			return edit{}, errNoChange
		}
		return edit{action: "join", kind: KindDevice, item: device,
			summary: fmt.Sprintf(summary, quote(getStr(d, "name")), getStr(toRec, "name")),
			touched: touched}, nil
	}
}

// mergeRefs returns the items of a and b, each once, sorted.
func mergeRefs(a, b []ItemRef) []ItemRef {
	out := append(slices.Clone(a), b...)
	sortRefs(out)
	return slices.Compact(out)
}
