package journal_test

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/keys"
	"github.com/trustsync/trustsync/internal/testpair"
	"github.com/trustsync/trustsync/journal"
	"github.com/trustsync/trustsync/store"
	tsync "github.com/trustsync/trustsync/sync"
)

// tap records every byte the sync protocol writes and reads on its
// streams, in the clear: it sits between the sync session and the libp2p
// stream, above the Noise encryption of the connection.
type tap struct {
	mu      stdsync.Mutex
	streams []*tapStream
}

func (t *tap) wrap(s network.Stream) network.Stream {
	ts := &tapStream{Stream: s}
	t.mu.Lock()
	t.streams = append(t.streams, ts)
	t.mu.Unlock()
	return ts
}

// sent returns, per stream, the bytes this side wrote.
func (t *tap) sent() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out [][]byte
	for _, s := range t.streams {
		s.mu.Lock()
		out = append(out, bytes.Clone(s.out))
		s.mu.Unlock()
	}
	return out
}

type tapStream struct {
	network.Stream
	mu  stdsync.Mutex
	out []byte
}

func (s *tapStream) Write(b []byte) (int, error) {
	n, err := s.Stream.Write(b)
	s.mu.Lock()
	s.out = append(s.out, b[:n]...)
	s.mu.Unlock()
	return n, err
}

// tapHost hands the sync node tapped streams, both those it opens and
// those it accepts.
type tapHost struct {
	host.Host
	tap *tap
}

func (h *tapHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil {
		return nil, err
	}
	return h.tap.wrap(s), nil
}

func (h *tapHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, func(s network.Stream) { handler(h.tap.wrap(s)) })
}

// wireText returns what a stream carried, readable: the raw bytes followed
// by the inflated payload of every SNAPSHOT and SYNC frame (see sync's
// package doc for the framing).
func wireText(raw []byte) []byte {
	out := bytes.Clone(raw)
	r := bytes.NewReader(raw)
	for {
		n, err := binary.ReadUvarint(r)
		if err != nil || n == 0 || n > uint64(r.Len()) {
			return out
		}
		body := make([]byte, n)
		io.ReadFull(r, body)
		typ, body := body[0], body[1:]
		if typ != 2 && typ != 3 { // SNAPSHOT, SYNC
			continue
		}
		br := bytes.NewReader(body)
		dl, err := binary.ReadUvarint(br)
		if err != nil || dl > uint64(br.Len()) {
			continue
		}
		br.Seek(int64(dl), io.SeekCurrent)
		codec, err := br.ReadByte()
		if err != nil {
			continue
		}
		payload, _ := io.ReadAll(br)
		if codec == 1 {
			payload, _ = io.ReadAll(flate.NewReader(bytes.NewReader(payload)))
		}
		out = append(out, payload...)
	}
}

// partner is one device in its own home on disk.
type partner struct {
	name    string
	home    string
	st      trustsync.Store
	space   *crdt.Space
	journal *journal.Journal
	id      peer.ID
	host    host.Host
	node    *tsync.Node
	tap     *tap
}

func newPartner(t *testing.T, name string, encrypted bool) *partner {
	t.Helper()
	ctx := context.Background()
	p := &partner{name: name, home: filepath.Join(t.TempDir(), strings.ToLower(name)), tap: &tap{}}
	d, err := store.Open(p.home, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.st = d
	var journalKey []byte
	if encrypted {
		// What `trustsync init --encrypt` does: a header with the data key
		// sealed under the passphrase, and keys derived for each use.
		_, key, err := keys.Create(p.home, []byte(name+"'s passphrase"), keys.Params{Time: 1, MemoryKiB: 64, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		if p.st, err = store.Encrypt(ctx, d, keys.Derive(key, "trustsync home store")); err != nil {
			t.Fatal(err)
		}
		journalKey = keys.Derive(key, "trustsync journal")
	}
	t.Cleanup(func() { p.st.Close() })
	if p.space, err = crdt.Create(ctx, p.st, crdt.CreateOptions{MemberName: name, DeviceName: strings.ToLower(name) + "-laptop"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.space.Close() })
	if p.journal, err = journal.Open(ctx, filepath.Join(p.home, journal.Dir), journalKey, journal.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.journal.Close() })
	key, err := tsync.LoadOrCreateKey(ctx, p.st)
	if err != nil {
		t.Fatal(err)
	}
	if p.id, err = peer.IDFromPrivateKey(key); err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableRelay(), libp2p.Ping(false))
	if err != nil {
		t.Fatal(err)
	}
	p.host = &tapHost{Host: h, tap: p.tap}
	t.Cleanup(func() { h.Close() })
	return p
}

func (p *partner) online(t *testing.T) {
	t.Helper()
	n, err := tsync.New(tsync.Config{Space: p.space, Store: p.st, Host: p.host, NoMDNS: true,
		RedialMin: 50 * time.Millisecond, RedialMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.node = n
	t.Cleanup(func() { n.Close() })
}

// pairPartners pairs the two devices by hand, as a pairing leaves them
// (internal/testpair); their nodes then sync.
func pairPartners(t *testing.T, a, b *partner) {
	t.Helper()
	testpair.Spaces(t, a.space, b.space)
}

func canary(what string) string { return "CANARY-" + what + "-" + rand.Text() }

// filesWith lists the files under dir whose bytes contain s.
func filesWith(t *testing.T, dir, s string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(s)) {
			found = append(found, strings.TrimPrefix(path, dir))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestPrivacy_TwoSyncingDevices plants unique canary strings in both
// partners' journals (entries, self-care plan and log) and in what they
// share (a boundary, a check-in, and one journal entry shared on purpose),
// syncs two real nodes over libp2p on 127.0.0.1, and then checks:
//
//   - no journal canary is in any byte either node wrote on its sync
//     streams (read in the clear above Noise, compressed payloads
//     inflated), while every shared canary is: the search sees what
//     crosses;
//   - no journal canary is in any file of the partner's home, while the
//     shared ones arrived in the partner's space;
//   - with encryption at rest, no canary at all, journal or shared, is in
//     any file of either home (database, -wal, -shm, header), with the
//     stores open and after they are closed; without it, the shared
//     canaries are, which shows the file search works.
func TestPrivacy_TwoSyncingDevices(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		name := "plain"
		if encrypted {
			name = "encrypted"
		}
		t.Run(name, func(t *testing.T) { testPrivacy(t, encrypted) })
	}
}

func testPrivacy(t *testing.T, encrypted bool) {
	ctx := context.Background()
	alex, sam := newPartner(t, "Alex", encrypted), newPartner(t, "Sam", encrypted)
	pairPartners(t, alex, sam)

	private := map[*partner][]string{}
	shared := map[*partner][]string{}
	for _, p := range []*partner{alex, sam} {
		entry, care, practice := canary(p.name+"-entry"), canary(p.name+"-care"), canary(p.name+"-practice")
		private[p] = []string{entry, care, practice}
		if _, err := p.journal.Add(ctx, "I am angry today. "+entry, 2); err != nil {
			t.Fatal(err)
		}
		pr, err := p.journal.AddPractice(ctx, "Run by the river "+practice)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.journal.LogCare(ctx, "Ran, cried a bit "+care, pr.ID); err != nil {
			t.Fatal(err)
		}
		boundary, note, sharedEntry := canary(p.name+"-boundary"), canary(p.name+"-checkin"), canary(p.name+"-shared-entry")
		shared[p] = []string{boundary, note, sharedEntry}
		if _, err := p.space.AddBoundary(ctx, "We keep our phones open "+boundary); err != nil {
			t.Fatal(err)
		}
		if _, err := p.space.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Note: "Better week " + note}); err != nil {
			t.Fatal(err)
		}
		e, err := p.journal.Add(ctx, "I want you to know this: "+sharedEntry, 4)
		if err != nil {
			t.Fatal(err)
		}
		pv, err := p.journal.PreviewEntry(ctx, e.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.journal.Share(ctx, pv, p.space); err != nil {
			t.Fatal(err)
		}
		// The self-care summary names the practice; it is shared too.
		cv, err := p.journal.PreviewCare(ctx, time.Now().Add(-time.Hour), 3)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(cv.CheckIn.Note, care) {
			t.Fatalf("the self-care summary holds a log note: %q", cv.CheckIn.Note)
		}
	}

	alex.online(t)
	sam.online(t)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sam.node.Connect(cctx, alex.node.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	if err := alex.node.WaitSynced(cctx, sam.id); err != nil {
		t.Fatal(err)
	}
	if err := sam.node.WaitSynced(cctx, alex.id); err != nil {
		t.Fatal(err)
	}

	// What crossed the wire.
	for _, p := range []*partner{alex, sam} {
		var wire []byte
		total := 0
		for _, s := range p.tap.sent() {
			total += len(s)
			wire = append(wire, wireText(s)...)
		}
		t.Logf("%s's node sent %d bytes on its sync streams", p.name, total)
		if total == 0 {
			t.Fatalf("%s's node sent nothing: the tap is not on the sync streams", p.name)
		}
		for _, c := range private[p] {
			if bytes.Contains(wire, []byte(c)) {
				t.Errorf("journal canary %s crossed the wire from %s's node", c, p.name)
			}
		}
		for _, c := range shared[p] {
			if !bytes.Contains(wire, []byte(c)) {
				t.Errorf("shared canary %s is not in what %s's node sent: the wire search cannot see shared text", c, p.name)
			}
		}
	}

	// What the partner's device holds.
	for _, pp := range [][2]*partner{{alex, sam}, {sam, alex}} {
		p, other := pp[0], pp[1]
		cs, err := other.space.CheckIns(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var notes []string
		for _, c := range cs {
			notes = append(notes, c.Note)
		}
		all := strings.Join(notes, "\n")
		if !strings.Contains(all, shared[p][2]) {
			t.Errorf("%s's shared journal entry did not reach %s: %q", p.name, other.name, all)
		}
		for _, c := range private[p] {
			if strings.Contains(all, c) {
				t.Errorf("journal canary %s is in %s's shared space", c, other.name)
			}
		}
	}

	check := func(when string) {
		for _, pp := range [][2]*partner{{alex, sam}, {sam, alex}} {
			p, other := pp[0], pp[1]
			for _, c := range private[p] {
				if f := filesWith(t, other.home, c); len(f) > 0 {
					t.Errorf("%s: %s's journal canary %s is in %s's home: %v", when, p.name, c, other.name, f)
				}
			}
			for _, c := range append(private[p], shared[p]...) {
				for _, h := range []*partner{p, other} {
					f := filesWith(t, h.home, c)
					if encrypted && len(f) > 0 {
						t.Errorf("%s: canary %s is readable in %s's encrypted home: %v", when, c, h.name, f)
					}
				}
			}
			if !encrypted {
				for _, c := range shared[p] {
					if len(filesWith(t, other.home, c)) == 0 {
						t.Errorf("%s: shared canary %s is in no file of %s's plain home: the file search cannot see it", when, c, other.name)
					}
				}
			}
		}
	}
	check("while open")
	for _, p := range []*partner{alex, sam} {
		p.node.Close()
		p.journal.Close()
		p.space.Close()
		p.st.Close()
	}
	check("after closing")
}
