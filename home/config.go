package home

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

// DefaultListen are the addresses a device listens on when it was created
// without any: TCP and QUIC on every interface, each on a port the system
// picks when the device first listens, kept after that.
var DefaultListen = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}

// Config is the network configuration of one device, kept in its store.
type Config struct {
	// Listen are the libp2p multiaddrs the device listens on.
	Listen []string `json:"listen"`
	// MDNS enables discovery of the partner's devices on the local network.
	MDNS bool `json:"mdns"`
}

// Config returns the stored configuration. A space made without one (by an
// application using the library packages directly) gets [DefaultListen]
// with mDNS on; a stored configuration without listen addresses gets
// [DefaultListen].
func (h *Home) Config(ctx context.Context) (Config, error) {
	cfg := Config{Listen: append([]string(nil), DefaultListen...), MDNS: true}
	err := h.st.View(ctx, func(tx trustsync.ReadTx) error {
		b, err := tx.Get(ConfigKey)
		if errors.Is(err, trustsync.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			why := "it is not JSON"
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				why = fmt.Sprintf("its field %q holds a %s", typeErr.Field, typeErr.Value)
			}
			return &trustsync.DamagedError{
				What: "the device configuration",
				Why:  why,
				Hint: "run 'trustsync init' in a new home and sync it with your partner",
			}
		}
		return nil
	})
	if err != nil {
		return Config{}, fmt.Errorf("read the device configuration: %w", err)
	}
	if len(cfg.Listen) == 0 {
		// No addresses stored: the default ones, with their ports kept
		// once picked, rather than the sync package's own default, which
		// would pick new ports on every start.
		cfg.Listen = append([]string(nil), DefaultListen...)
	}
	return cfg, nil
}

// SetConfig stores cfg, after checking each listen address with
// [CheckListenAddr].
func (h *Home) SetConfig(ctx context.Context, cfg Config) error {
	for _, a := range cfg.Listen {
		if err := CheckListenAddr(a); err != nil {
			return fmt.Errorf("save the device configuration: %w", err)
		}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("save the device configuration: %w", err)
	}
	return h.st.Update(ctx, func(tx trustsync.Tx) error { return tx.Put(ConfigKey, b) })
}

// CheckListenAddr checks the syntax of a listen address of one of the
// forms a device can use, without asking libp2p:
//
//	/ip4/ADDR/tcp/PORT
//	/ip6/ADDR/tcp/PORT
//	/ip4/ADDR/udp/PORT/quic-v1
//	/ip6/ADDR/udp/PORT/quic-v1
//
// PORT 0 means a port the system picks when the device first listens.
func CheckListenAddr(s string) error {
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

// hostPort splits a listen address checked by CheckListenAddr into its
// network ("tcp" or "udp"), host and port.
func hostPort(a string) (network, host string, port int) {
	p := strings.Split(a[1:], "/")
	port, _ = strconv.Atoi(p[3])
	return p[2], p[1], port
}
