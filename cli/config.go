package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/trustsync/trustsync"
)

// ConfigKey is the store metadata key under which a device keeps its
// [Config] as JSON.
const ConfigKey = "config"

// DefaultListen are the addresses a device listens on when init is given
// none: TCP and QUIC on every interface, each on a port picked when the
// device first listens and kept after that.
var DefaultListen = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}

// Config is the networking configuration of one device, chosen at init and
// kept in the store. Local commands only read it; the sync commands use it.
type Config struct {
	// Listen are the libp2p multiaddrs the device listens on.
	Listen []string `json:"listen"`
	// MDNS enables discovery of the partner's devices on the local network.
	MDNS bool `json:"mdns"`
}

// loadConfig reads the stored configuration. A space created without one
// (by another program using the library) gets the defaults.
func loadConfig(ctx context.Context, st trustsync.Store) (Config, error) {
	cfg := Config{Listen: append([]string(nil), DefaultListen...), MDNS: true}
	err := st.View(ctx, func(tx trustsync.ReadTx) error {
		b, err := tx.Get(ConfigKey)
		if errors.Is(err, trustsync.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			return &trustsync.DamagedError{
				What: "the device configuration",
				Why:  err.Error(),
				Hint: "run 'trustsync init' in a new home and sync it with your partner",
			}
		}
		return nil
	})
	return cfg, err
}

// saveConfig stores cfg.
func saveConfig(ctx context.Context, st trustsync.Store, cfg Config) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return st.Update(ctx, func(tx trustsync.Tx) error { return tx.Put(ConfigKey, b) })
}

// applyEnv returns cfg with the overrides of the environment applied:
// TRUSTSYNC_LISTEN (comma-separated multiaddrs) and TRUSTSYNC_MDNS=off.
func applyEnv(cfg Config, getenv func(string) string) (Config, error) {
	if v := strings.TrimSpace(getenv("TRUSTSYNC_LISTEN")); v != "" {
		addrs, err := parseListenList(v)
		if err != nil {
			return cfg, fmt.Errorf("TRUSTSYNC_LISTEN: %w", err)
		}
		cfg.Listen = addrs
	}
	switch strings.ToLower(strings.TrimSpace(getenv("TRUSTSYNC_MDNS"))) {
	case "off", "0", "false", "no":
		cfg.MDNS = false
	}
	return cfg, nil
}

func parseListenList(v string) ([]string, error) {
	var addrs []string
	for _, a := range strings.Split(v, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if err := CheckMultiaddr(a); err != nil {
			return nil, err
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return nil, errors.New("no address given")
	}
	return addrs, nil
}

// CheckMultiaddr checks the syntax of a listen address of one of the forms
// this device can use, without asking libp2p:
//
//	/ip4/ADDR/tcp/PORT
//	/ip6/ADDR/tcp/PORT
//	/ip4/ADDR/udp/PORT/quic-v1
//	/ip6/ADDR/udp/PORT/quic-v1
//
// PORT 0 means pick a free port when the device first listens.
func CheckMultiaddr(s string) error {
	bad := func(why string) error { return fmt.Errorf("listen address %q %s", s, why) }
	if !strings.HasPrefix(s, "/") {
		return bad("must start with /, as in /ip4/127.0.0.1/tcp/0")
	}
	parts := strings.Split(s[1:], "/")
	if len(parts) < 4 {
		return bad("is too short: expected /ip4|ip6/ADDR/tcp|udp/PORT")
	}
	ip := net.ParseIP(parts[1])
	switch parts[0] {
	case "ip4":
		if ip == nil || ip.To4() == nil || strings.Contains(parts[1], ":") {
			return bad(fmt.Sprintf("has %q, which is not an IPv4 address", parts[1]))
		}
	case "ip6":
		if ip == nil || !strings.Contains(parts[1], ":") {
			return bad(fmt.Sprintf("has %q, which is not an IPv6 address", parts[1]))
		}
	default:
		return bad(fmt.Sprintf("starts with /%s: expected /ip4 or /ip6", parts[0]))
	}
	port, err := strconv.ParseUint(parts[3], 10, 16)
	if err != nil || parts[3] != strconv.FormatUint(port, 10) {
		return bad(fmt.Sprintf("has port %q: expected a number from 0 to 65535", parts[3]))
	}
	rest := parts[4:]
	switch parts[2] {
	case "tcp":
		if len(rest) != 0 {
			return bad("has something after the TCP port")
		}
	case "udp":
		if len(rest) != 1 || rest[0] != "quic-v1" {
			return bad("uses UDP without /quic-v1 at the end")
		}
	default:
		return bad(fmt.Sprintf("uses /%s: expected /tcp or /udp", parts[2]))
	}
	return nil
}
