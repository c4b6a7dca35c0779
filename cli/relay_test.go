package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/home"
	tsync "github.com/trustsync/trustsync/sync"
)

// TestReadNetSwitches: the relay, hole punching and AutoNAT switches take
// the words TRUSTSYNC_MDNS takes and refuse anything else in one line
// naming the variable; TRUSTSYNC_RELAYS takes relay addresses only.
func TestReadNetSwitches(t *testing.T) {
	const relayA = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X"
	const relayB = "/dns4/relay.example.org/udp/4001/quic-v1/p2p/12D3KooWNEDrXh9r8GbRJEHWyS9hGqKiGDK5AYHaBVWVJWcDi5xY"
	tests := []struct {
		name    string
		env     map[string]string
		want    netSwitches
		wantErr string
	}{
		{"nothing set", nil, netSwitches{}, ""},
		{"all off", map[string]string{"TRUSTSYNC_RELAY": "off", "TRUSTSYNC_HOLEPUNCH": "0", "TRUSTSYNC_AUTONAT": "No"},
			netSwitches{NoRelay: true, NoHolePunch: true, NoAutoNAT: true}, ""},
		{"all on", map[string]string{"TRUSTSYNC_RELAY": "on", "TRUSTSYNC_HOLEPUNCH": "true", "TRUSTSYNC_AUTONAT": " yes "},
			netSwitches{}, ""},
		{"relay mistyped", map[string]string{"TRUSTSYNC_RELAY": "of"}, netSwitches{},
			`TRUSTSYNC_RELAY="of" is neither off nor on: set it to off (or 0, false, no) to turn off reaching devices through relays, or unset it`},
		{"holepunch disabled", map[string]string{"TRUSTSYNC_HOLEPUNCH": "disabled"}, netSwitches{}, `TRUSTSYNC_HOLEPUNCH="disabled" is neither off nor on`},
		{"autonat mistyped", map[string]string{"TRUSTSYNC_AUTONAT": "0ff"}, netSwitches{}, `TRUSTSYNC_AUTONAT="0ff" is neither off nor on`},
		{"relays", map[string]string{"TRUSTSYNC_RELAYS": " " + relayA + " ,," + relayB}, netSwitches{Relays: []string{relayA, relayB}}, ""},
		{"relay without peer ID", map[string]string{"TRUSTSYNC_RELAYS": relayA + ",/ip4/203.0.113.9/tcp/4001"}, netSwitches{},
			`TRUSTSYNC_RELAYS: relay address "/ip4/203.0.113.9/tcp/4001" does not end with /p2p/<the relay's peer ID>`},
		{"circuit address", map[string]string{"TRUSTSYNC_RELAYS": relayA + "/p2p-circuit"}, netSwitches{}, "goes through another relay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readNetSwitches(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("readNetSwitches: error %v, want one line containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.NoRelay != tt.want.NoRelay || got.NoHolePunch != tt.want.NoHolePunch || got.NoAutoNAT != tt.want.NoAutoNAT ||
				!slices.Equal(got.Relays, tt.want.Relays) {
				t.Fatalf("readNetSwitches = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestDefaultRelayDir: the relay's key is kept apart from any home.
func TestDefaultRelayDir(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_DATA_HOME": "/data", "HOME": "/home/a", "TRUSTSYNC_HOME": "/h"}, "/data/trustsync-relay"},
		{map[string]string{"XDG_DATA_HOME": "relative", "HOME": "/home/a"}, "/home/a/.local/share/trustsync-relay"},
		{map[string]string{"HOME": "/home/a"}, "/home/a/.local/share/trustsync-relay"},
	} {
		got, err := DefaultRelayDir(func(k string) string { return tc.env[k] })
		if err != nil || got != tc.want {
			t.Errorf("DefaultRelayDir(%v) = %q, %v; want %q", tc.env, got, err, tc.want)
		}
	}
	if _, err := DefaultRelayDir(func(string) string { return "" }); err == nil {
		t.Error("DefaultRelayDir without HOME: no error")
	}
}

// TestServe_LogsPathOnce: serve says once that a device is reached through
// a relay, again when hole punching then reaches it directly, and nothing
// for a direct connection; the path of the last sync is recorded.
func TestServe_LogsPathOnce(t *testing.T) {
	d := initDevice(t, "Alex", "phone")
	d.withStore(func(ctx context.Context, st trustsync.Store, _ *crdt.Space) {
		sam := tsync.Remote{DeviceID: "dev1", DeviceName: "sam-laptop", MemberName: "Sam", MemberID: "m1"}
		events := make(chan tsync.Event, 64)
		path := func(p tsync.Path) {
			events <- tsync.Event{Type: tsync.PathChanged, Peer: "p1", Remote: sam, Path: p}
		}
		events <- tsync.Event{Type: tsync.PeerOnline, Peer: "p1", Remote: sam}
		path(tsync.PathRelayed)
		path(tsync.PathRelayed)
		events <- tsync.Event{Type: tsync.Synced, Peer: "p1", Remote: sam}
		path(tsync.PathHolePunched)
		path(tsync.PathUnreachable)
		path(tsync.PathDirect)
		close(events)
		var out bytes.Buffer
		recorded := map[string]tsync.Path{}
		record := func(_ context.Context, id string, _ time.Time, p tsync.Path) error {
			recorded[id] = p
			return nil
		}
		rec := newSyncRecorder(st, record, func() time.Time { return t0 })
		logEvents(ctx, &out, events, rec)
		want := strings.Join([]string{
			"connected to Sam (sam-laptop)",
			"reaching Sam (sam-laptop) through a relay: the sync stays end-to-end encrypted, the relay sees only that your devices talk",
			"in sync with Sam (sam-laptop)",
			"reaching Sam (sam-laptop) directly through both routers (hole punched), not through the relay",
		}, "\n") + "\n"
		if out.String() != want {
			t.Errorf("serve logged:\n%s\nwant:\n%s", out.String(), want)
		}
		if recorded["dev1"] != tsync.PathRelayed {
			t.Errorf("recorded path %v, want relayed (the path of the sync)", recorded["dev1"])
		}
		must(t, rec.flush(ctx))
		if recorded["dev1"] != tsync.PathDirect {
			t.Errorf("after flush, recorded path %v, want direct (the latest)", recorded["dev1"])
		}
	})
}

// TestReachedWords: status names the relay when the couple records one.
func TestReachedWords(t *testing.T) {
	one := []string{"/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X"}
	for _, tc := range []struct {
		p      tsync.Path
		relays []string
		want   string
	}{
		{tsync.PathDirect, one, "directly"},
		{tsync.PathHolePunched, nil, "directly, through both routers (hole punched)"},
		{tsync.PathRelayed, one, "through the relay 203.0.113.7 port 4001"},
		{tsync.PathRelayed, append(one, one[0]), "through one of your relays"},
		{tsync.PathRelayed, nil, "through a relay"},
		{tsync.PathUnreachable, nil, "not known (synced before this was recorded)"},
	} {
		if got := reachedWords(tc.p, tc.relays); got != tc.want {
			t.Errorf("reachedWords(%v, %d relays) = %q, want %q", tc.p, len(tc.relays), got, tc.want)
		}
	}
}

// TestStatus_ReachedThroughRelay: status says, for each paired device, how
// it was reached at the last sync, naming the couple's one relay; --json
// gives last_path.
func TestStatus_ReachedThroughRelay(t *testing.T) {
	alex, sam := initDevice(t, "Alex", "alex-phone"), initDevice(t, "Sam", "sam-laptop")
	pair(t, alex, sam)
	const relayAddr = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X"
	alex.ok("relay", "use", relayAddr)
	out := alex.ok("status")
	if !strings.Contains(out, "How each device was reached at its last sync:\n  sam-laptop (Sam): not reached yet\n") {
		t.Fatalf("status before any sync:\n%s", out)
	}
	var samID string
	sam.withSpace(func(_ context.Context, sp *crdt.Space) { samID = sp.Self().DeviceID })
	alex.withHome(func(ctx context.Context, h *home.Home) {
		must(t, h.RecordSync(ctx, samID, t0, tsync.PathRelayed))
	})
	out = alex.ok("status")
	if !strings.Contains(out, "  sam-laptop (Sam): through the relay 203.0.113.7 port 4001\n") {
		t.Fatalf("status after a relayed sync:\n%s", out)
	}
	js := alex.ok("status", "--json")
	if !strings.Contains(js, `"last_path": "relayed"`) {
		t.Fatalf("status --json has no last_path:\n%s", js)
	}
	alex.withHome(func(ctx context.Context, h *home.Home) {
		must(t, h.RecordSync(ctx, samID, t0, tsync.PathHolePunched))
	})
	if out := alex.ok("status"); !strings.Contains(out, "  sam-laptop (Sam): directly, through both routers (hole punched)\n") {
		t.Fatalf("status after a hole punched sync:\n%s", out)
	}
}

// TestStartNode_NetSwitches: the environment's relay, hole punching and
// AutoNAT switches and TRUSTSYNC_RELAYS reach the node's configuration.
func TestStartNode_NetSwitches(t *testing.T) {
	d := initDevice(t, "Sam", "laptop")
	// On loopback: the node may dial it, and tests reach nothing else.
	const relayAddr = "/ip4/127.0.0.1/tcp/9/p2p/12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X"
	for _, tc := range []struct {
		env  map[string]string
		want func(c tsync.Config) bool
	}{
		{map[string]string{}, func(c tsync.Config) bool { return !c.NoRelay && !c.NoHolePunch && !c.NoAutoNAT && len(c.Relays) == 0 }},
		{map[string]string{"TRUSTSYNC_RELAY": "off", "TRUSTSYNC_HOLEPUNCH": "off", "TRUSTSYNC_AUTONAT": "off"},
			func(c tsync.Config) bool { return c.NoRelay && c.NoHolePunch && c.NoAutoNAT }},
		{map[string]string{"TRUSTSYNC_RELAYS": relayAddr},
			func(c tsync.Config) bool {
				return len(c.Relays) == 1 && c.Relays[0].ID.String() == "12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X"
			}},
	} {
		f, _, _ := testFactory(d)
		f.HomeFlag = d.home
		f.Getenv = func(k string) string { return tc.env[k] }
		var got tsync.Config
		n, err := f.StartNode(context.Background(), NodeOptions{Configure: func(c *tsync.Config) { got = *c }})
		if err != nil {
			f.Close()
			t.Fatal(err)
		}
		n.Close()
		f.Close()
		if !tc.want(got) {
			t.Errorf("with %v the node got NoRelay=%v NoHolePunch=%v NoAutoNAT=%v Relays=%v", tc.env, got.NoRelay, got.NoHolePunch, got.NoAutoNAT, got.Relays)
		}
	}
}

// The line for both partners gives the relay's public QUIC address: over
// QUIC devices can punch through their routers, over TCP they stay relayed.
func TestRelay_UseLineGivesPublicQUIC(t *testing.T) {
	const id = "/p2p/12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X"
	parse := func(ss ...string) []ma.Multiaddr {
		var out []ma.Multiaddr
		for _, s := range ss {
			out = append(out, ma.StringCast(s+id))
		}
		return out
	}
	for _, tc := range []struct {
		addrs []string
		want  string
	}{
		{[]string{"/ip4/127.0.0.1/tcp/4001", "/ip4/203.0.113.7/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1", "/ip4/11.1.0.2/udp/4001/quic-v1"}, "/ip4/11.1.0.2/udp/4001/quic-v1"},
		{[]string{"/ip4/11.1.0.2/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"}, "/ip4/11.1.0.2/tcp/4001"},
		{[]string{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"}, "/ip4/127.0.0.1/udp/4001/quic-v1"},
		{[]string{"/ip4/127.0.0.1/tcp/4001"}, "/ip4/127.0.0.1/tcp/4001"},
	} {
		var b strings.Builder
		writeRelayAddrs(&b, parse(tc.addrs...), "/relaydir")
		if want := "\n  trustsync relay use " + tc.want + id + "\n"; !strings.Contains(b.String(), want) {
			t.Errorf("for %v it printed\n%s\nwant the line %q", tc.addrs, b.String(), want)
		}
	}
}
