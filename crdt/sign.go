package crdt

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

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
