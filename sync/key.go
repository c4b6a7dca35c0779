package sync

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/trustsync/trustsync"
)

// KeyMeta is the store metadata key holding this device's libp2p private key.
const KeyMeta = "libp2p/key"

// LoadOrCreateKey returns the device's libp2p identity key kept in st under
// [KeyMeta], creating and storing a new Ed25519 key the first time. The peer
// ID derived from it is what partner devices trust, so it must outlive
// restarts.
func LoadOrCreateKey(ctx context.Context, st trustsync.Store) (crypto.PrivKey, error) {
	var key crypto.PrivKey
	load := func(tx trustsync.ReadTx) error {
		raw, err := tx.Get(KeyMeta)
		if err != nil {
			return err
		}
		key, err = crypto.UnmarshalPrivateKey(raw)
		if err != nil {
			return fmt.Errorf("stored libp2p key is unreadable: %w", err)
		}
		return nil
	}
	err := st.View(ctx, load)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, trustsync.ErrNotFound) {
		return nil, fmt.Errorf("load libp2p key: %w", err)
	}
	err = st.Update(ctx, func(tx trustsync.Tx) error {
		err := load(tx)
		if !errors.Is(err, trustsync.ErrNotFound) {
			return err // found meanwhile, or broken
		}
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return err
		}
		raw, err := crypto.MarshalPrivateKey(k)
		if err != nil {
			return err
		}
		key = k
		return tx.Put(KeyMeta, raw)
	})
	if err != nil {
		return nil, fmt.Errorf("create libp2p key: %w", err)
	}
	return key, nil
}

// DevicePeerID returns the libp2p peer ID of this device, as a string for
// [trustsync.Device].PeerID: the ID of the key [LoadOrCreateKey] returns
// (creating the key the first time).
func DevicePeerID(ctx context.Context, st trustsync.Store) (string, error) {
	key, err := LoadOrCreateKey(ctx, st)
	if err != nil {
		return "", err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("peer ID of the libp2p key: %w", err)
	}
	return id.String(), nil
}
