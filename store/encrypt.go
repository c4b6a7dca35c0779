package store

import (
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/trustsync/trustsync"
)

// ErrWrongKey is returned by [Encrypt] when the key is not the one the
// store was encrypted with.
var ErrWrongKey = errors.New("wrong key for this store")

// ErrNotEncrypted is returned by [Encrypt] for a store that already holds
// data written without encryption.
var ErrNotEncrypted = errors.New("store holds data written without encryption")

// EncryptionKeySize is the size of the key [Encrypt] takes.
const EncryptionKeySize = 32

// keyCheckKey is the meta key of the value that tells [Encrypt] whether it
// was given the right key. It is stored encrypted, like every meta value.
const keyCheckKey = "encryption/check"

const keyCheckValue = "trustsync encrypted store v1"

// sealVersion is the first byte of every sealed value.
const sealVersion = 1

// Encrypted is a [trustsync.Store] that encrypts, with XChaCha20-Poly1305,
// everything it writes to another store and decrypts everything it reads:
// the bytes of every chunk, the data of every item, the message of every
// history entry, every meta value and the recorded heads of every document.
// Make one with [Encrypt].
//
// Each value is sealed with its row's identity as associated data (the
// document of a chunk; the kind, ID and document of an item; the hash,
// document, actor and time of a history entry; the key of a meta value),
// so a value moved to another row fails to open instead of being read
// there.
//
// Chunks are sealed deterministically: the nonce is an HMAC-SHA-256 of the
// document and the plaintext, under a key of its own. The same bytes
// appended twice therefore seal to the same ciphertext, and the inner
// store's deduplication keeps working. Items, history and meta values get
// random nonces.
//
// What stays visible to someone with the files: document IDs, item kinds
// and IDs, which document an item belongs to, change hashes, actor (device)
// IDs, change times, meta keys, the number of rows and the size of every
// value.
//
// A chunk that fails to open is reported like a chunk that fails its
// checksum: Chunks leaves it out and returns a [*DamagedChunksError].
// An item, history entry or meta value that fails to open gives an error
// wrapping [trustsync.ErrDamaged].
type Encrypted struct {
	inner trustsync.Store
	aead  cipher.AEAD
	mac   []byte // key of the chunk nonce HMAC

	closeOnce sync.Once
	closeErr  error
}

var _ trustsync.Store = (*Encrypted)(nil)

// Encrypt returns a store that keeps everything in inner encrypted under
// key, which must be [EncryptionKeySize] random bytes (derive it from a
// passphrase with a slow KDF such as Argon2id, never use a passphrase
// directly). The first call on an empty store records a key check value;
// later calls with another key fail with [ErrWrongKey] and change nothing.
// A store that already holds unencrypted data gives [ErrNotEncrypted].
//
// Closing the returned store closes inner.
func Encrypt(ctx context.Context, inner trustsync.Store, key []byte) (*Encrypted, error) {
	if len(key) != EncryptionKeySize {
		return nil, fmt.Errorf("encrypt store: key of %d bytes, want %d: %w", len(key), EncryptionKeySize, trustsync.ErrInvalid)
	}
	dataKey, err := hkdf.Key(sha256.New, key, nil, "trustsync store data v1", chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("encrypt store: %w", err)
	}
	macKey, err := hkdf.Key(sha256.New, key, nil, "trustsync store chunk nonce v1", 32)
	if err != nil {
		return nil, fmt.Errorf("encrypt store: %w", err)
	}
	aead, err := chacha20poly1305.NewX(dataKey)
	if err != nil {
		return nil, fmt.Errorf("encrypt store: %w", err)
	}
	e := &Encrypted{inner: inner, aead: aead, mac: macKey}
	if err := e.checkKey(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// checkKey opens the key check value, or writes it into an empty store.
func (e *Encrypted) checkKey(ctx context.Context) error {
	var found bool
	err := e.inner.View(ctx, func(tx trustsync.ReadTx) error {
		v, err := tx.Get(keyCheckKey)
		if errors.Is(err, trustsync.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		if p, err := e.open(v, metaAD(keyCheckKey)); err != nil || string(p) != keyCheckValue {
			return ErrWrongKey
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("encrypt store: %w", err)
	}
	if found {
		return nil
	}
	err = e.inner.Update(ctx, func(tx trustsync.Tx) error {
		if _, err := tx.Get(keyCheckKey); err == nil {
			return nil // another process was first; checked on next open
		}
		seq, err := tx.LastSeq()
		if err != nil {
			return err
		}
		docs, err := tx.Docs()
		if err != nil {
			return err
		}
		hist, err := tx.History(0, 1)
		if err != nil {
			return err
		}
		if seq > 0 || len(docs) > 0 || len(hist) > 0 {
			return ErrNotEncrypted
		}
		return tx.Put(keyCheckKey, e.seal(nil, []byte(keyCheckValue), metaAD(keyCheckKey)))
	})
	if err != nil {
		return fmt.Errorf("encrypt store: %w", err)
	}
	return nil
}

// Inner returns the store that holds the ciphertext.
func (e *Encrypted) Inner() trustsync.Store { return e.inner }

// View runs fn on a read transaction of the inner store that decrypts.
func (e *Encrypted) View(ctx context.Context, fn func(trustsync.ReadTx) error) error {
	return e.inner.View(ctx, func(tx trustsync.ReadTx) error {
		return fn(&encReadTx{e: e, tx: tx})
	})
}

// Update runs fn on a write transaction of the inner store that encrypts
// what fn writes and decrypts what it reads.
func (e *Encrypted) Update(ctx context.Context, fn func(trustsync.Tx) error) error {
	return e.inner.Update(ctx, func(tx trustsync.Tx) error {
		return fn(&encTx{encReadTx: encReadTx{e: e, tx: tx}, tx: tx})
	})
}

// Close closes the inner store. It is safe to call more than once.
func (e *Encrypted) Close() error {
	e.closeOnce.Do(func() { e.closeErr = e.inner.Close() })
	return e.closeErr
}

// seal encrypts plaintext with ad; a nil nonce means a random one. The
// result is the version byte, the nonce and the ciphertext with its tag.
func (e *Encrypted) seal(nonce, plaintext, ad []byte) []byte {
	if nonce == nil {
		nonce = make([]byte, chacha20poly1305.NonceSizeX)
		rand.Read(nonce)
	}
	out := make([]byte, 0, 1+len(nonce)+len(plaintext)+chacha20poly1305.Overhead)
	out = append(out, sealVersion)
	out = append(out, nonce...)
	return e.aead.Seal(out, nonce, plaintext, ad)
}

var errCannotOpen = errors.New("cannot be decrypted with this key (bytes changed or moved)")

// open reverses seal.
func (e *Encrypted) open(sealed, ad []byte) ([]byte, error) {
	n := chacha20poly1305.NonceSizeX
	if len(sealed) < 1+n+chacha20poly1305.Overhead || sealed[0] != sealVersion {
		return nil, errCannotOpen
	}
	p, err := e.aead.Open(nil, sealed[1:1+n], sealed[1+n:], ad)
	if err != nil {
		return nil, errCannotOpen
	}
	if p == nil {
		p = []byte{}
	}
	return p, nil
}

// chunkNonce is the deterministic nonce of a chunk: an HMAC of its document
// and bytes.
func (e *Encrypted) chunkNonce(doc string, data []byte) []byte {
	m := hmac.New(sha256.New, e.mac)
	m.Write([]byte(strconv.Itoa(len(doc))))
	m.Write([]byte{':'})
	m.Write([]byte(doc))
	m.Write(data)
	return m.Sum(nil)[:chacha20poly1305.NonceSizeX]
}

func (e *Encrypted) sealChunk(doc string, data []byte) []byte {
	return e.seal(e.chunkNonce(doc, data), data, chunkAD(doc))
}

// The associated data of each kind of row. Every field is prefixed with its
// length, so that no two different rows share associated data.
func chunkAD(doc string) []byte { return ad("chunk", doc) }
func itemAD(kind, id, doc string) []byte {
	return ad("item", kind, id, doc)
}
func metaAD(key string) []byte { return ad("meta", key) }
func headsAD(doc string, seq int64) []byte {
	return ad("heads", doc, strconv.FormatInt(seq, 10))
}
func historyAD(h trustsync.HistoryEntry) []byte {
	return ad("history", h.Hash, h.Doc, h.Actor, strconv.FormatInt(h.At.UnixMilli(), 10))
}

func ad(fields ...string) []byte {
	var b []byte
	for _, f := range fields {
		b = strconv.AppendInt(b, int64(len(f)), 10)
		b = append(b, ':')
		b = append(b, f...)
	}
	return b
}

// damaged describes a value that failed to open.
func damaged(what string) error {
	return &trustsync.DamagedError{
		What: what,
		Why:  errCannotOpen.Error(),
		Hint: "check that this is the right home and key; restore the file from a backup, or sync with your partner to get shared data back",
	}
}

// encReadTx decrypts what a ReadTx returns.
type encReadTx struct {
	e  *Encrypted
	tx trustsync.ReadTx
}

func (t *encReadTx) Chunks(doc string, after int64) ([]trustsync.Chunk, error) {
	chunks, err := t.tx.Chunks(doc, after)
	var dmg DamagedChunksError
	if err != nil {
		var inner *DamagedChunksError
		if !errors.As(err, &inner) {
			return nil, err
		}
		dmg.Seqs = append(dmg.Seqs, inner.Seqs...)
		dmg.Errors = append(dmg.Errors, inner.Errors...)
	}
	out := chunks[:0]
	for _, c := range chunks {
		p, err := t.e.open(c.Data, chunkAD(c.Doc))
		if err != nil {
			dmg.Seqs = append(dmg.Seqs, c.Seq)
			dmg.Errors = append(dmg.Errors, &trustsync.DamagedError{
				What: fmt.Sprintf("chunk %d of document %q", c.Seq, c.Doc),
				Why:  errCannotOpen.Error(),
				Hint: repairHint,
			})
			continue
		}
		c.Data = p
		out = append(out, c)
	}
	return out, dmg.errOrNil()
}

// Heads opens the sealed heads of doc. Heads that do not open are
// reported as not recorded, so that the caller loads the document instead.
func (t *encReadTx) Heads(doc string) (trustsync.DocHeads, bool, error) {
	h, ok, err := t.tx.Heads(doc)
	if err != nil || !ok {
		return trustsync.DocHeads{}, false, err
	}
	p, err := t.e.open(h.Hashes, headsAD(doc, h.Seq))
	if err != nil {
		return trustsync.DocHeads{}, false, nil
	}
	h.Hashes = p
	return h, true, nil
}

func (t *encReadTx) LastSeq() (int64, error) { return t.tx.LastSeq() }
func (t *encReadTx) Docs() ([]string, error) { return t.tx.Docs() }
func (t *encReadTx) ItemIDs(kind, prefix string) ([]string, error) {
	return t.tx.ItemIDs(kind, prefix)
}

func (t *encReadTx) openItem(it trustsync.Item) (trustsync.Item, error) {
	p, err := t.e.open(it.Data, itemAD(it.Kind, it.ID, it.Doc))
	if err != nil {
		return trustsync.Item{}, fmt.Errorf("read item: %w", damaged(fmt.Sprintf("item %s %q", it.Kind, it.ID)))
	}
	it.Data = p
	return it, nil
}

func (t *encReadTx) Items(kind string) ([]trustsync.Item, error) {
	items, err := t.tx.Items(kind)
	if err != nil {
		return nil, err
	}
	for i := range items {
		if items[i], err = t.openItem(items[i]); err != nil {
			return nil, err
		}
	}
	return items, nil
}

func (t *encReadTx) Item(kind, id string) (trustsync.Item, error) {
	it, err := t.tx.Item(kind, id)
	if err != nil {
		return trustsync.Item{}, err
	}
	return t.openItem(it)
}

func (t *encReadTx) History(offset, limit int) ([]trustsync.HistoryEntry, error) {
	hs, err := t.tx.History(offset, limit)
	if err != nil {
		return nil, err
	}
	for i, h := range hs {
		sealed, err := base64.RawStdEncoding.DecodeString(h.Message)
		var p []byte
		if err == nil {
			p, err = t.e.open(sealed, historyAD(h))
		}
		if err != nil {
			return nil, fmt.Errorf("read history: %w", damaged(fmt.Sprintf("history entry %s", h.Hash)))
		}
		hs[i].Message = string(p)
	}
	return hs, nil
}

func (t *encReadTx) Get(key string) ([]byte, error) {
	v, err := t.tx.Get(key)
	if err != nil {
		return nil, err
	}
	p, err := t.e.open(v, metaAD(key))
	if err != nil {
		return nil, fmt.Errorf("read meta: %w", damaged(fmt.Sprintf("meta value %q", key)))
	}
	return p, nil
}

// encTx encrypts what a Tx writes.
type encTx struct {
	encReadTx
	tx trustsync.Tx
}

func (t *encTx) AppendChunk(doc string, data []byte) (int64, error) {
	if err := checkDoc("append chunk", doc); err != nil {
		return 0, err
	}
	return t.tx.AppendChunk(doc, t.e.sealChunk(doc, data))
}

func (t *encTx) Compact(doc string, snapshot []byte, through int64) (int64, error) {
	if err := checkDoc("compact", doc); err != nil {
		return 0, err
	}
	return t.tx.Compact(doc, t.e.sealChunk(doc, snapshot), through)
}

func (t *encTx) Quarantine(seq int64) error { return t.tx.Quarantine(seq) }

func (t *encTx) PutHeads(doc string, h trustsync.DocHeads) error {
	if err := checkDoc("put heads", doc); err != nil {
		return err
	}
	h.Hashes = t.e.seal(nil, h.Hashes, headsAD(doc, h.Seq))
	return t.tx.PutHeads(doc, h)
}

func (t *encTx) PutItem(it trustsync.Item) error {
	it.Data = t.e.seal(nil, it.Data, itemAD(it.Kind, it.ID, it.Doc))
	return t.tx.PutItem(it)
}

func (t *encTx) DeleteItem(kind, id string) error { return t.tx.DeleteItem(kind, id) }

func (t *encTx) AddHistory(entries ...trustsync.HistoryEntry) error {
	sealed := make([]trustsync.HistoryEntry, len(entries))
	for i, h := range entries {
		h.Message = base64.RawStdEncoding.EncodeToString(t.e.seal(nil, []byte(h.Message), historyAD(h)))
		sealed[i] = h
	}
	return t.tx.AddHistory(sealed...)
}

func (t *encTx) Put(key string, value []byte) error {
	return t.tx.Put(key, t.e.seal(nil, value, metaAD(key)))
}

func (t *encTx) Delete(key string) error { return t.tx.Delete(key) }

// Quarantined returns the chunks the inner store set aside, decrypted where
// they still open and as stored where they do not. It fails when the inner
// store keeps no quarantine.
func (e *Encrypted) Quarantined() ([]trustsync.Chunk, error) {
	q, ok := e.inner.(interface {
		Quarantined() ([]trustsync.Chunk, error)
	})
	if !ok {
		return nil, fmt.Errorf("read quarantine: %T keeps none", e.inner)
	}
	cs, err := q.Quarantined()
	if err != nil {
		return nil, err
	}
	for i, c := range cs {
		if p, err := e.open(c.Data, chunkAD(c.Doc)); err == nil {
			cs[i].Data = p
		}
	}
	return cs, nil
}

// ErrEncrypted is returned by code that finds an encrypted store where it
// was given no key.
var ErrEncrypted = errors.New("store is encrypted: its key is needed to open it")

// IsEncrypted reports whether st was written through [Encrypt] (it holds
// the key check value), so that a caller without a key can refuse it
// instead of mixing plaintext into it.
func IsEncrypted(ctx context.Context, st trustsync.Store) (bool, error) {
	var found bool
	err := st.View(ctx, func(tx trustsync.ReadTx) error {
		_, err := tx.Get(keyCheckKey)
		if errors.Is(err, trustsync.ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	return found, err
}
