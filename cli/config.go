package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
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
	off, err := envOff(getenv, "TRUSTSYNC_MDNS", "discovery on the local network")
	if err != nil {
		return cfg, err
	}
	if off {
		cfg.MDNS = false
	}
	return cfg, nil
}

// envOff reads the on/off switch name of the environment, telling
// whether it is off: off, 0, false or no (any case) turn it off; unset,
// empty, on, 1, true or yes leave it on. Any other value is refused, so
// that a mistyped "off" never leaves a feature on unnoticed; what names
// the feature in the refusal.
func envOff(getenv func(string) string, name, what string) (bool, error) {
	switch v := strings.ToLower(strings.TrimSpace(getenv(name))); v {
	case "off", "0", "false", "no":
		return true, nil
	case "", "on", "1", "true", "yes":
		return false, nil
	default:
		return false, fmt.Errorf("%s=%q is neither off nor on: set it to off (or 0, false, no) to turn off %s, or unset it", name, v, what)
	}
}

// netSwitches are the environment's switches for reaching devices on
// other networks, applied to every command that goes online.
type netSwitches struct {
	NoRelay     bool     // TRUSTSYNC_RELAY=off
	NoHolePunch bool     // TRUSTSYNC_HOLEPUNCH=off
	NoAutoNAT   bool     // TRUSTSYNC_AUTONAT=off
	Relays      []string // TRUSTSYNC_RELAYS, comma-separated relay addresses
}

// readNetSwitches reads TRUSTSYNC_RELAY, TRUSTSYNC_HOLEPUNCH,
// TRUSTSYNC_AUTONAT and TRUSTSYNC_RELAYS, refusing a mistyped switch or a
// bad relay address in one line.
func readNetSwitches(getenv func(string) string) (netSwitches, error) {
	var sw netSwitches
	var err error
	for _, s := range []struct {
		name, what string
		off        *bool
	}{
		{"TRUSTSYNC_RELAY", "reaching devices through relays", &sw.NoRelay},
		{"TRUSTSYNC_HOLEPUNCH", "direct connections made through routers (hole punching)", &sw.NoHolePunch},
		{"TRUSTSYNC_AUTONAT", "asking other machines whether this device can be reached (AutoNAT)", &sw.NoAutoNAT},
	} {
		if *s.off, err = envOff(getenv, s.name, s.what); err != nil {
			return sw, err
		}
	}
	for _, a := range strings.Split(getenv("TRUSTSYNC_RELAYS"), ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if _, err := crdt.RelayAddr(a); err != nil {
			return sw, fmt.Errorf("TRUSTSYNC_RELAYS: %s", stripSentinel(err, trustsync.ErrInvalid))
		}
		sw.Relays = append(sw.Relays, a)
	}
	return sw, nil
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
