package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// A modified client still holds its device's own key and signs what it
// writes: a change it plants bypasses the library's checks, not the
// signature check. These helpers sign such a change the way the library
// does: the signature covers "trustsync change v1", NUL, the document ID,
// NUL and the change hash; a signed bundle is "TSsg" 0x01, the uvarint
// length of the Automerge bytes, the bytes, the uvarint count of
// signatures and that many 32-byte hashes each followed by its 64-byte
// signature.

// deviceKey returns the Ed25519 key of d's home (libp2p's encoding: a
// four-byte header before the 64 key bytes).
func deviceKey(t *testing.T, d *device) ed25519.PrivateKey {
	t.Helper()
	var key ed25519.PrivateKey
	d.withStore(func(ctx context.Context, st trustsync.Store, sp *crdt.Space) {
		_, err := sp.PeerID(ctx) // creates the key when the home has none yet
		must(t, err)
		must(t, st.View(ctx, func(tx trustsync.ReadTx) error {
			raw, err := tx.Get(crdt.KeyMeta)
			if err != nil {
				return err
			}
			if len(raw) != 4+ed25519.PrivateKeySize {
				t.Fatalf("device key: %d bytes", len(raw))
			}
			key = ed25519.PrivateKey(bytes.Clone(raw[4:]))
			return nil
		}))
	})
	return key
}

// signBundle returns data as a signed bundle carrying the signatures of
// the bundle signed (from [crdt.Space.SaveSigned]) and key's signature of
// each change in fresh.
func signBundle(t *testing.T, signed, data []byte, doc string, key ed25519.PrivateKey, fresh ...automerge.ChangeHash) []byte {
	t.Helper()
	sigs := bundleSigs(t, signed)
	for _, h := range fresh {
		in := append([]byte("trustsync change v1\x00"+doc+"\x00"), h[:]...)
		sigs[h] = ed25519.Sign(key, in)
	}
	b := append([]byte("TSsg\x01"), binary.AppendUvarint(nil, uint64(len(data)))...)
	b = append(b, data...)
	b = binary.AppendUvarint(b, uint64(len(sigs)))
	for h, sig := range sigs {
		b = append(append(b, h[:]...), sig...)
	}
	return b
}

// bundleSigs reads the signatures of a signed bundle.
func bundleSigs(t *testing.T, b []byte) map[automerge.ChangeHash][]byte {
	t.Helper()
	rest, ok := bytes.CutPrefix(b, []byte("TSsg\x01"))
	if !ok {
		t.Fatal("not a signed bundle")
	}
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)-k) {
		t.Fatal("signed bundle: bad length")
	}
	rest = rest[k+int(n):]
	count, k := binary.Uvarint(rest)
	const entry = 32 + ed25519.SignatureSize
	if k <= 0 || count*entry != uint64(len(rest)-k) {
		t.Fatal("signed bundle: bad signature list")
	}
	rest = rest[k:]
	sigs := map[automerge.ChangeHash][]byte{}
	for ; len(rest) > 0; rest = rest[entry:] {
		var h automerge.ChangeHash
		copy(h[:], rest[:32])
		sigs[h] = bytes.Clone(rest[32:entry])
	}
	return sigs
}
