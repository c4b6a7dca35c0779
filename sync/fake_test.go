package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	stdsync "sync"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// fakeSpace is a replica whose documents are sets of changes, with a toy sync
// protocol of the same shape as Automerge's (have/need, changes, in-flight
// state). It lets the protocol be tested apart from crdt.
type fakeSpace struct {
	self crdt.Identity

	mu      stdsync.Mutex
	members []trustsync.Member
	docs    map[string]map[string]string // doc -> change ID -> item ID
	subs    map[int]chan crdt.Event
	nextSub int
	peers   map[string]*fakePeer
}

func newFakeSpace(spaceID, member, device string) *fakeSpace {
	return &fakeSpace{
		self:  crdt.Identity{SpaceID: spaceID, MemberID: member, MemberName: member, DeviceID: device, DeviceName: device + "-laptop"},
		docs:  map[string]map[string]string{},
		subs:  map[int]chan crdt.Event{},
		peers: map[string]*fakePeer{},
	}
}

// pairFakes records each space's device in the other.
func pairFakes(spaces ...*fakeSpace) {
	var ms []trustsync.Member
	for _, s := range spaces {
		ms = append(ms, trustsync.Member{Person: trustsync.Person{ID: s.self.MemberID, Name: s.self.MemberName},
			Devices: []trustsync.Device{{ID: s.self.DeviceID, Name: s.self.DeviceName, Owner: trustsync.Person{ID: s.self.MemberID, Name: s.self.MemberName}}}})
	}
	for _, s := range spaces {
		s.mu.Lock()
		s.members = ms
		s.mu.Unlock()
	}
}

func kindOf(doc string) string {
	switch doc {
	case "boundaries":
		return crdt.KindBoundary
	case "goals":
		return crdt.KindGoal
	case "space":
		return crdt.KindDevice
	}
	return crdt.KindCheckIn
}

func (f *fakeSpace) edit(doc, change string) {
	f.mu.Lock()
	if f.docs[doc] == nil {
		f.docs[doc] = map[string]string{}
	}
	f.docs[doc][change] = change
	f.mu.Unlock()
	f.publish(crdt.Event{Doc: doc, Items: []crdt.ItemRef{{Kind: kindOf(doc), ID: change}}})
}

func (f *fakeSpace) snapshot() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for d, chs := range f.docs {
		out[d] = sortedKeys(chs)
	}
	return out
}

func (f *fakeSpace) publish(ev crdt.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.subs {
		select {
		case c <- ev:
		default:
		}
	}
}

func (f *fakeSpace) Self() crdt.Identity { return f.self }

func (f *fakeSpace) Members(context.Context) ([]trustsync.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.members), nil
}

func (f *fakeSpace) Docs(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sortedKeys(f.docs), nil
}

func headOf(chs map[string]string) []string {
	if len(chs) == 0 {
		return nil
	}
	h := sha256.New()
	for _, k := range sortedKeys(chs) {
		h.Write([]byte(k + "\n"))
	}
	return []string{hex.EncodeToString(h.Sum(nil))}
}

func (f *fakeSpace) Heads(_ context.Context, doc string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return headOf(f.docs[doc]), nil
}

func (f *fakeSpace) Save(_ context.Context, doc string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.docs[doc]) == 0 {
		return nil, nil
	}
	return json.Marshal(sortedKeys(f.docs[doc]))
}

func (f *fakeSpace) apply(doc string, changes []string, from string) crdt.Received {
	rec := crdt.Received{Doc: doc}
	f.mu.Lock()
	if f.docs[doc] == nil {
		f.docs[doc] = map[string]string{}
	}
	for _, c := range changes {
		if _, ok := f.docs[doc][c]; !ok {
			f.docs[doc][c] = c
			rec.Changes++
			rec.Items = append(rec.Items, crdt.ItemRef{Kind: kindOf(doc), ID: c})
		}
	}
	f.mu.Unlock()
	if rec.Changes > 0 {
		f.publish(crdt.Event{Doc: doc, Items: rec.Items, Remote: true, From: from})
	}
	return rec
}

func (f *fakeSpace) Import(_ context.Context, doc string, data []byte, from string) (crdt.Received, error) {
	var changes []string
	if err := json.Unmarshal(data, &changes); err != nil {
		return crdt.Received{}, err
	}
	return f.apply(doc, changes, from), nil
}

func (f *fakeSpace) Subscribe() (<-chan crdt.Event, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.nextSub
	f.nextSub++
	c := make(chan crdt.Event, 64)
	f.subs[id] = c
	var once stdsync.Once
	return c, func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.subs, id)
			f.mu.Unlock()
			close(c)
		})
	}
}

func (f *fakeSpace) syncPeer(deviceID string) syncPeer {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.peers[deviceID]
	if p == nil {
		p = &fakePeer{f: f, device: deviceID, docs: map[string]*fakeDocState{}}
		f.peers[deviceID] = p
	}
	return p
}

type fakePeer struct {
	f      *fakeSpace
	device string
	mu     stdsync.Mutex
	docs   map[string]*fakeDocState
	got    map[string]int // sync messages received, by document
}

type fakeDocState struct {
	known     bool
	inFlight  bool
	theirHave map[string]bool
	sent      map[string]bool
	lastTold  string
}

type fakeMsg struct {
	Have    []string `json:"have"`
	Changes []string `json:"changes"`
}

func (p *fakePeer) state(doc string) *fakeDocState {
	st := p.docs[doc]
	if st == nil {
		st = &fakeDocState{theirHave: map[string]bool{}, sent: map[string]bool{}}
		p.docs[doc] = st
	}
	return st
}

func (p *fakePeer) GenerateMessage(_ context.Context, doc string) ([]byte, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.f.mu.Lock()
	mine := sortedKeys(p.f.docs[doc])
	told := headOf(p.f.docs[doc])
	p.f.mu.Unlock()
	st := p.state(doc)
	if !st.known {
		if st.inFlight {
			return nil, false, nil
		}
		st.inFlight = true
		b, _ := json.Marshal(fakeMsg{Have: mine})
		st.lastTold = concat(told)
		return b, true, nil
	}
	var missing []string
	for _, c := range mine {
		if !st.theirHave[c] && !st.sent[c] {
			missing = append(missing, c)
			st.sent[c] = true
		}
	}
	if len(missing) == 0 && st.lastTold == concat(told) {
		return nil, false, nil
	}
	st.lastTold = concat(told)
	b, _ := json.Marshal(fakeMsg{Have: mine, Changes: missing})
	return b, true, nil
}

func concat(s []string) string {
	out := ""
	for _, x := range s {
		out += x
	}
	return out
}

func (p *fakePeer) ReceiveMessage(_ context.Context, doc string, msg []byte) (crdt.Received, error) {
	var m fakeMsg
	if err := json.Unmarshal(msg, &m); err != nil {
		return crdt.Received{}, errors.New("fake: bad sync message")
	}
	p.mu.Lock()
	if p.got == nil {
		p.got = map[string]int{}
	}
	p.got[doc]++
	st := p.state(doc)
	st.known = true
	st.inFlight = false
	for _, c := range m.Have {
		st.theirHave[c] = true
	}
	for _, c := range m.Changes {
		st.theirHave[c] = true
	}
	p.mu.Unlock()
	return p.f.apply(doc, m.Changes, p.device), nil
}

func (p *fakePeer) Assume(_ context.Context, doc string, heads []string) error {
	p.f.mu.Lock()
	mine := sortedKeys(p.f.docs[doc])
	p.f.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	// Like Automerge after loading a state with shared heads: it knows
	// what the peer has, and still answers the peer's first message.
	st := p.state(doc)
	st.known = true
	for _, c := range mine {
		st.theirHave[c] = true
	}
	return nil
}

func (p *fakePeer) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.docs)
}

// received returns how many sync messages for doc the peer got from device.
func (f *fakeSpace) received(device, doc string) int {
	p := f.syncPeer(device).(*fakePeer)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.got[doc]
}
