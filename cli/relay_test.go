package cli

import (
	"slices"
	"strings"
	"testing"
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
