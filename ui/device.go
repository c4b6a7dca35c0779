package ui

import (
	"context"
	"errors"
	"fmt"

	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/journal"
	tsync "github.com/trustsync/trustsync/sync"
)

// device is the open home and what runs for it.
type device struct {
	h     *home.Home
	sp    *crdt.Space
	node  *tsync.Node // nil without Options.Start
	stop  func() error
	unsub func() // ends the space subscription feeding the live updates

	journal *journal.Journal // the journal while open on the page
}

// openHome opens the home with passphrase (nil: Options.Home's, if any)
// and starts its node. A locked home sets s.locked and returns the error.
func (s *Server) openHome(ctx context.Context, passphrase []byte) error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	s.mu.Lock()
	open := s.dev != nil
	s.mu.Unlock()
	if open {
		return nil
	}
	hopts := s.opts.Home
	if passphrase != nil {
		hopts.Passphrase = passphrase
	}
	hopts.AskPassphrase = nil
	h, err := home.Open(s.opts.Dir, hopts)
	if err != nil {
		s.mu.Lock()
		s.locked = errors.Is(err, home.ErrLocked) || (passphrase != nil && errors.Is(err, home.ErrWrongPassphrase))
		if !s.locked {
			s.openErr = homeWords(err)
		}
		s.mu.Unlock()
		return err
	}
	d := &device{h: h, sp: h.Space()}
	if s.opts.Start != nil {
		n, stop, err := s.opts.Start(ctx, h)
		if err != nil {
			h.Close()
			s.mu.Lock()
			s.openErr = "cannot go online: " + oneLine(err.Error())
			s.mu.Unlock()
			return err
		}
		d.node, d.stop = n, stop
	}
	events, unsub := d.sp.Subscribe()
	d.unsub = unsub
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for ev := range events {
			s.hub.publish(changeOf(ev))
		}
	}()
	s.mu.Lock()
	s.dev, s.locked, s.openErr = d, false, ""
	s.mu.Unlock()
	s.hub.publish(change{All: true})
	return nil
}

// closeHome stops the node and closes the journal and the home.
func (s *Server) closeHome() error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	s.mu.Lock()
	d := s.dev
	s.dev = nil
	s.mu.Unlock()
	if d == nil {
		return nil
	}
	var errs []error
	s.mu.Lock()
	j := d.journal
	d.journal = nil
	s.mu.Unlock()
	if j != nil {
		errs = append(errs, j.Close())
	}
	if d.stop != nil {
		errs = append(errs, d.stop())
	}
	d.unsub()
	errs = append(errs, d.h.Close())
	return errors.Join(errs...)
}

// lockHome forgets the kept key of the home, closes it, and shows the
// unlock page from then on.
func (s *Server) lockHome() error {
	s.mu.Lock()
	d := s.dev
	s.mu.Unlock()
	if d == nil {
		return nil
	}
	if !d.h.Encrypted() {
		return errors.New("this home is not encrypted, so it cannot be locked: anyone who can read its files can read it")
	}
	if _, err := home.Lock(s.opts.Dir, s.opts.Home); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	err := s.closeHome()
	s.mu.Lock()
	s.locked = true
	s.mu.Unlock()
	s.hub.publish(change{All: true})
	return err
}

// current returns the open home, or nil while locked.
func (s *Server) current() *device {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dev
}

// homeWords says in one line why the home cannot be opened.
func homeWords(err error) string {
	switch {
	case errors.Is(err, home.ErrWrongPassphrase):
		return "wrong passphrase: nothing was read or changed"
	case errors.Is(err, home.ErrLocked):
		return "this home is locked: type its passphrase to unlock it"
	}
	return "cannot open this home: " + oneLine(err.Error())
}
