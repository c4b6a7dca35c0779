package crdt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// Who may sign what.
//
// A device's key and member are known to a receiving device in two ways:
//
//   - Anchors, kept in this device's own meta (never replicated): the
//     devices it met in a pairing ceremony, whose keys it checked on the
//     encrypted connection, and, in a home that held a space before changes
//     were signed, every device its space document named at the upgrade.
//     This device is always its own anchor.
//   - Certificates, written into the `space` document as "cert:<signer>"
//     fields of a device's record: a statement "device D, whose key is K,
//     belongs to member M of space S", signed by a device E that is itself
//     known. A certificate counts when E belongs to M (a person vouches for
//     their own devices: the inviting device signs one for a further
//     device of its own person), or when E belongs to this device's own
//     member (my devices vouch for my partner's first device, which they
//     met when pairing). So a partner's device can never vouch a device
//     into my name: nobody writes in the other's name.
//
// A certificate is a self-contained signature, so it does not matter which
// change carried it. A device record without a counting certificate is not
// a device of anyone: it is not listed, never admitted, and no change it
// signs is accepted.
//
// Changes made before signing began carry no signature. Each device, when
// it first opens its home with this version, seals what it holds: it
// writes into the space document a signed list of every document's heads
// ("seal:<device>"). An unsigned change is accepted when a seal by a
// device of the change author's member, or by a device of my own member,
// covers it (it is one of the sealed heads or their ancestors). A change
// made after the seal has a signature.

const (
	anchorsMeta = "trust/anchors" // JSON []anchor
	sealsMeta   = "trust/seals"   // JSON map[device]seal string, as read from the space document
	sealedMeta  = "trust/sealed"  // present once this device sealed its legacy history
	certPrefix  = "cert:"         // device record field: a certificate by the device named after it
	sealPrefix  = "seal:"         // space document root key: a device's legacy seal
)

// anchor is a device this device knows first-hand.
type anchor struct {
	Device string `json:"device"`
	Member string `json:"member"`
	Key    []byte `json:"key"`
}

// certBody is what a certificate states.
type certBody struct {
	V      int    `json:"v"`
	Space  string `json:"s"`
	Device string `json:"d"`
	Key    []byte `json:"k"`
	Member string `json:"m"`
	By     string `json:"b"`
	At     int64  `json:"t"`
}

// sealBody is what a legacy seal states: the heads of every document the
// sealing device held when it began to sign.
type sealBody struct {
	V      int                 `json:"v"`
	Space  string              `json:"s"`
	Device string              `json:"d"`
	At     int64               `json:"t"`
	Heads  map[string][]string `json:"h"`
}

const (
	certDomain = "trustsync device certificate v1\x00"
	sealDomain = "trustsync legacy seal v1\x00"
)

var b64 = base64.RawURLEncoding

// signStatement encodes v as "<tag>.<payload>.<signature>".
func signStatement(k ed25519.PrivateKey, tag, domain string, v any) (string, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sig := ed25519.Sign(k, append([]byte(domain), payload...))
	return tag + "." + b64.EncodeToString(payload) + "." + b64.EncodeToString(sig), nil
}

// openStatement decodes a signed statement into v without checking the
// signature, and returns what the signature covers and the signature.
func openStatement(s, tag, domain string, v any) (signed, sig []byte, err error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] != tag || len(s) > 1<<16 {
		return nil, nil, errors.New("not a signed statement")
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, nil, err
	}
	if sig, err = b64.DecodeString(parts[2]); err != nil || len(sig) != ed25519.SignatureSize {
		return nil, nil, errors.New("bad signature")
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return nil, nil, err
	}
	return append([]byte(domain), payload...), sig, nil
}

// devRecord is what trust needs of a device record.
type devRecord struct {
	ID      string
	Member  string
	PeerID  string
	Removed bool
	Certs   map[string]string // signer device -> certificate
}

// knownDevice is a device whose key and member this device trusts.
type knownDevice struct {
	Member string
	Key    ed25519.PublicKey
}

// trust is what a device knows about who may sign.
type trust struct {
	self    Identity
	devices map[string]knownDevice
	seals   []sealBody // valid seals, by known devices
}

// member returns the member a device belongs to, "" when unknown.
func (t *trust) member(device string) string { return t.devices[device].Member }

// buildTrust computes the known devices from the anchors, this device's
// key, and the certificates in recs, and keeps the seals that verify.
func buildTrust(self Identity, selfKey ed25519.PublicKey, anchors []anchor, recs []devRecord, seals map[string]string) *trust {
	t := &trust{self: self, devices: map[string]knownDevice{}}
	for _, a := range anchors {
		member := a.Member
		if member == "" {
			// Met first-hand, but not yet told its member (the inviting
			// device, while its space document is being taken in): its
			// own record says.
			for _, r := range recs {
				if r.ID == a.Device {
					member = r.Member
				}
			}
		}
		if len(a.Key) == ed25519.PublicKeySize && member != "" {
			t.devices[a.Device] = knownDevice{Member: member, Key: ed25519.PublicKey(a.Key)}
		}
	}
	if selfKey != nil {
		t.devices[self.DeviceID] = knownDevice{Member: self.MemberID, Key: selfKey}
	}
	// A fixpoint: each pass may make the signers of the next pass known.
	for changed := true; changed; {
		changed = false
		for _, r := range recs {
			if _, ok := t.devices[r.ID]; ok {
				continue
			}
			for _, by := range sortedKeys(r.Certs) {
				signer, ok := t.devices[by]
				if !ok {
					continue
				}
				var c certBody
				signed, sig, err := openStatement(r.Certs[by], "c1", certDomain, &c)
				// The space named is not checked: a device that vouched
				// for another of its person's devices and then joined its
				// partner's space keeps vouching (member IDs are random,
				// so a certificate from another space names nobody here).
				if err != nil || c.By != by || c.Device != r.ID ||
					len(c.Key) != ed25519.PublicKeySize || c.Member == "" ||
					!ed25519.Verify(signer.Key, signed, sig) {
					continue
				}
				if c.Member != signer.Member && signer.Member != self.MemberID {
					continue // only my devices vouch for the partner's
				}
				t.devices[r.ID] = knownDevice{Member: c.Member, Key: ed25519.PublicKey(c.Key)}
				changed = true
				break
			}
		}
	}
	for _, dev := range sortedKeys(seals) {
		var b sealBody
		signed, sig, err := openStatement(seals[dev], "s1", sealDomain, &b)
		k, ok := t.devices[dev]
		if err != nil || !ok || b.Device != dev || !ed25519.Verify(k.Key, signed, sig) {
			continue
		}
		t.seals = append(t.seals, b)
	}
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// recordsFromDoc reads the device records and seals of a space document.
func recordsFromDoc(root *automerge.Map) ([]devRecord, map[string]string, error) {
	keys, err := root.Keys()
	if err != nil {
		return nil, nil, err
	}
	var recs []devRecord
	seals := map[string]string{}
	for _, k := range keys {
		if dev, ok := strings.CutPrefix(k, sealPrefix); ok {
			if v := getStr(root, k); v != "" {
				seals[dev] = v
			}
			continue
		}
		id, ok := strings.CutPrefix(k, "d:")
		if !ok {
			continue
		}
		m := getMap(root, k)
		if m == nil {
			continue
		}
		recs = append(recs, recordOf(id, m))
	}
	return recs, seals, nil
}

// recordOf reads one device record.
func recordOf(id string, m *automerge.Map) devRecord {
	r := devRecord{ID: id, Member: getStr(m, "member"), PeerID: getStr(m, "peer_id"), Removed: getBool(m, "removed")}
	keys, _ := m.Keys()
	for _, k := range keys {
		if by, ok := strings.CutPrefix(k, certPrefix); ok {
			if r.Certs == nil {
				r.Certs = map[string]string{}
			}
			r.Certs[by] = getStr(m, k)
		}
	}
	return r
}

// deviceRow is a device's view row: the device, and its certificates.
type deviceRow struct {
	trustsync.Device
	Certs map[string]string `json:"certs,omitempty"`
}

// deviceRows reads the device view rows.
func deviceRows(tx trustsync.ReadTx) ([]deviceRow, error) {
	items, err := tx.Items(KindDevice)
	if err != nil {
		return nil, err
	}
	rows := make([]deviceRow, 0, len(items))
	for _, it := range items {
		var d deviceRow
		if err := json.Unmarshal(it.Data, &d); err != nil {
			return nil, viewDamaged(it, err)
		}
		rows = append(rows, d)
	}
	return rows, nil
}

// recordsOf is what trust needs of the device view rows.
func recordsOf(rows []deviceRow) []devRecord {
	recs := make([]devRecord, 0, len(rows))
	for _, d := range rows {
		recs = append(recs, devRecord{ID: d.ID, Member: d.Owner.ID, PeerID: d.PeerID, Removed: d.Removed, Certs: d.Certs})
	}
	return recs
}

// readSeals returns the seals kept in meta from the space document.
func readSeals(tx trustsync.ReadTx) (map[string]string, error) {
	seals := map[string]string{}
	b, err := tx.Get(sealsMeta)
	if errors.Is(err, trustsync.ErrNotFound) {
		return seals, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &seals); err != nil {
		return nil, &trustsync.DamagedError{What: "this device's record of seals", Why: err.Error(), Hint: "sync again to rebuild it"}
	}
	return seals, nil
}

// readAnchors returns this device's anchors.
func readAnchors(tx trustsync.ReadTx) ([]anchor, error) {
	b, err := tx.Get(anchorsMeta)
	if errors.Is(err, trustsync.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var as []anchor
	if err := json.Unmarshal(b, &as); err != nil {
		return nil, &trustsync.DamagedError{What: "this device's list of paired devices", Why: err.Error(),
			Hint: "restore a backup, or pair again"}
	}
	return as, nil
}

// anchorOf returns the anchor of device, or nil when this device did not
// meet it first-hand. It loads this device's key too, for certify.
func (s *Space) anchorOf(ctx context.Context, device string) (*anchor, error) {
	if _, err := s.PeerID(ctx); err != nil {
		return nil, err
	}
	var found *anchor
	err := s.st.View(ctx, func(tx trustsync.ReadTx) error {
		as, err := readAnchors(tx)
		for _, a := range as {
			if a.Device == device {
				found = &a
			}
		}
		return err
	})
	return found, err
}

// loadedKey returns this device's key when it is loaded (loadKey).
func (s *Space) loadedKey() (ed25519.PrivateKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil {
		return nil, errors.New("this device's key is not loaded")
	}
	return s.key, nil
}

// addAnchor records a device met first-hand.
func addAnchor(tx trustsync.Tx, a anchor) error {
	as, err := readAnchors(tx)
	if err != nil {
		return err
	}
	as = slices.DeleteFunc(as, func(x anchor) bool { return x.Device == a.Device })
	as = append(as, a)
	b, err := json.Marshal(as)
	if err != nil {
		return err
	}
	return tx.Put(anchorsMeta, b)
}

// trustOf computes what the device self knows from the view (or, for the
// space document being received, from that document itself: root
// non-nil).
func (s *Space) trustOf(tx trustsync.ReadTx, self Identity, root *automerge.Map) (*trust, error) {
	key, err := s.loadKey(tx)
	if err != nil && !errors.Is(err, trustsync.ErrNotFound) {
		return nil, err
	}
	var pub ed25519.PublicKey
	if key != nil {
		pub = key.Public().(ed25519.PublicKey)
	}
	return loadTrust(tx, self, pub, root, nil)
}

// trustFromTx computes what this device knows, from the store alone: from
// the device view rows given (read here when nil).
func trustFromTx(tx trustsync.ReadTx, rows []deviceRow) (*trust, error) {
	b, err := tx.Get(identityKey)
	if err != nil {
		return nil, err
	}
	var self Identity
	if err := json.Unmarshal(b, &self); err != nil {
		return nil, err
	}
	var pub ed25519.PublicKey
	if raw, err := tx.Get(KeyMeta); err == nil {
		if k, err := decodeDeviceKey(raw); err == nil {
			pub = k.Public().(ed25519.PublicKey)
		}
	}
	return loadTrust(tx, self, pub, nil, rows)
}

// signingBegun reports whether this home has begun to sign: created by
// this version, or sealed at its upgrade. Before that (an instant, between
// opening an old home and sealing it), every device record counts.
func signingBegun(tx trustsync.ReadTx) (bool, error) {
	_, err := tx.Get(sealedMeta)
	if errors.Is(err, trustsync.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func loadTrust(tx trustsync.ReadTx, self Identity, pub ed25519.PublicKey, root *automerge.Map, rows []deviceRow) (*trust, error) {
	anchors, err := readAnchors(tx)
	if err != nil {
		return nil, err
	}
	var recs []devRecord
	var seals map[string]string
	if root != nil {
		recs, seals, err = recordsFromDoc(root)
	} else {
		if rows == nil {
			if rows, err = deviceRows(tx); err != nil {
				return nil, err
			}
		}
		recs = recordsOf(rows)
		seals, err = readSeals(tx)
	}
	if err != nil {
		return nil, err
	}
	return buildTrust(self, pub, anchors, recs, seals), nil
}

// certify is the edit by which this device (me) vouches that device, with
// the key pub, belongs to member: it writes a certificate signed by this
// device into the device's record.
func (s *Space) certify(tx trustsync.ReadTx, me Identity, device string, pub ed25519.PublicKey, member string) editFunc {
	return func(doc *automerge.Doc, root *automerge.Map) (edit, error) {
		m := getMap(root, "d:"+device)
		if m == nil {
			return edit{}, fmt.Errorf("certify device %s: no record: %w", short(device), trustsync.ErrInvalid)
		}
		if c := getStr(m, certPrefix+me.DeviceID); c != "" {
			var b certBody
			if _, _, err := openStatement(c, "c1", certDomain, &b); err == nil &&
				b.Member == member && bytes.Equal(b.Key, pub) && b.Space == me.SpaceID {
				return edit{}, errNoChange
			}
		}
		var k ed25519.PrivateKey
		var err error
		if tx != nil {
			k, err = s.loadKey(tx)
		} else {
			k, err = s.loadedKey()
		}
		if err != nil {
			return edit{}, err
		}
		cert, err := signStatement(k, "c1", certDomain, certBody{V: 1, Space: me.SpaceID, Device: device, Key: pub,
			Member: member, By: me.DeviceID, At: time.Now().UnixMilli()})
		if err != nil {
			return edit{}, err
		}
		if err := m.Set(certPrefix+me.DeviceID, cert); err != nil {
			return edit{}, err
		}
		return edit{action: "certify", kind: KindDevice, item: device,
			summary: fmt.Sprintf("vouched for the device %s", quote(getStr(m, "name"))),
			touched: []ItemRef{{KindDevice, device}}}, nil
	}
}

// keyOfRecord returns the public key a device record's peer ID embeds.
func keyOfRecord(root *automerge.Map, device string) (ed25519.PublicKey, error) {
	m := getMap(root, "d:"+device)
	if m == nil {
		return nil, fmt.Errorf("no record of device %s", short(device))
	}
	return peerIDKey(getStr(m, "peer_id"))
}

// TrustDevice records that this device met the device d first-hand and
// checked that d.PeerID is its key -- what a pairing ceremony does
// ([Space.Admit], [Space.JoinSpace] call it for the device they pair
// with). Changes signed with that key are then accepted as d's, and d
// counts as a device of d.Owner. Use it for an app's own pairing, before
// importing the device's space document; then [Space.AddDevice] vouches
// for it in the space document, for this person's other devices.
func (s *Space) TrustDevice(ctx context.Context, d trustsync.Device) error {
	key, err := peerIDKey(d.PeerID)
	switch {
	case !validDeviceID(d.ID):
		return fmt.Errorf("trust device: device ID %q is not 32 hex characters: %w", d.ID, trustsync.ErrInvalid)
	case err != nil:
		return fmt.Errorf("trust device: %v: %w", err, trustsync.ErrInvalid)
	case d.Owner.ID == "":
		return fmt.Errorf("trust device: no member given: %w", trustsync.ErrInvalid)
	}
	if err := s.check(); err != nil {
		return err
	}
	return s.st.Update(ctx, func(tx trustsync.Tx) error {
		return addAnchor(tx, anchor{Device: d.ID, Member: d.Owner.ID, Key: key})
	})
}
