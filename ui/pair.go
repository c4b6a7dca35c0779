package ui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"strings"
	stdsync "sync"
	"time"

	"rsc.io/qr"

	tsync "github.com/trustsync/trustsync/sync"
)

// pairTime bounds one pairing started on the page, the wait for the
// partner and for both confirmations included.
const pairTime = 10 * time.Minute

// pairing is a pairing started on the page: an invite waiting for the
// partner's device, or this device joining through one.
type pairing struct {
	mu        stdsync.Mutex
	inviting  bool
	invite    string
	expires   time.Time
	code      string // the confirmation code, once both sides are in touch
	words     string // what the pairing is for, in words
	confirmed bool   // this side said the codes match
	finished  bool
	result    string // the outcome in words, once finished
	failed    bool

	answer chan bool
	cancel context.CancelFunc
	done   chan struct{}
}

// pairView is what the pairing page shows.
type pairView struct {
	HasNode   bool
	Active    bool
	Inviting  bool
	Invite    string
	QR        template.HTML
	Expires   time.Time
	Code      string
	Words     string
	Confirmed bool
	Finished  bool
	Failed    bool
	Result    string
}

func loadPair(ctx context.Context, s *Server, d *device) (any, error) {
	v := &pairView{HasNode: d.node != nil}
	s.mu.Lock()
	p := s.pairing
	s.mu.Unlock()
	if p == nil {
		return v, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	v.Active, v.Inviting, v.Invite, v.Expires = true, p.inviting, p.invite, p.expires
	v.Code, v.Words, v.Confirmed = p.code, p.words, p.confirmed
	v.Finished, v.Failed, v.Result = p.finished, p.failed, p.result
	if p.invite != "" && !p.finished {
		svg, err := qrSVG(p.invite)
		if err != nil {
			return nil, err
		}
		v.QR = svg
	}
	return v, nil
}

// newPairing replaces any pairing in progress with a new one.
func (s *Server) newPairing(inviting bool) (*pairing, context.Context) {
	ctx, cancel := context.WithTimeout(s.ctx, pairTime)
	p := &pairing{inviting: inviting, answer: make(chan bool, 1), cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	old := s.pairing
	s.pairing = p
	s.mu.Unlock()
	if old != nil {
		old.stop()
	}
	return p, ctx
}

// stop ends the pairing and waits for it.
func (p *pairing) stop() {
	p.cancel()
	<-p.done
}

// startInvite makes an invite and waits, in the background, for a device
// to pair through it.
func (s *Server) startInvite(d *device, own bool) error {
	if d.node == nil {
		return inputf("This page runs without a node: pair with 'trustsync pair'.")
	}
	p, ctx := s.newPairing(true)
	purpose := tsync.PurposeUnset
	if own {
		purpose = tsync.PurposeOwnDevice
	}
	inv, err := d.node.Invite(ctx, tsync.InviteOptions{TTL: pairTime, Purpose: purpose, Confirm: s.confirmer(ctx, p, true)})
	if err != nil {
		p.cancel()
		close(p.done)
		s.mu.Lock()
		if s.pairing == p {
			s.pairing = nil
		}
		s.mu.Unlock()
		return err
	}
	p.mu.Lock()
	p.invite, p.expires = inv.Invite().String(), inv.Invite().Expires
	p.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(p.done)
		res, err := inv.Wait(ctx)
		inv.Close()
		s.finishPairing(p, res, err)
	}()
	return nil
}

// startJoin joins through inv in the background.
func (s *Server) startJoin(d *device, inv tsync.Invite) error {
	if d.node == nil {
		return inputf("This page runs without a node: pair with 'trustsync pair'.")
	}
	p, ctx := s.newPairing(false)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(p.done)
		res, err := d.node.Join(ctx, inv, tsync.JoinOptions{Confirm: s.confirmer(ctx, p, false)})
		s.finishPairing(p, res, err)
	}()
	return nil
}

// confirmer shows the code on the page and waits for this side's answer.
func (s *Server) confirmer(ctx context.Context, p *pairing, inviting bool) func(tsync.Confirmation) error {
	return func(c tsync.Confirmation) error {
		var words string
		switch {
		case c.Again:
			words = fmt.Sprintf("Device %q of %s pairs again; this adds no device.", c.Remote.DeviceName, c.As.Name)
		case c.Purpose == tsync.PurposeOwnDevice && inviting:
			words = fmt.Sprintf("Warning: this adds a device that will write in your name, %s: only continue if %q is your own device.", c.As.Name, c.Remote.DeviceName)
		case c.Purpose == tsync.PurposeOwnDevice:
			words = fmt.Sprintf("This device joins as %s's device: what it writes will be in %s's name.", c.As.Name, c.As.Name)
		case inviting:
			words = fmt.Sprintf("Device %q joins as your partner, %s.", c.Remote.DeviceName, c.As.Name)
		default:
			words = fmt.Sprintf("This device joins as %s, the partner of %s.", c.As.Name, c.Remote.MemberName)
		}
		p.mu.Lock()
		p.code, p.words = c.Code, words
		p.mu.Unlock()
		s.hub.publish(change{Parts: []string{"pair"}})
		select {
		case yes := <-p.answer:
			if yes {
				return nil
			}
			return errors.New("the codes differ, said the person at this device")
		case <-ctx.Done():
			return errors.New("stopped before anyone answered")
		}
	}
}

// confirmPairing passes this side's answer to the pairing waiting for it.
func (s *Server) confirmPairing(yes bool) error {
	s.mu.Lock()
	p := s.pairing
	s.mu.Unlock()
	if p == nil {
		return inputf("No pairing is waiting for an answer.")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.code == "" || p.confirmed || p.finished {
		return inputf("No pairing is waiting for an answer.")
	}
	select {
	case p.answer <- yes:
	default:
	}
	p.confirmed = yes
	return nil
}

// cancelPairing withdraws the invite or stops joining.
func (s *Server) cancelPairing() {
	s.mu.Lock()
	p := s.pairing
	s.pairing = nil
	s.mu.Unlock()
	if p != nil {
		p.stop()
	}
	s.hub.publish(change{Parts: []string{"pair"}})
}

// finishPairing records the outcome in words.
func (s *Server) finishPairing(p *pairing, res tsync.PairResult, err error) {
	p.mu.Lock()
	p.finished = true
	switch {
	case err == nil:
		p.result = fmt.Sprintf("Paired with %s's device %q, code %s. If the other device showed another code, unpair it now under Devices.", res.Remote.MemberName, res.Remote.DeviceName, res.Code)
	case errors.Is(err, context.Canceled):
		p.failed, p.result = true, "Pairing cancelled: nothing changed."
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, tsync.ErrInviteExpired):
		p.failed, p.result = true, "No device joined in time: nothing changed. Make a new invite to try again."
	default:
		p.failed, p.result = true, "Not paired: "+oneLine(err.Error())+"."
	}
	p.mu.Unlock()
	s.hub.publish(change{Parts: []string{"pair", "devices"}})
}

// qrSVG draws text as a QR code in SVG: one path of dark modules on a
// light square, with a quiet zone of four modules.
func qrSVG(text string) (template.HTML, error) {
	c, err := qr.Encode(text, qr.L)
	if err != nil {
		return "", fmt.Errorf("draw the invite's QR code: %w", err)
	}
	const quiet = 4
	n := c.Size + 2*quiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="264" height="264" role="img" aria-labelledby="qr-title" class="qr" shape-rendering="crispEdges"><title id="qr-title">QR code of the invite</title><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n, n, n)
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; x++ {
			if c.Black(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()), nil // only numbers and fixed markup: nothing from the invite
}
