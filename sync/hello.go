package sync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

func (p *proto) sendHello(ctx context.Context) error {
	if err := p.refreshHeads(ctx, true); err != nil {
		return err
	}
	h := hello{
		Version:  ProtocolVersion,
		SpaceID:  p.s.self.SpaceID,
		DeviceID: p.s.self.DeviceID,
		MemberID: p.s.self.MemberID,
		Docs:     map[string][]string{},
	}
	for d, hs := range p.myHeads {
		if len(hs) > 0 {
			h.Docs[d] = hs
		}
	}
	body, err := h.encode()
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	return p.send(frameHello, body)
}

// refreshHeads re-reads the heads of dirty documents (all when all is set)
// and marks those that changed as pending.
func (p *proto) refreshHeads(ctx context.Context, all bool) error {
	r := p.s.r
	if p.myHeads == nil {
		p.myHeads = map[string][]string{}
		all = true
	}
	docs := sortedKeys(p.dirty)
	if all || p.allDirty {
		ds, err := r.Docs(ctx)
		if err != nil {
			return fmt.Errorf("list documents: %w", err)
		}
		docs = append(ds, sortedKeys(p.myHeads)...)
	}
	for _, d := range docs {
		if !ValidDoc(d) {
			continue
		}
		hs, err := r.Heads(ctx, d)
		if errors.Is(err, trustsync.ErrDamaged) {
			p.markDamaged(d, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("heads of %s: %w", d, err)
		}
		if _, ok := p.damaged[d]; ok {
			p.healed(d, false) // restored meanwhile, by another session
		}
		hs = slices.Clone(hs)
		slices.Sort(hs)
		if !slices.Equal(hs, p.myHeads[d]) {
			p.pending[d] = true
		}
		if len(hs) == 0 {
			delete(p.myHeads, d)
		} else {
			p.myHeads[d] = hs
		}
	}
	clear(p.dirty)
	p.allDirty = false
	return nil
}

func (p *proto) onHello(ctx context.Context, body []byte) error {
	s := p.s
	h, err := decodeHello(body)
	if err != nil {
		return err
	}
	if h.SpaceID != s.self.SpaceID {
		return fmt.Errorf("%w: hello names space %q", ErrSpaceMismatch, truncate(h.SpaceID, 64))
	}
	if h.DeviceID == s.self.DeviceID {
		return fmt.Errorf("%w: peer claims to be this device", ErrUnknownDevice)
	}
	members, err := s.r.Members(ctx)
	if err != nil {
		return fmt.Errorf("read members: %w", err)
	}
	remote := Remote{DeviceID: h.DeviceID, MemberID: h.MemberID, PeerID: s.cfg.RemotePeer}
	dev, mem, found := findDevice(members, h.DeviceID)
	switch {
	case found && dev.Removed:
		return fmt.Errorf("%w: device %s was removed", ErrUnknownDevice, truncate(h.DeviceID, 64))
	case found && dev.Owner.ID != "" && dev.Owner.ID != h.MemberID:
		return fmt.Errorf("%w: device %s belongs to another member", ErrUnknownDevice, truncate(h.DeviceID, 64))
	case found && s.cfg.RemotePeer != "" && dev.PeerID != "" && dev.PeerID != s.cfg.RemotePeer:
		return fmt.Errorf("%w: device %s has another peer ID", ErrUnknownDevice, truncate(h.DeviceID, 64))
	case found:
		remote.DeviceName = dev.Name
		remote.MemberName = mem.Name
		if remote.MemberName == "" {
			remote.MemberName = dev.Owner.Name
		}
	case s.cfg.TrustDevice != nil && s.cfg.TrustDevice(h.DeviceID, h.MemberID):
		for _, m := range members {
			if m.ID == h.MemberID {
				remote.MemberName = m.Name
			}
		}
	default:
		return fmt.Errorf("%w: %s is not a device of this space", ErrUnknownDevice, truncate(h.DeviceID, 64))
	}
	p.remote = remote
	p.peer = s.r.syncPeer(h.DeviceID)
	if p.peer == nil {
		return fmt.Errorf("no sync state for device %s", h.DeviceID)
	}
	// Nothing can be taken from the peer while nothing can be checked: no
	// session then (the peer is told why), rather than one that fails at
	// its first message. Asked only once the peer is known.
	if !s.cfg.Initiator {
		if err := s.r.CheckReady(ctx); err != nil {
			return err
		}
	}
	if !s.cfg.Initiator {
		if err := p.sendHello(ctx); err != nil {
			return err
		}
	} else if err := p.refreshHeads(ctx, true); err != nil {
		return err
	}
	p.theirDocs = map[string]bool{}
	p.theirHeads = map[string][]string{}
	for d, hs := range h.Docs {
		if len(hs) > 0 {
			p.theirDocs[d] = true
			p.theirHeads[d] = slices.Sorted(slices.Values(hs))
		}
		if !slices.Equal(hs, p.myHeads[d]) && len(p.myHeads[d]) > 0 {
			p.pending[d] = true
		}
	}
	for d := range p.myHeads {
		if !p.theirDocs[d] {
			p.pending[d] = true
		}
	}
	// Docs only the peer has arrive as snapshots; docs with equal heads
	// need nothing until they change.
	for d := range p.pending {
		if p.theirDocs[d] && slices.Equal(h.Docs[d], p.myHeads[d]) {
			delete(p.pending, d)
		}
	}
	p.helloDone = true
	p.helloSeen.Store(true)
	s.setState(func() { s.remote = remote; s.hello = true })
	s.log.Debug("hello", "device", remote.DeviceID, "member", remote.MemberName, "docs", len(h.Docs))
	if s.cfg.hooks.hello != nil {
		s.cfg.hooks.hello(remote)
	}
	p.startProgress()
	if err := p.announce(); err != nil {
		return err
	}
	if err := p.sendAddrs(); err != nil {
		return err
	}
	if s.cfg.hooks.damaged != nil {
		for _, d := range sortedKeys(p.damaged) {
			s.cfg.hooks.damaged(remote, DocDamage{Doc: d, Reason: p.damaged[d]})
		}
	}
	return nil
}

// startProgress starts following the documents the hello exchange found to
// differ: those the peer holds at other heads (to receive) and those this
// device holds at other heads or alone (to send), damaged ones left out.
func (p *proto) startProgress() {
	var receive, send []string
	for d, hs := range p.theirHeads {
		if _, bad := p.damaged[d]; !bad && !slices.Equal(hs, p.myHeads[d]) {
			receive = append(receive, d)
		}
	}
	for d := range p.pending {
		if _, bad := p.damaged[d]; !bad && len(p.myHeads[d]) > 0 {
			send = append(send, d)
		}
	}
	p.s.progressStart(p.remote, receive, send)
}

// sendAddrs tells the peer this device's listen addresses, after the hello
// exchange, when they differ from what it was told last. They go in a PING
// frame's body, which peers from before this note ignore.
func (p *proto) sendAddrs() error {
	if !p.helloDone || p.s.cfg.hooks.listen == nil {
		return nil
	}
	addrs := p.s.cfg.hooks.listen()
	if len(addrs) > maxAddrs {
		addrs = addrs[:maxAddrs]
	}
	if p.addrsSent != nil && slices.Equal(addrs, p.addrsSent) {
		return p.sendOthers()
	}
	p.addrsSent = slices.Clip(append([]string{}, addrs...))
	if err := p.send(framePing, encodeAddrNote(addrs)); err != nil {
		return err
	}
	return p.sendOthers()
}

// sendOthers passes on to the peer the addresses other devices of the space
// told this one, when they differ from what it passed on last.
func (p *proto) sendOthers() error {
	if p.s.cfg.hooks.others == nil {
		return nil
	}
	others := p.s.cfg.hooks.others(p.remote.DeviceID)
	for _, id := range sortedKeys(others) {
		if len(others) <= maxOthers {
			break
		}
		delete(others, id)
	}
	for id, as := range others {
		if len(as) > maxAddrs {
			others[id] = as[:maxAddrs]
		}
	}
	if p.othersSent != nil && maps.EqualFunc(others, p.othersSent, slices.Equal) {
		return nil
	}
	p.othersSent = others
	if p.othersSent == nil {
		p.othersSent = map[string][]string{}
	}
	return p.send(framePing, encodeOthersNote(others))
}

// onPing takes a PING: a keepalive, whose body, after the hello, may be the
// peer's note of its listen addresses. A body of a kind this version does
// not know is ignored, as peers from before the note ignore every body.
func (p *proto) onPing(body []byte) error {
	if len(body) == 0 || !p.helloDone {
		return nil
	}
	if body[0] == noteOthers {
		others, err := decodeOthersNote(body)
		if err != nil {
			return err
		}
		if p.s.cfg.hooks.relayed != nil {
			p.s.cfg.hooks.relayed(p.remote, others)
		}
		return nil
	}
	addrs, ok, err := decodeAddrNote(body)
	if err != nil || !ok {
		return err
	}
	if p.s.cfg.hooks.addrs != nil {
		p.s.cfg.hooks.addrs(p.remote, addrs)
	}
	return nil
}

// announce tells the peer which documents this device cannot read, and
// which it can read again.
func (p *proto) announce() error {
	for _, doc := range sortedKeys(p.damaged) {
		if p.announced[doc] == p.damaged[doc] {
			continue
		}
		if err := p.send(frameDamaged, damagedNote{Doc: doc, Reason: p.damaged[doc]}.encode()); err != nil {
			return err
		}
		p.announced[doc] = p.damaged[doc]
	}
	for _, doc := range sortedKeys(p.announced) {
		if _, ok := p.damaged[doc]; ok {
			continue
		}
		if err := p.send(frameDamaged, damagedNote{Doc: doc}.encode()); err != nil {
			return err
		}
		delete(p.announced, doc)
	}
	return nil
}

// digestHeads is what the STATUS digest covers: this device's heads of
// every document neither side says is damaged.
func (p *proto) digestHeads() map[string][]string {
	if len(p.theirDamaged) == 0 && len(p.theyRefused) == 0 && len(p.refused) == 0 {
		return p.myHeads
	}
	hs := maps.Clone(p.myHeads)
	for d := range p.theirDamaged {
		delete(hs, d)
	}
	for d := range p.theyRefused {
		delete(hs, d)
	}
	for d := range p.refused {
		delete(hs, d)
	}
	return hs
}

// spaceFirst moves the space document to the front: its certificates of
// further devices must arrive before the changes those devices signed.
func spaceFirst(docs []string) []string {
	if i := slices.Index(docs, crdt.SpaceDoc); i > 0 {
		docs = append(append([]string{crdt.SpaceDoc}, docs[:i]...), docs[i+1:]...)
	}
	return docs
}
