package sync

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// The messages of the pairing protocol, as JSON. pairHelloMsg and
// pairAcceptMsg travel followed by their 32-byte MAC.
type pairHelloMsg struct {
	Version int    `json:"v"`
	SpaceID string `json:"space"`
	Expires int64  `json:"expires"`
	Commit  []byte `json:"commit"`
}

type pairAcceptMsg struct {
	Commit []byte `json:"commit"`
}

type pairRevealMsg struct {
	Nonce []byte `json:"nonce"`
}

type pairDevice struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	MemberID   string `json:"member_id"`
	MemberName string `json:"member_name"`
}

type pairMember struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type pairOfferMsg struct {
	Nonce   []byte       `json:"nonce"`
	Device  pairDevice   `json:"device"`
	Members []pairMember `json:"members"`
	// Purpose is what the invite is for ("partner", "own-device"). An
	// inviting device that says it also waits for both confirmations
	// before any space document crosses (pairJoinMsg.Staged). Devices
	// before it do not say.
	Purpose string `json:"purpose,omitempty"`
}

// pairSpaceMsg carries the joining device's space document once both
// people confirmed the code.
type pairSpaceMsg struct {
	Space []byte `json:"space"`
}

type pairDoneMsg struct {
	Space []byte `json:"space"`
}

type pairJoinMsg struct {
	// Device names the member the device joins as.
	Device pairDevice `json:"device"`
	// From is the member the device was created as, when it joins as
	// another (a further device of a person): its records still name
	// From, and the inviting device hands it over ([crdt.Space.Admit]).
	From  string `json:"from,omitempty"`
	Space []byte `json:"space"`
	// Ack: the joining device says when it has stored the pairing
	// (pairStored), or why not (pairRefuse). Devices before it do not.
	Ack bool `json:"ack,omitempty"`
	// Staged: Space is empty; the joining device sends it in a pairSpace
	// frame once the inviting device's person (pairYes) and its own
	// confirmed the code.
	Staged bool `json:"staged,omitempty"`
}

type pairRefuseMsg struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// pairConn carries one pairing exchange.
type pairConn struct {
	st   io.ReadWriteCloser
	r    *bufio.Reader
	t    transcript
	seen func(typ byte, body []byte) // tests
}

func newPairConn(st io.ReadWriteCloser, inviter, joiner peer.ID) *pairConn {
	pc := &pairConn{st: st, r: bufio.NewReader(st)}
	pc.t.add("peers", append(appendBytes(nil, []byte(inviter)), appendBytes(nil, []byte(joiner))...))
	return pc
}

// extend moves the stream's deadline to d from now, when the stream has
// deadlines: the confirmation waits for people.
func (pc *pairConn) extend(d time.Duration) {
	if sd, ok := pc.st.(interface{ SetDeadline(time.Time) error }); ok {
		_ = sd.SetDeadline(time.Now().Add(d))
	}
}

func (pc *pairConn) send(typ byte, body []byte) error {
	_, err := pc.st.Write(encodeFrame(typ, body))
	return err
}

func (pc *pairConn) sendJSON(typ byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return pc.send(typ, b)
}

// refuse tells the other side why, keeping err's sentinel, and gives the
// refusal a moment to arrive before the caller closes the stream.
func (pc *pairConn) refuse(err error) {
	_ = pc.sendJSON(pairRefuse, pairRefuseMsg{Code: refusalCode(err), Reason: truncate(err.Error(), 400)})
	if cw, ok := pc.st.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	if rd, ok := pc.st.(interface{ SetReadDeadline(time.Time) error }); ok {
		_ = rd.SetReadDeadline(time.Now().Add(2 * time.Second))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(pc.r, 1<<16))
}

// recv reads the next frame, which must be of type want; a refusal
// becomes an error wrapping its sentinel.
func (pc *pairConn) recv(want byte) ([]byte, error) {
	f, err := readFrame(pc.r, DefaultMaxFrame)
	if err != nil {
		return nil, err
	}
	if pc.seen != nil {
		pc.seen(f.typ, f.body)
	}
	if f.typ == pairRefuse {
		var m pairRefuseMsg
		if json.Unmarshal(f.body, &m) != nil {
			return nil, fmt.Errorf("%w: the other device refused", ErrPairRefused)
		}
		base, ok := refusalCodes[m.Code]
		if !ok {
			base = ErrPairRefused
		}
		reason := strings.TrimPrefix(truncate(m.Reason, 400), base.Error())
		reason = strings.TrimLeft(reason, ": ")
		if reason == "" {
			return nil, fmt.Errorf("the other device says: %w", base)
		}
		return nil, fmt.Errorf("the other device says: %w: %s", base, reason)
	}
	if f.typ != want {
		return nil, fmt.Errorf("%w: pairing message %d where %d was due", ErrMalformed, f.typ, want)
	}
	return f.body, nil
}

func (pc *pairConn) recvJSON(want byte, v any) error {
	b, err := pc.recv(want)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: pairing message %d: %v", ErrMalformed, want, err)
	}
	return nil
}

// splitMAC splits a message body from the MAC that follows it.
func splitMAC(b []byte) ([]byte, []byte, error) {
	if len(b) < 32 {
		return nil, nil, fmt.Errorf("%w: pairing message without its MAC", ErrMalformed)
	}
	return b[:len(b)-32], b[len(b)-32:], nil
}

// Frame types of the pairing protocol (a protocol of its own: these
// numbers do not mix with the sync frames).
const (
	pairHello  byte = 1  // joiner: space, expiry, commitment; then its MAC
	pairAccept byte = 2  // inviter: commitment; then its MAC
	pairReveal byte = 3  // joiner: its nonce
	pairOffer  byte = 4  // inviter: its nonce, its device, the members
	pairJoin   byte = 5  // joiner: its device as it joins, its space document
	pairDone   byte = 6  // inviter: paired; its space document
	pairRefuse byte = 7  // either: a code and a reason; the sender closes next
	pairStored byte = 8  // joiner: it stored the pairing too (when its join asked to say so)
	pairCheck  byte = 9  // inviter: the joining device's identity fits the invite; its person is asked now
	pairYes    byte = 10 // inviter: its person confirmed the code
	pairSpace  byte = 11 // joiner: its person confirmed too; its space document
)
