package sync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TestUnreachableError_Error dials real hosts on 127.0.0.1 the ways a
// device fails to reach another, and checks that each is told in words,
// with none of libp2p's chain, while errors.Is still sees the cause.
func TestUnreachableError_Error(t *testing.T) {
	newHost := func(t *testing.T) host.Host {
		t.Helper()
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	otherID := func(t *testing.T) peer.ID {
		t.Helper()
		k, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// closedPort is an address on 127.0.0.1 where nothing listens.
	closedPort := func(t *testing.T) ma.Multiaddr {
		t.Helper()
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))
	}
	tests := []struct {
		name   string
		target func(t *testing.T) peer.AddrInfo
		want   string
	}{
		{"nothing listens", func(t *testing.T) peer.AddrInfo {
			return peer.AddrInfo{ID: otherID(t), Addrs: []ma.Multiaddr{closedPort(t)}}
		}, "nothing is listening at its address (connection refused)"},
		{"another device answers", func(t *testing.T) peer.AddrInfo {
			return peer.AddrInfo{ID: otherID(t), Addrs: newHost(t).Addrs()}
		}, "another device answers at its address"},
		{"no address known", func(t *testing.T) peer.AddrInfo {
			return peer.AddrInfo{ID: otherID(t)}
		}, "no address is known for it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := h.Connect(ctx, tt.target(t))
			if err == nil {
				t.Fatal("Connect succeeded")
			}
			ue := &UnreachableError{Err: err}
			got := ue.Error()
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("Error() = %q, want it to start with %q (libp2p said %v)", got, tt.want, err)
			}
			for _, inside := range []string{"failed to dial", "all dials failed", "12D3Koo", "/ip4/"} {
				if strings.Contains(got, inside) {
					t.Errorf("Error() = %q, which shows libp2p's %q", got, inside)
				}
			}
			if !errors.Is(fmt.Errorf("pair: %w", ue), err) {
				t.Error("the wrapped error does not unwrap to libp2p's")
			}
		})
	}
	t.Run("no answer in time", func(t *testing.T) {
		err := &UnreachableError{Err: fmt.Errorf("failed to dial: %w", context.DeadlineExceeded)}
		if got, want := err.Error(), "it did not answer in time"; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
	})
}
