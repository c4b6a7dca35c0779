package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/trustsync/trustsync/home"
)

// ConfigKey is the store metadata key under which a device keeps its
// [Config] as JSON.
const ConfigKey = home.ConfigKey

// ChunkKeyFile is the file of a home without encryption that holds its
// chunk key (see [home.ChunkKeyFile]).
const ChunkKeyFile = home.ChunkKeyFile

// DefaultListen are the addresses a device listens on when init is given
// none (see [home.DefaultListen]).
var DefaultListen = home.DefaultListen

// Config is the networking configuration of one device, chosen at init and
// kept in the store (see [home.Config]).
type Config = home.Config

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
	switch v := strings.ToLower(strings.TrimSpace(getenv("TRUSTSYNC_MDNS"))); v {
	case "off", "0", "false", "no":
		cfg.MDNS = false
	case "", "on", "1", "true", "yes":
	default:
		// A mistyped "off" must not leave discovery on unnoticed.
		return cfg, fmt.Errorf("TRUSTSYNC_MDNS=%q is neither off nor on: set it to off (or 0, false, no) to turn off discovery on the local network, or unset it", v)
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

// CheckMultiaddr checks the syntax of a listen address (see
// [home.CheckListenAddr]).
func CheckMultiaddr(s string) error { return home.CheckListenAddr(s) }
