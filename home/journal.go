package home

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/internal/keys"
	"github.com/trustsync/trustsync/journal"
)

// JournalOptions open a journal that has a passphrase of its own (see
// [Home.SetJournalPassphrase]); a journal without one needs none.
type JournalOptions struct {
	// Passphrase is the journal's own passphrase.
	Passphrase []byte
	// AskPassphrase is called when the journal has a passphrase of its own
	// and Passphrase is empty. An empty answer with no error means there is
	// none: OpenJournal fails with [ErrJournalLocked].
	AskPassphrase func() ([]byte, error)
}

// JournalHasPassphrase reports whether the journal has a passphrase of its
// own.
func (h *Home) JournalHasPassphrase() bool {
	_, err := keys.ReadHeader(filepath.Join(h.dir, journal.Dir))
	return err == nil
}

// OpenJournal opens the home's private journal with its key: derived from
// the home's key when the home is encrypted, or from the journal's own
// passphrase when it has one. The caller closes it. After [Home.Close] it
// fails with an error wrapping [trustsync.ErrClosed].
func (h *Home) OpenJournal(ctx context.Context, opts JournalOptions) (*journal.Journal, error) {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("open journal: %w", trustsync.ErrClosed)
	}
	dir := filepath.Join(h.dir, journal.Dir)
	var key []byte
	if h.key != nil {
		key = keys.Derive(h.key, labelJournal)
	}
	hd, err := keys.ReadHeader(dir)
	switch {
	case err == nil:
		p := opts.Passphrase
		if len(p) == 0 && opts.AskPassphrase != nil {
			if p, err = opts.AskPassphrase(); err != nil {
				return nil, err
			}
		}
		if len(p) == 0 {
			return nil, fmt.Errorf("open journal: %w", ErrJournalLocked)
		}
		jk, err := openHeader(hd, p)
		if err != nil {
			return nil, fmt.Errorf("open journal: %w", err)
		}
		key = keys.Derive(jk, labelJournal)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("open journal: %w", err)
	case !errors.Is(err, keys.ErrNotEncrypted):
		return nil, &HeaderError{Path: filepath.Join(dir, keys.HeaderFile), Err: err}
	}
	return journal.Open(ctx, dir, key, journal.Options{Now: h.opts.Now})
}

// SetJournalPassphrase gives the journal a passphrase of its own, which
// [Home.OpenJournal] then always needs, even while the home is unlocked.
// The journal is rewritten under the new key and the old copy deleted. A
// journal that already has a passphrase of its own gives an error wrapping
// [ErrJournalLocked]; a passphrase of fewer than [MinPassphrase] characters
// one wrapping [ErrShortPassphrase]. kdf is as in [CreateOptions].
func (h *Home) SetJournalPassphrase(ctx context.Context, passphrase []byte, kdf KDFParams) error {
	if h.JournalHasPassphrase() {
		return fmt.Errorf("set journal passphrase: already set: %w", ErrJournalLocked)
	}
	if err := CheckNewPassphrase(passphrase); err != nil {
		return fmt.Errorf("set journal passphrase: %w", err)
	}
	if err := kdf.check(); err != nil {
		return fmt.Errorf("set journal passphrase: %w", err)
	}
	old, err := h.OpenJournal(ctx, JournalOptions{})
	if err != nil {
		return err
	}
	defer old.Close()
	dir := filepath.Join(h.dir, journal.Dir)
	tmp := dir + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("set journal passphrase: clear %s: %w", tmp, err)
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("set journal passphrase: %w", err)
	}
	_, jk, err := keys.Create(tmp, passphrase, kdf.params())
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("set journal passphrase: %w", err)
	}
	nj, err := journal.Open(ctx, tmp, keys.Derive(jk, labelJournal), journal.Options{Now: h.opts.Now})
	if err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := old.CopyTo(ctx, nj); err != nil {
		nj.Close()
		os.RemoveAll(tmp)
		return err
	}
	if err := errors.Join(nj.Close(), old.Close()); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	gone := dir + ".old"
	if err := os.Rename(dir, gone); err != nil {
		return fmt.Errorf("set journal passphrase: move the old journal aside: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.Rename(gone, dir)
		return fmt.Errorf("set journal passphrase: put the new journal in place: %w", err)
	}
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("set journal passphrase: the journal has its passphrase, but the old copy %s could not be deleted: %w", gone, err)
	}
	return nil
}
