package relay

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	stdsync "sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	circuitproto "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"google.golang.org/protobuf/proto"
)

// The relay service of go-libp2p logs nothing a person running a relay
// can read. To say which device reserved and which reached which, the
// relay is handed a host whose hop handler is wrapped: the wrapper keeps
// the first message read from the stream (the request) and the first
// written to it (the answer), decodes both once the service answered, and
// watches the stream to say when the circuit closed. Those messages carry
// peer IDs, addresses and a status; what flows through a circuit
// afterwards is counted, never kept.

// loggingHost is the relay's host with its hop handler wrapped.
type loggingHost struct {
	host.Host
	log *eventLog
}

// SetStreamHandler wraps the circuit relay's hop handler.
func (h *loggingHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	if pid == circuitproto.ProtoIDv2Hop {
		handler = h.log.wrap(handler)
	}
	h.Host.SetStreamHandler(pid, handler)
}

// eventLog writes the relay's log lines.
type eventLog struct {
	logger *slog.Logger
	limit  relayv2Limit
}

// relayv2Limit is the circuit limit in force, to say when a circuit
// closed because it reached it.
type relayv2Limit struct {
	duration time.Duration
	data     int64
}

func (l *eventLog) wrap(handler network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		ws := &watchedStream{Stream: s, log: l}
		handler(ws)
		l.answered(ws)
	}
}

// answered logs what the service did with the request on ws.
func (l *eventLog) answered(ws *watchedStream) {
	var req, resp pbv2.HopMessage
	ws.mu.Lock()
	reqOK := decodeDelimited(ws.in, &req)
	respOK := decodeDelimited(ws.out, &resp)
	ws.mu.Unlock()
	from := shortID(ws.Conn().RemotePeer())
	if !reqOK {
		l.logger.Info("request refused", "peer", from, "reason", "malformed request")
		return
	}
	status := resp.GetStatus()
	if !respOK {
		status = pbv2.Status_CONNECTION_FAILED
	}
	switch req.GetType() {
	case pbv2.HopMessage_RESERVE:
		if status == pbv2.Status_OK {
			l.logger.Info("reservation made", "peer", from)
			return
		}
		l.logger.Info("reservation refused", "peer", from, "reason", statusWords(status))
	case pbv2.HopMessage_CONNECT:
		to := "?"
		if id, err := peer.IDFromBytes(req.GetPeer().GetId()); err == nil {
			to = shortID(id)
		}
		if status != pbv2.Status_OK {
			l.logger.Info("circuit refused", "from", from, "to", to, "reason", statusWords(status))
			return
		}
		l.logger.Info("circuit opened", "from", from, "to", to)
		ws.opened(to)
	default:
		l.logger.Info("request refused", "peer", from, "reason", "unknown request")
	}
}

// statusWords says why the relay answered a request with st.
func statusWords(st pbv2.Status) string {
	switch st {
	case pbv2.Status_OK:
		return "ok"
	case pbv2.Status_RESERVATION_REFUSED:
		return "over the reservation limits (per device, per IP address, per network operator, or in all)"
	case pbv2.Status_RESOURCE_LIMIT_EXCEEDED:
		return "over the relay's limits on circuits, connections or memory"
	case pbv2.Status_PERMISSION_DENIED:
		return "not allowed (asked through another relay, or the relay is stopping)"
	case pbv2.Status_NO_RESERVATION:
		return "the device asked for holds no reservation here"
	case pbv2.Status_CONNECTION_FAILED:
		return "the other device did not answer"
	case pbv2.Status_MALFORMED_MESSAGE, pbv2.Status_UNEXPECTED_MESSAGE:
		return "malformed request"
	}
	return fmt.Sprintf("status %d", st)
}

// maxKept bounds what a watchedStream keeps of each direction: one
// circuit relay message (the service reads at most 4 KiB).
const maxKept = 4096 + binary.MaxVarintLen64

// watchedStream keeps the first message each way on a hop stream, counts
// the bytes after them, and logs the circuit's end.
type watchedStream struct {
	network.Stream
	log *eventLog

	mu       stdsync.Mutex
	in, out  []byte // the first message read, the first written
	read     int64  // bytes read in all
	written  int64  // bytes written in all
	to       string // the device reached, once the circuit is open
	openedAt time.Time
	ended    bool // the circuit's end was logged, or the stream closed before it opened
}

func (s *watchedStream) Read(p []byte) (int, error) {
	n, err := s.Stream.Read(p)
	s.mu.Lock()
	s.in = keepFirst(s.in, p[:n])
	s.read += int64(n)
	s.mu.Unlock()
	return n, err
}

func (s *watchedStream) Write(p []byte) (int, error) {
	n, err := s.Stream.Write(p)
	s.mu.Lock()
	s.out = keepFirst(s.out, p[:n])
	s.written += int64(n)
	s.mu.Unlock()
	return n, err
}

func (s *watchedStream) Close() error {
	s.end()
	return s.Stream.Close()
}

func (s *watchedStream) Reset() error {
	s.end()
	return s.Stream.Reset()
}

// opened notes that the circuit to the device to is open. The relay may
// have closed it already (a circuit can end before its handler returns):
// then its end is logged now.
func (s *watchedStream) opened(to string) {
	s.mu.Lock()
	s.to, s.openedAt = to, time.Now()
	closedEarly := s.ended
	s.ended = false
	s.mu.Unlock()
	if closedEarly {
		s.end()
	}
}

// end logs the end of an open circuit, once.
func (s *watchedStream) end() {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	to, at, read, written := s.to, s.openedAt, s.read, s.written
	s.mu.Unlock()
	if to == "" {
		return // a request stream, not a circuit (or not one yet)
	}
	d := time.Since(at)
	args := []any{"from", shortID(s.Conn().RemotePeer()), "to", to,
		"after", d.Round(time.Second).String(), "bytes_from", read, "bytes_to", written}
	switch l := s.log.limit; {
	case l.data > 0 && (read >= l.data || written >= l.data):
		args = append(args, "reason", "data limit reached")
	case l.duration > 0 && d >= l.duration-time.Second:
		args = append(args, "reason", "time limit reached")
	}
	s.log.logger.Info("circuit closed", args...)
}

// keepFirst appends to kept from p until kept holds one whole
// length-prefixed message, or maxKept bytes.
func keepFirst(kept, p []byte) []byte {
	for len(p) > 0 && len(kept) < maxKept {
		if n, k := binary.Uvarint(kept); k > 0 && uint64(len(kept)-k) >= n {
			return kept // a whole message is kept
		}
		kept = append(kept, p[0])
		p = p[1:]
	}
	return kept
}

// decodeDelimited decodes the length-prefixed message at the start of b.
func decodeDelimited(b []byte, m *pbv2.HopMessage) bool {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return false
	}
	return proto.Unmarshal(b[k:k+int(n)], m) == nil
}
