package crdt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/mr-tron/base58"
	"github.com/trustsync/trustsync"
)

// Every change a device commits is signed with that device's Ed25519 key
// and the signature stored (meta "sig/<change hash>"). A signature on a
// change also covers the same device's earlier changes among its
// ancestors (cover.go), so every sync message and saved document this
// device sends (a signed bundle, below) carries only the signatures that
// cover its changes, and they travel on through any device that passes the
// changes on. A receiving device applies a change only once a signature
// covering it verifies under the key of the device named as its author
// (see trust.go for how a device's key and member are known).

// KeyMeta is the store metadata key holding this device's Ed25519 key, in
// libp2p's encoding of a private key (the sync package uses the same key as
// the device's libp2p identity, so the peer ID that partner devices dial
// and the key that signs changes are one).
const KeyMeta = "libp2p/key"

// sigMeta is the meta key prefix of change signatures: "sig/<hash>".
const sigMeta = "sig/"

// libp2p's protobuf encoding of an Ed25519 key: field 1 (key type, 1 =
// Ed25519) and field 2 (the key bytes: 64 for a private key, 32 for a
// public one).
var (
	privKeyPrefix = []byte{0x08, 0x01, 0x12, 0x40}
	pubKeyPrefix  = []byte{0x08, 0x01, 0x12, 0x20}
)

// decodeDeviceKey reads a private key stored under KeyMeta.
func decodeDeviceKey(b []byte) (ed25519.PrivateKey, error) {
	if len(b) != len(privKeyPrefix)+ed25519.PrivateKeySize || !bytes.HasPrefix(b, privKeyPrefix) {
		return nil, errors.New("not an Ed25519 key")
	}
	k := ed25519.PrivateKey(bytes.Clone(b[len(privKeyPrefix):]))
	// The stored key holds its public half: it must be the seed's.
	if !bytes.Equal(k.Public().(ed25519.PublicKey), ed25519.NewKeyFromSeed(k.Seed()).Public().(ed25519.PublicKey)) {
		return nil, errors.New("the key's halves do not match")
	}
	return k, nil
}

// encodeDeviceKey is the inverse of decodeDeviceKey.
func encodeDeviceKey(k ed25519.PrivateKey) []byte {
	return append(bytes.Clone(privKeyPrefix), k...)
}

// PeerIDOf returns the libp2p peer ID of an Ed25519 public key: the
// identity multihash of its protobuf encoding, in base58.
func PeerIDOf(pub ed25519.PublicKey) string {
	b := append([]byte{0x00, byte(len(pubKeyPrefix) + len(pub))}, pubKeyPrefix...)
	return base58.Encode(append(b, pub...))
}

// peerIDKey returns the Ed25519 public key a libp2p peer ID embeds. Peer
// IDs of Ed25519 keys are identity multihashes: the key is inside.
func peerIDKey(id string) (ed25519.PublicKey, error) {
	b, err := base58.Decode(id)
	if err != nil {
		return nil, fmt.Errorf("peer ID %q: %w", short(id), err)
	}
	want := 2 + len(pubKeyPrefix) + ed25519.PublicKeySize
	if len(b) != want || b[0] != 0x00 || int(b[1]) != want-2 || !bytes.HasPrefix(b[2:], pubKeyPrefix) {
		return nil, fmt.Errorf("peer ID %q is not an Ed25519 key", short(id))
	}
	return ed25519.PublicKey(bytes.Clone(b[2+len(pubKeyPrefix):])), nil
}

// loadKey returns this device's key from the store, creating and storing
// one when there is none yet (when tx can write). The key is cached.
func (s *Space) loadKey(tx trustsync.ReadTx) (ed25519.PrivateKey, error) {
	s.mu.Lock()
	k := s.key
	s.mu.Unlock()
	if k != nil {
		return k, nil
	}
	raw, err := tx.Get(KeyMeta)
	switch {
	case err == nil:
		if k, err = decodeDeviceKey(raw); err != nil {
			return nil, &trustsync.DamagedError{What: "this device's key", Why: err.Error(),
				Hint: "restore a backup, or create the space again and pair"}
		}
	case errors.Is(err, trustsync.ErrNotFound):
		w, ok := tx.(trustsync.Tx)
		if !ok {
			return nil, fmt.Errorf("this device has no key yet: %w", trustsync.ErrNotFound)
		}
		_, k, err = ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		if err := w.Put(KeyMeta, encodeDeviceKey(k)); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	s.mu.Lock()
	s.key = k
	s.mu.Unlock()
	return k, nil
}

// changeSigInput is what a change signature signs: the document and the
// change's hash (which covers its author, sequence number, dependencies,
// time, message and operations).
func changeSigInput(doc string, h automerge.ChangeHash) []byte {
	b := make([]byte, 0, 40+len(doc)+len(h))
	b = append(b, "trustsync change v1\x00"...)
	b = append(b, doc...)
	b = append(b, 0)
	return append(b, h[:]...)
}

// signChange signs the change h of doc and stores the signature.
func (s *Space) signChange(tx trustsync.Tx, doc string, h automerge.ChangeHash) error {
	k, err := s.loadKey(tx)
	if err != nil {
		return fmt.Errorf("sign change: %w", err)
	}
	return tx.Put(sigMeta+h.String(), ed25519.Sign(k, changeSigInput(doc, h)))
}

// sigsOf returns the stored signatures of the changes hs (those that have
// one: changes made before signing began have none).
func sigsOf(tx trustsync.ReadTx, hs []automerge.ChangeHash) (map[automerge.ChangeHash][]byte, error) {
	out := make(map[automerge.ChangeHash][]byte, len(hs))
	for _, h := range hs {
		sig, err := tx.Get(sigMeta + h.String())
		if errors.Is(err, trustsync.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[h] = sig
	}
	return out, nil
}

// A signed bundle carries Automerge bytes (a saved document or a sync
// message) together with the signatures that cover the changes in them
// (cover.go):
//
//	"TSsg" 0x01 | uvarint len | payload | uvarint n | n x (32-byte change hash, 64-byte signature)
var bundleMagic = []byte("TSsg\x01")

// maxBundleSigs bounds the signatures one bundle may carry.
const maxBundleSigs = 1 << 20

// wrapSigned bundles payload with sigs.
func wrapSigned(payload []byte, sigs map[automerge.ChangeHash][]byte) []byte {
	b := make([]byte, 0, len(bundleMagic)+10+len(payload)+10+len(sigs)*(32+ed25519.SignatureSize))
	b = append(b, bundleMagic...)
	b = binary.AppendUvarint(b, uint64(len(payload)))
	b = append(b, payload...)
	b = binary.AppendUvarint(b, uint64(len(sigs)))
	for h, sig := range sigs {
		b = append(b, h[:]...)
		b = append(b, sig...)
	}
	return b
}

// errUnsigned is returned by unwrapSigned for bytes that are not a signed
// bundle (plain Automerge bytes, as a version of trustsync from before
// signing sends).
var errUnsigned = errors.New("not a signed bundle")

// unwrapSigned splits a signed bundle. Plain Automerge bytes give
// errUnsigned.
func unwrapSigned(b []byte) ([]byte, map[automerge.ChangeHash][]byte, error) {
	rest, ok := bytes.CutPrefix(b, bundleMagic)
	if !ok {
		return nil, nil, errUnsigned
	}
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)-k) {
		return nil, nil, errors.New("signed bundle: bad payload length")
	}
	payload := rest[k : k+int(n)]
	rest = rest[k+int(n):]
	count, k := binary.Uvarint(rest)
	const entry = 32 + ed25519.SignatureSize
	if k <= 0 || count > maxBundleSigs || count*entry != uint64(len(rest)-k) {
		return nil, nil, errors.New("signed bundle: bad signature list")
	}
	rest = rest[k:]
	sigs := make(map[automerge.ChangeHash][]byte, count)
	for i := 0; i < int(count); i++ {
		var h automerge.ChangeHash
		copy(h[:], rest[:32])
		sigs[h] = bytes.Clone(rest[32:entry])
		rest = rest[entry:]
	}
	return payload, sigs, nil
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
