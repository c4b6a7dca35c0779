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

// JoinAs makes this device a device of an existing member of another space:
// a partner's second (or third) device joining through an invite. It sets the
// space ID, as [Space.Adopt] does, and hands this device's record over to
// member: the device record "d:<this device>" names member as its owner,
// and the member record that [Create] made for this device is deleted, so
// the joined space shows one person, not two of the same name.
//
// Only this device ever created its own device record, so handing it over
// never conflicts. JoinAs refuses a device that already holds boundaries,
// goals or check-ins, whose agreements and authorship name the member it
// was created as. With member.ID equal to this device's member it is
// [Space.Adopt].
func (s *Space) JoinAs(ctx context.Context, spaceID string, member trustsync.Person) error {
	member.Name = strings.TrimSpace(member.Name)
	if member.ID == "" || member.Name == "" {
		return fmt.Errorf("join as a member: no member given: %w", trustsync.ErrInvalid)
	}
	me := s.Self()
	if member.ID == me.MemberID {
		return s.Adopt(ctx, spaceID)
	}
	docs, err := s.Docs(ctx)
	if err != nil {
		return fmt.Errorf("join as %s: %w", member.Name, err)
	}
	if slices.ContainsFunc(docs, func(d string) bool { return d != SpaceDoc }) {
		return fmt.Errorf("join as %s: this device already holds boundaries, goals or check-ins written as %s; join from a newly initialised device: %w",
			member.Name, me.MemberName, trustsync.ErrInvalid)
	}
	_, err = s.write(ctx, SpaceDoc, func(doc *automerge.Doc, root *automerge.Map) (edit, error) {
		d := getMap(root, "d:"+me.DeviceID)
		if d == nil {
			if err := putDevice(root, trustsync.Device{ID: me.DeviceID, Name: me.DeviceName,
				Owner: trustsync.Person{ID: member.ID}}, ms(s.now())); err != nil {
				return edit{}, err
			}
		} else if getStr(d, "member") != member.ID {
			if err := d.Set("member", member.ID); err != nil {
				return edit{}, err
			}
			if _, err := dropLegacyAddrs(d); err != nil {
				return edit{}, err
			}
		} else {
			return edit{}, errNoChange
		}
		if others, err := devicesOf(root, me.MemberID); err != nil {
			return edit{}, err
		} else if len(others) == 0 && getMap(root, "m:"+me.MemberID) != nil {
			if err := root.Delete("m:" + me.MemberID); err != nil {
				return edit{}, err
			}
		}
		return edit{action: "join", kind: KindDevice, item: me.DeviceID,
			summary: fmt.Sprintf("joined as a device of %s", member.Name),
			touched: []ItemRef{{KindDevice, me.DeviceID}, {KindMember, member.ID}}}, nil
	})
	if err != nil {
		return fmt.Errorf("join as %s: %w", member.Name, err)
	}
	id := me
	id.SpaceID = strings.TrimSpace(spaceID)
	id.MemberID = member.ID
	id.MemberName = member.Name
	if id.SpaceID == "" {
		return fmt.Errorf("join as %s: no space ID given: %w", member.Name, trustsync.ErrInvalid)
	}
	b, err := json.Marshal(id)
	if err != nil {
		return err
	}
	if err := s.st.Update(ctx, func(tx trustsync.Tx) error { return tx.Put(identityKey, b) }); err != nil {
		return fmt.Errorf("join as %s: %w", member.Name, err)
	}
	s.mu.Lock()
	s.id = id
	s.mu.Unlock()
	return nil
}

// devicesOf returns the IDs of the devices the space document gives to a
// member.
func devicesOf(root *automerge.Map, memberID string) ([]string, error) {
	keys, err := root.Keys()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		if id, ok := strings.CutPrefix(k, "d:"); ok {
			if m := getMap(root, k); m != nil && getStr(m, "member") == memberID {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

// NotePaired records in the shared history that this device paired with
// another: it stamps "paired_at" and "paired_by" on the other device's
// record, which must exist (import the other device's space document
// first). A device that had been removed is current again. Both sides of a
// pairing call it for the other's device, so each history shows it.
func (s *Space) NotePaired(ctx context.Context, deviceID string) error {
	me := s.Self()
	if deviceID == me.DeviceID {
		return fmt.Errorf("note pairing: %s is this device: %w", deviceID, trustsync.ErrInvalid)
	}
	// A device met first-hand ([Space.TrustDevice]) is vouched for too,
	// for this person's other devices.
	vouch, err := s.anchorOf(ctx, deviceID)
	if err != nil {
		return fmt.Errorf("note pairing: %w", err)
	}
	note := s.notePaired(me.DeviceID, deviceID)
	_, err = s.write(ctx, SpaceDoc, func(doc *automerge.Doc, root *automerge.Map) (edit, error) {
		e, err := note(doc, root)
		if vouch == nil || (err != nil && !errors.Is(err, errNoChange)) {
			return e, err
		}
		// Paired before, perhaps, but not yet vouched for.
		c, cerr := s.certify(nil, me, deviceID, vouch.Key, vouch.Member)(doc, root)
		switch {
		case cerr != nil && !errors.Is(cerr, errNoChange):
			return edit{}, cerr
		case err == nil:
			return e, nil
		case cerr == nil:
			return c, nil
		}
		return edit{}, errNoChange
	})
	if err != nil {
		return fmt.Errorf("note pairing: %w", err)
	}
	return nil
}

// notePaired is the edit of NotePaired: device me notes that it paired
// with deviceID.
func (s *Space) notePaired(me, deviceID string) editFunc {
	return func(doc *automerge.Doc, root *automerge.Map) (edit, error) {
		m := getMap(root, "d:"+deviceID)
		if m == nil {
			return edit{}, fmt.Errorf("device %s is not in the space: %w", deviceID, trustsync.ErrNotFound)
		}
		at := ms(s.now())
		if err := setFields(m, "paired_at", at.UnixMilli(), "paired_by", me); err != nil {
			return edit{}, err
		}
		restored := getBool(m, "removed")
		if restored {
			if err := setFields(m, "removed", false, "removed_at", int64(0), "removed_by", ""); err != nil {
				return edit{}, err
			}
		}
		name := getStr(m, "name")
		owner := getStr(m, "member")
		if om := getMap(root, "m:"+owner); om != nil {
			name = fmt.Sprintf("%q of %s", name, getStr(om, "name"))
		} else {
			name = quote(name)
		}
		summary := "paired with the device " + name
		if restored {
			summary = "paired again with the device " + name
		}
		return edit{action: "pair", kind: KindDevice, item: deviceID, summary: summary,
			touched: []ItemRef{{KindDevice, deviceID}}}, nil
	}
}

// RemoveDevices marks devices removed -- unpairing -- in one change that
// both partners' histories show: "unpaired ...", followed by why when it is
// given. A removed device is no longer trusted by sync; its record and
// everything it wrote stay. Devices already removed are left alone; this
// device cannot be removed (leave by removing the others).
func (s *Space) RemoveDevices(ctx context.Context, ids []string, why string) error {
	me := s.Self()
	if len(ids) == 0 {
		return fmt.Errorf("remove devices: no device given: %w", trustsync.ErrInvalid)
	}
	for _, id := range ids {
		if id == me.DeviceID {
			return fmt.Errorf("remove devices: %s is this device; unpair the other devices instead: %w", me.DeviceName, trustsync.ErrInvalid)
		}
	}
	_, err := s.write(ctx, SpaceDoc, func(doc *automerge.Doc, root *automerge.Map) (edit, error) {
		at := ms(s.now())
		var names []string
		var touched []ItemRef
		for _, id := range ids {
			m := getMap(root, "d:"+id)
			if m == nil {
				return edit{}, fmt.Errorf("device %s is not in the space: %w", id, trustsync.ErrNotFound)
			}
			if getBool(m, "removed") {
				continue
			}
			if err := setFields(m, "removed", true, "removed_at", at.UnixMilli(), "removed_by", me.DeviceID); err != nil {
				return edit{}, err
			}
			name := quote(getStr(m, "name"))
			if om := getMap(root, "m:"+getStr(m, "member")); om != nil {
				name += " of " + getStr(om, "name")
			}
			names = append(names, name)
			touched = append(touched, ItemRef{KindDevice, id})
		}
		if len(names) == 0 {
			return edit{}, errNoChange
		}
		summary := "unpaired " + andList(names)
		if why = strings.TrimSpace(why); why != "" {
			summary += ": " + why
		}
		return edit{action: "unpair", kind: KindDevice, item: touched[0].ID, summary: summary, touched: touched}, nil
	})
	if err != nil {
		return fmt.Errorf("remove devices: %w", err)
	}
	return nil
}

// andList joins words as "a", "a and b", "a, b and c".
func andList(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}
