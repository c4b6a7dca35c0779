package crdt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/trustsync/trustsync/internal/stagetrace"
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

// RefusedChangeError is returned when a change received from another device
// fails its signature or a write rule. Nothing of the sync message or
// document that carried it is applied.
type RefusedChangeError struct {
	Doc    string // the document
	Change string // the change's hash
	Author string // the device named as its author
	Reason string // why, in a few words ("agreement written in Alex's name")
	// Unknown is set when the author is not a device this device knows
	// yet: a further device whose certificate is in a space document
	// change still on its way. The same change is accepted once the space
	// document has synced; a session tries again then.
	Unknown bool
}

func (e *RefusedChangeError) Error() string {
	return fmt.Sprintf("refused a change to %q made as device %s: %s", e.Doc, short(e.Author), e.Reason)
}

// Unwrap returns trustsync.ErrForged.
func (e *RefusedChangeError) Unwrap() error { return trustsync.ErrForged }

// verifyReceived checks every change that arrived in ds.doc since old
// (from a peer, with the signatures sigs) before any of it is stored: each
// must be covered by a valid signature of its author's known device on
// itself or on one of the new changes descending from it (cover.go), or be
// an unsigned change from before signing that a seal covers. The
// signatures are those of the bundle and those kept from earlier bundles
// for changes Automerge set aside until their dependencies arrived. It
// stores the signatures it checked, for passing them on. Then each signed
// change must keep the write rules (rules.go); what is recorded of the
// changes comes back as a receipt (receipt.go).
func (s *Space) verifyReceived(tx trustsync.Tx, self Identity, ds *docState, chs []*automerge.Change, sigs map[automerge.ChangeHash][]byte) (*receipt, error) {
	var root *automerge.Map
	if ds.id == SpaceDoc {
		root = ds.doc.RootMap()
	}
	stagetrace.Mark("verify.start")
	t, err := s.trustOf(tx, self, root)
	if err != nil {
		return nil, err
	}
	stagetrace.Mark("verify.trust")
	applied := make(map[automerge.ChangeHash]bool, len(chs))
	for _, c := range chs {
		applied[c.Hash()] = true
	}
	legacy := map[automerge.ChangeHash]bool{}
	if checkSignatures {
		if legacy, err = s.checkCoverage(tx, ds, t, chs, sigs); err != nil {
			return nil, err
		}
	}
	ds.keepEarly(sigs, applied)
	stagetrace.Mark("verify.sigs")
	return s.checkWrites(tx, ds, t, chs, legacy)
}

// checkCoverage checks the signatures of the new changes chs and that they
// cover every one (see verifyReceived), stores them, and returns the
// unsigned changes from before signing that a seal covers.
func (s *Space) checkCoverage(tx trustsync.Tx, ds *docState, t *trust, chs []*automerge.Change, sigs map[automerge.ChangeHash][]byte) (map[automerge.ChangeHash]bool, error) {
	cs := newChangeSet(chs)
	refuse := func(i int, why string) *RefusedChangeError {
		return &RefusedChangeError{Doc: ds.id, Change: cs.hash[i].String(), Author: cs.actor[i], Reason: why}
	}
	signed := make([]bool, len(chs))
	for i, h := range cs.hash {
		sig := sigs[h]
		if sig == nil {
			sig = ds.early[h]
		}
		if sig == nil {
			continue
		}
		dev, ok := t.devices[cs.actor[i]]
		if !ok {
			err := refuse(i, "it was signed by a device that is not a verified device of either partner")
			err.Unknown = true
			return nil, err
		}
		if !ed25519.Verify(dev.Key, changeSigInput(ds.id, h), sig) {
			return nil, refuse(i, "its signature does not match the device's key")
		}
		if err := tx.Put(sigMeta+h.String(), sig); err != nil {
			return nil, err
		}
		delete(ds.early, h)
		signed[i] = true
	}
	covered, _ := cs.cover(signed)
	var sealed map[automerge.ChangeHash]bool
	legacy := map[automerge.ChangeHash]bool{}
	for i, ok := range covered {
		if ok {
			continue
		}
		if sealed == nil {
			sealed = legacyCovered(ds, t)
		}
		if !sealed[cs.hash[i]] {
			return nil, refuse(i, "no signature of its device covers it")
		}
		legacy[cs.hash[i]] = true
	}
	return legacy, nil
}

// keepEarly keeps the signatures of changes Automerge set aside until
// their dependencies arrive (those neither in applied nor already in the
// document), in memory, as those changes are, for when they are applied.
func (ds *docState) keepEarly(sigs map[automerge.ChangeHash][]byte, applied map[automerge.ChangeHash]bool) {
	for h, sig := range sigs {
		if applied[h] || len(ds.early) >= maxEarlySigs {
			continue
		}
		if c, err := ds.doc.Change(h); err == nil && c != nil {
			continue
		}
		if ds.early == nil {
			ds.early = map[automerge.ChangeHash][]byte{}
		}
		ds.early[h] = sig
	}
}

// maxEarlySigs bounds the signatures kept for changes that arrived before
// their dependencies, per document.
const maxEarlySigs = 100_000

// checkSignatures is a variable only so that BenchmarkSignedSync can measure
// what the signature checks cost (the write rules still run); never
// changed otherwise.
var checkSignatures = true

// legacyCovered returns the changes of ds.doc that a seal covers for
// their author: the seal's heads for this document and their ancestors,
// when the sealing device belongs to the author's member or to mine.
func legacyCovered(ds *docState, t *trust) map[automerge.ChangeHash]bool {
	out := map[automerge.ChangeHash]bool{}
	for _, seal := range t.seals {
		var heads []automerge.ChangeHash
		for _, hs := range seal.Heads[ds.id] {
			h, err := automerge.NewChangeHash(hs)
			if err != nil {
				continue
			}
			if _, err := ds.doc.Change(h); err == nil {
				heads = append(heads, h)
			}
		}
		if len(heads) == 0 {
			continue
		}
		all, err := ds.doc.Changes()
		if err != nil {
			continue
		}
		after, err := ds.doc.Changes(heads...)
		if err != nil {
			continue
		}
		later := make(map[automerge.ChangeHash]bool, len(after))
		for _, c := range after {
			later[c.Hash()] = true
		}
		sealer := t.member(seal.Device)
		for _, c := range all {
			h := c.Hash()
			if later[h] {
				continue
			}
			author := t.member(c.ActorID())
			if sealer == t.self.MemberID || (author != "" && author == sealer) {
				out[h] = true
			}
		}
	}
	return out
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

// beginSigning upgrades a home that holds changes from before signing: it
// takes every device its space document names as an anchor (what this
// device accepted before is accepted as it was), then seals its history
// and vouches for those devices in the space document, so that devices
// paired later can check the old, unsigned changes. Sealing loads every
// document once; when it cannot be done now (a damaged document, checks
// unavailable), it is tried again at the next Open, and the home works
// meanwhile.
func (s *Space) beginSigning(ctx context.Context) error {
	var begun bool
	if err := s.st.View(ctx, func(tx trustsync.ReadTx) error {
		var err error
		begun, err = signingBegun(tx)
		return err
	}); err != nil || begun {
		return err
	}
	var anchors []anchor
	err := s.st.Update(ctx, func(tx trustsync.Tx) error {
		if _, err := s.loadKey(tx); err != nil {
			return err
		}
		rows, err := deviceRows(tx)
		if err != nil {
			return err
		}
		recs := recordsOf(rows)
		have, err := readAnchors(tx)
		if err != nil {
			return err
		}
		anchors = have
		for _, r := range recs {
			key, err := peerIDKey(r.PeerID)
			if err != nil || r.Member == "" || r.ID == s.Self().DeviceID {
				continue
			}
			if !slices.ContainsFunc(anchors, func(a anchor) bool { return a.Device == r.ID }) {
				anchors = append(anchors, anchor{Device: r.ID, Member: r.Member, Key: key})
			}
		}
		b, err := json.Marshal(anchors)
		if err != nil {
			return err
		}
		return tx.Put(anchorsMeta, b)
	})
	if err != nil {
		return fmt.Errorf("record the paired devices: %w", err)
	}
	if err := s.seal(ctx, anchors); err != nil {
		s.log.Warn("could not seal the history from before signing; trying again at the next start", "err", err)
	}
	return nil
}

// seal writes this device's legacy seal and its certificates for the
// anchors into the space document, then notes that signing has begun.
func (s *Space) seal(ctx context.Context, anchors []anchor) error {
	docs, err := s.Docs(ctx)
	if err != nil {
		return err
	}
	me := s.Self()
	body := sealBody{V: 1, Space: me.SpaceID, Device: me.DeviceID, At: time.Now().UnixMilli(), Heads: map[string][]string{}}
	for _, doc := range docs {
		hs, err := s.Heads(ctx, doc)
		if err != nil {
			return err
		}
		if len(hs) > 0 {
			body.Heads[doc] = hs
		}
	}
	_, err = s.write(ctx, SpaceDoc, func(doc *automerge.Doc, root *automerge.Map) (edit, error) {
		k, err := s.loadedKey() // loaded by beginSigning
		if err != nil {
			return edit{}, err
		}
		st, err := signStatement(k, "s1", sealDomain, body)
		if err != nil {
			return edit{}, err
		}
		if err := root.Set(sealPrefix+me.DeviceID, st); err != nil {
			return edit{}, err
		}
		touched := []ItemRef{}
		for _, a := range anchors {
			m := getMap(root, "d:"+a.Device)
			if m == nil || getStr(m, certPrefix+me.DeviceID) != "" {
				continue
			}
			if _, err := s.certify(nil, me, a.Device, a.Key, a.Member)(doc, root); err != nil {
				return edit{}, err
			}
			touched = append(touched, ItemRef{KindDevice, a.Device})
		}
		return edit{action: "seal", kind: "space", summary: "began signing every change; sealed the history written before",
			touched: touched}, nil
	})
	if err != nil {
		return err
	}
	return s.st.Update(ctx, func(tx trustsync.Tx) error { return tx.Put(sealedMeta, []byte("sealed")) })
}

// Signatures returns the signatures that cover the changes of doc, by
// change hash (hex): what another device checks the changes against. A
// device's signature on a change covers that change and every change of
// the same device among its ancestors (the change hash covers the hashes
// of the changes it depends on); per device, the signatures of its latest
// changes in doc are returned, and they cover all of its changes. Changes
// made before signing began are covered by none (a seal vouches for
// them).
func (s *Space) Signatures(ctx context.Context, doc string) (map[string][]byte, error) {
	_, sigs, err := s.save(ctx, doc, true)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(sigs))
	for h, sig := range sigs {
		out[h.String()] = sig
	}
	return out, nil
}

// PeerID returns the libp2p peer ID of this device's key: the identity a
// partner's device checks when this device connects, and the key its
// changes are signed with.
func (s *Space) PeerID(ctx context.Context) (string, error) {
	var k ed25519.PrivateKey
	err := s.st.Update(ctx, func(tx trustsync.Tx) error {
		var err error
		k, err = s.loadKey(tx)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("device key: %w", err)
	}
	return PeerIDOf(k.Public().(ed25519.PublicKey)), nil
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

// Refusal is this device's record of the changes it refused from one
// device ([RefusedChangeError]): how many, and the last one's reason.
type Refusal struct {
	From    string    `json:"from"`    // the device that sent them
	Author  string    `json:"author"`  // the device named as the last one's author
	Doc     string    `json:"doc"`     // the last one's document
	Reason  string    `json:"reason"`  // the last one's reason
	Count   int       `json:"count"`   // changes refused from this device
	At      time.Time `json:"at"`      // when the last was refused
	Pending bool      `json:"pending"` // the last waits for a device's certificate; sent again later
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
	if re.Unknown {
		s.log.Info("a change waits for its device's certificate", "from", from, "doc", re.Doc, "author", re.Author)
	} else {
		s.log.Warn("refused a change", "from", from, "doc", re.Doc, "author", re.Author, "reason", re.Reason)
	}
	uerr := s.st.Update(context.WithoutCancel(ctx), func(tx trustsync.Tx) error {
		var r Refusal
		if b, err := tx.Get(refusalMeta + from); err == nil {
			_ = json.Unmarshal(b, &r)
		}
		if !re.Unknown {
			r.Count++
		}
		r.From, r.Author, r.Doc, r.Reason, r.At, r.Pending = from, re.Author, re.Doc, re.Reason, time.Now().UTC(), re.Unknown
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
