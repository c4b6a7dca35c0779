package crdt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// putMember creates the record "m:<id>" of the space document unless it
// exists.
func putMember(root *automerge.Map, id, name string, at time.Time) error {
	if getMap(root, "m:"+id) != nil {
		return nil
	}
	m := automerge.NewMap()
	if err := root.Set("m:"+id, m); err != nil {
		return err
	}
	return setFields(m, "name", name, "joined_at", at.UnixMilli())
}

// putDevice creates or updates the record "d:<id>" of the space document,
// touching only the fields that differ. It never writes addresses: where a
// device listens is kept by each device in its own store ([KnownAddrs]).
func putDevice(root *automerge.Map, d trustsync.Device, at time.Time) error {
	m := getMap(root, "d:"+d.ID)
	if m == nil {
		m = automerge.NewMap()
		if err := root.Set("d:"+d.ID, m); err != nil {
			return err
		}
		added := d.AddedAt
		if added.IsZero() {
			added = at
		}
		return setFields(m,
			"member", d.Owner.ID,
			"name", d.Name,
			"peer_id", d.PeerID,
			"added_at", added.UnixMilli(),
			"removed", false,
			"removed_at", int64(0),
			"removed_by", "",
		)
	}
	if d.Name != "" && getStr(m, "name") != d.Name {
		if err := m.Set("name", d.Name); err != nil {
			return err
		}
	}
	if d.Owner.ID != "" && getStr(m, "member") != d.Owner.ID {
		if err := m.Set("member", d.Owner.ID); err != nil {
			return err
		}
	}
	return setPeer(m, d.PeerID)
}

// setPeer updates a device record's peer ID where it differs; an empty one
// is left alone.
func setPeer(m *automerge.Map, peerID string) error {
	if peerID != "" && getStr(m, "peer_id") != peerID {
		if err := m.Set("peer_id", peerID); err != nil {
			return err
		}
	}
	return nil
}

// dropLegacyAddrs deletes the "addrs" field that earlier versions wrote
// into a device record -- the device's listen addresses, replaced at every
// change, so that the history held a timed trail of them. Each device
// deletes it from its own record the next time it changes that record.
// Automerge keeps the old values in the history: deleting the field stops
// the trail from growing and hides it from the current state, no more.
func dropLegacyAddrs(m *automerge.Map) (bool, error) {
	if m == nil {
		return false, nil
	}
	if v, err := m.Get("addrs"); err != nil || v == nil || v.Kind() == automerge.KindVoid {
		return false, err
	}
	if err := m.Delete("addrs"); err != nil {
		return false, err
	}
	return true, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Members returns the partners of the space with their devices, in the order
// they joined.
func (s *Space) Members(ctx context.Context) ([]trustsync.Member, error) {
	var out []trustsync.Member
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		var err error
		out, err = readMembers(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return out, nil
}

func readMembers(tx trustsync.ReadTx) ([]trustsync.Member, error) {
	items, err := tx.Items(KindMember)
	if err != nil {
		return nil, err
	}
	out := make([]trustsync.Member, 0, len(items))
	index := map[string]int{}
	for _, it := range items {
		var m trustsync.Member
		if err := json.Unmarshal(it.Data, &m); err != nil {
			return nil, viewDamaged(it, err)
		}
		m.Devices = []trustsync.Device{}
		index[m.ID] = len(out)
		out = append(out, m)
	}
	rows, err := deviceRows(tx)
	if err != nil {
		return nil, err
	}
	// A device counts only when this device knows whose it is: met in
	// pairing, or vouched for by a certificate (trust.go). Its member and
	// peer ID are then the ones vouched for, whatever its record says.
	begun, err := signingBegun(tx)
	if err != nil {
		return nil, err
	}
	var t *trust
	if begun {
		if t, err = trustFromTx(tx, rows); err != nil {
			return nil, err
		}
	}
	for _, row := range rows {
		d := row.Device
		if t != nil {
			k, ok := t.devices[d.ID]
			if !ok {
				continue
			}
			d.Owner.ID, d.PeerID = k.Member, PeerIDOf(k.Key)
		}
		i, ok := index[d.Owner.ID]
		if !ok {
			continue
		}
		d.Owner.Name = out[i].Name
		out[i].Devices = append(out[i].Devices, d)
	}
	// A member is someone the space document gives a device to. Create
	// makes every member together with its first device, and unpairing
	// marks devices removed without deleting them, so a real member always
	// has one. A member row with no device is the one Create made on a
	// device that then joined as a further device of an existing member:
	// pairing (Admit, JoinSpace, JoinAs) deletes that member from the
	// document and hands the device over. Homes joined before the view row
	// was deleted too keep that row. It is ignored here, when read, rather
	// than deleted by a migration: the rule then holds for every home,
	// whatever wrote its rows, with no write (a read-only or locked home
	// reads right too), and a row that only the store knows about (the
	// document has no such member) can never make a third partner. The
	// row itself is swept at the home's next change of the space document
	// (sweepMembers).
	out = slices.DeleteFunc(out, func(m trustsync.Member) bool { return len(m.Devices) == 0 })
	for i := range out {
		slices.SortFunc(out[i].Devices, func(a, b trustsync.Device) int {
			if c := a.AddedAt.Compare(b.AddedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
	}
	slices.SortFunc(out, func(a, b trustsync.Member) int {
		if c := a.JoinedAt.Compare(b.JoinedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Partner returns the other member, or an error wrapping
// [trustsync.ErrNotFound] before pairing.
func (s *Space) Partner(ctx context.Context) (trustsync.Member, error) {
	ms, err := s.Members(ctx)
	if err != nil {
		return trustsync.Member{}, err
	}
	me := s.Self().MemberID
	for _, m := range ms {
		if m.ID != me {
			return m, nil
		}
	}
	return trustsync.Member{}, fmt.Errorf("no partner yet: pair with your partner's device first: %w", trustsync.ErrNotFound)
}

// AddDevice records a device of a member (this one or the partner) in the
// space document; the member record is created from d.Owner when missing.
// Pairing uses [Space.Admit] instead, which does this and more in one
// transaction. d.Addrs, when given for another device, are kept as this
// device's own knowledge of where that device listens ([Space.NoteAddrs]),
// never in the shared document.
//
// A device that already has a space of its own holds its own member and
// device records. Import its space document (or sync it) before AddDevice:
// AddDevice then only updates the fields that differ. Creating a record the
// device also created leaves two concurrent maps under one key, of which
// Automerge shows only one on every device.
func (s *Space) AddDevice(ctx context.Context, d trustsync.Device) error {
	d.ID = strings.ToLower(strings.TrimSpace(d.ID))
	if !validDeviceID(d.ID) {
		return fmt.Errorf("add device: device ID %q is not 32 hex characters: %w", d.ID, trustsync.ErrInvalid)
	}
	if d.Owner.ID == "" {
		return fmt.Errorf("add device: the device has no owner: %w", trustsync.ErrInvalid)
	}
	// A device this device trusts first-hand ([Space.TrustDevice]) is
	// vouched for in its record, for this person's other devices.
	vouch, err := s.anchorOf(ctx, d.ID)
	if err != nil {
		return fmt.Errorf("add device: %w", err)
	}
	me := s.Self()
	self := d.ID == me.DeviceID
	_, err = s.write(ctx, SpaceDoc, func(doc *automerge.Doc, root *automerge.Map) (edit, error) {
		at := ms(s.now())
		newMember := getMap(root, "m:"+d.Owner.ID) == nil
		if newMember {
			name := strings.TrimSpace(d.Owner.Name)
			if name == "" {
				return edit{}, fmt.Errorf("the new member %s has no name: %w", d.Owner.ID, trustsync.ErrInvalid)
			}
			if err := putMember(root, d.Owner.ID, name, at); err != nil {
				return edit{}, err
			}
		}
		existed := getMap(root, "d:"+d.ID) != nil
		before, _ := deviceFromDoc(root, d.ID)
		if err := putDevice(root, d, at); err != nil {
			return edit{}, err
		}
		dropped := false
		if self {
			var err error
			if dropped, err = dropLegacyAddrs(getMap(root, "d:"+d.ID)); err != nil {
				return edit{}, err
			}
		}
		after, _ := deviceFromDoc(root, d.ID)
		certified := false
		if vouch != nil {
			e, err := s.certify(nil, me, d.ID, vouch.Key, vouch.Member)(doc, root)
			if err != nil && !errors.Is(err, errNoChange) {
				return edit{}, err
			}
			certified = err == nil && e.item != ""
		}
		if existed && !newMember && !dropped && !certified &&
			before.Name == after.Name && before.PeerID == after.PeerID && before.Owner == after.Owner {
			return edit{}, errNoChange
		}
		summary := fmt.Sprintf("added the device %q", d.Name)
		if newMember {
			summary = fmt.Sprintf("added %s with the device %q", quote(d.Owner.Name), d.Name)
		} else if existed {
			summary = fmt.Sprintf("updated the device %q", after.Name)
		}
		return edit{action: "add", kind: KindDevice, item: d.ID, summary: summary,
			touched: []ItemRef{{KindMember, d.Owner.ID}, {KindDevice, d.ID}}}, nil
	})
	if err != nil {
		return fmt.Errorf("add device: %w", err)
	}
	if len(d.Addrs) > 0 && !self {
		if _, err := s.NoteAddrs(ctx, d.ID, KnownAddrs{Addrs: d.Addrs}); err != nil {
			return fmt.Errorf("add device: %w", err)
		}
	}
	return nil
}

// SetDevicePeer records this device's libp2p peer ID in its record of the
// space document, so that partner devices trust it, and deletes the
// addresses an earlier version recorded there (see [KnownAddrs]). Nothing is
// written when there is nothing to change.
func (s *Space) SetDevicePeer(ctx context.Context, peerID string) error {
	me := s.Self()
	_, err := s.write(ctx, SpaceDoc, func(doc *automerge.Doc, root *automerge.Map) (edit, error) {
		m := getMap(root, "d:"+me.DeviceID)
		if m == nil {
			if err := putDevice(root, trustsync.Device{ID: me.DeviceID, Name: me.DeviceName,
				Owner: trustsync.Person{ID: me.MemberID}, PeerID: peerID}, ms(s.now())); err != nil {
				return edit{}, err
			}
			return edit{action: "peer", kind: KindDevice, item: me.DeviceID,
				summary: fmt.Sprintf("recorded the network key of %q", me.DeviceName),
				touched: []ItemRef{{KindDevice, me.DeviceID}}}, nil
		}
		changedPeer := peerID != "" && getStr(m, "peer_id") != peerID
		if err := setPeer(m, peerID); err != nil {
			return edit{}, err
		}
		dropped, err := dropLegacyAddrs(m)
		if err != nil {
			return edit{}, err
		}
		var summary string
		switch {
		case changedPeer && dropped:
			summary = fmt.Sprintf("recorded the network key of %q and removed its old addresses", me.DeviceName)
		case changedPeer:
			summary = fmt.Sprintf("recorded the network key of %q", me.DeviceName)
		case dropped:
			summary = fmt.Sprintf("removed the old addresses of %q", me.DeviceName)
		default:
			return edit{}, errNoChange
		}
		return edit{action: "peer", kind: KindDevice, item: me.DeviceID, summary: summary,
			touched: []ItemRef{{KindDevice, me.DeviceID}}}, nil
	})
	if err != nil {
		return fmt.Errorf("record this device's peer ID: %w", err)
	}
	return nil
}
