package cli

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

func TestCheckMultiaddr(t *testing.T) {
	tests := []struct {
		addr    string
		wantErr string // "" for valid
	}{
		{"/ip4/0.0.0.0/tcp/0", ""},
		{"/ip4/127.0.0.1/tcp/4001", ""},
		{"/ip4/127.0.0.1/udp/0/quic-v1", ""},
		{"/ip6/::/tcp/0", ""},
		{"/ip6/::1/udp/4001/quic-v1", ""},
		{"ip4/127.0.0.1/tcp/0", "must start with /"},
		{"/ip4/127.0.0.1", "too short"},
		{"/ip4/1.2.3/tcp/0", "not an IPv4 address"},
		{"/ip4/::1/tcp/0", "not an IPv4 address"},
		{"/ip6/127.0.0.1/tcp/0", "not an IPv6 address"},
		{"/dns4/example.com/tcp/0", "expected /ip4 or /ip6"},
		{"/ip4/127.0.0.1/tcp/65536", "expected a number from 0 to 65535"},
		{"/ip4/127.0.0.1/tcp/-1", "expected a number"},
		{"/ip4/127.0.0.1/tcp/007", "expected a number"},
		{"/ip4/127.0.0.1/tcp/0/quic-v1", "after the TCP port"},
		{"/ip4/127.0.0.1/tcp/0/", "after the TCP port"},
		{"/ip4/127.0.0.1/udp/0", "without /quic-v1"},
		{"/ip4/127.0.0.1/udp/0/quic", "without /quic-v1"},
		{"/ip4/127.0.0.1/sctp/0", "expected /tcp or /udp"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := CheckMultiaddr(tt.addr)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckMultiaddr(%q) = %v, want nil", tt.addr, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckMultiaddr(%q) = %v, want an error containing %q", tt.addr, err, tt.wantErr)
			}
		})
	}
}

func TestApplyEnv(t *testing.T) {
	base := Config{Listen: []string{"/ip4/0.0.0.0/tcp/0"}, MDNS: true}
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{"nothing set", nil, base, ""},
		{"listen", map[string]string{"TRUSTSYNC_LISTEN": "/ip4/127.0.0.1/tcp/0, /ip4/127.0.0.1/udp/0/quic-v1"},
			Config{Listen: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}, MDNS: true}, ""},
		{"mdns off", map[string]string{"TRUSTSYNC_MDNS": "off"}, Config{Listen: base.Listen, MDNS: false}, ""},
		{"mdns OFF", map[string]string{"TRUSTSYNC_MDNS": "OFF"}, Config{Listen: base.Listen, MDNS: false}, ""},
		{"mdns on", map[string]string{"TRUSTSYNC_MDNS": "on"}, base, ""},
		{"mdns mistyped", map[string]string{"TRUSTSYNC_MDNS": "of"}, base, `TRUSTSYNC_MDNS="of" is neither off nor on`},
		{"mdns disabled", map[string]string{"TRUSTSYNC_MDNS": "disabled"}, base, "set it to off"},
		{"bad listen", map[string]string{"TRUSTSYNC_LISTEN": "/ip4/127.0.0.1/tcp/x"}, base, "TRUSTSYNC_LISTEN"},
		{"only commas", map[string]string{"TRUSTSYNC_LISTEN": " , "}, base, "no address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := applyEnv(base, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("applyEnv: error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Listen, tt.want.Listen) || got.MDNS != tt.want.MDNS {
				t.Fatalf("applyEnv = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// storedConfig reads the "config" key of a home's store.
func storedConfig(t *testing.T, home string) Config {
	t.Helper()
	st, err := store.Open(home, store.Options{})
	must(t, err)
	defer st.Close()
	var cfg Config
	must(t, st.View(context.Background(), func(tx trustsync.ReadTx) error {
		b, err := tx.Get(ConfigKey)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &cfg)
	}))
	return cfg
}

func TestInit_StoresConfig(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantListen []string
		wantMDNS   bool
	}{
		{"defaults", nil, nil, DefaultListen, true},
		{"flags", []string{"--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1", "--no-mdns"}, nil,
			[]string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}, false},
		{"environment", nil, map[string]string{"TRUSTSYNC_LISTEN": "/ip4/127.0.0.1/tcp/4567", "TRUSTSYNC_MDNS": "off"},
			[]string{"/ip4/127.0.0.1/tcp/4567"}, false},
		{"flags win over the environment", []string{"--listen", "/ip6/::1/tcp/0"}, map[string]string{"TRUSTSYNC_LISTEN": "/ip4/127.0.0.1/tcp/4567"},
			[]string{"/ip6/::1/tcp/0"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDevice(t)
			for k, v := range tt.env {
				d.env[k] = v
			}
			d.create(append([]string{"init", "--name", "Sam", "--device", "laptop"}, tt.args...)...)
			cfg := storedConfig(t, d.home)
			// A port 0 is kept as given: the system picks one when the
			// device first goes online.
			if !slices.Equal(cfg.Listen, tt.wantListen) || cfg.MDNS != tt.wantMDNS {
				t.Fatalf("stored config %+v, want listen %v mdns %v", cfg, tt.wantListen, tt.wantMDNS)
			}
		})
	}
}
