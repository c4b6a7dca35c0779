package crdt

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// testRelay returns the address of a made-up relay at 203.0.113.n.
func testRelay(t testing.TB, n int) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("/ip4/203.0.113.%d/tcp/4001/p2p/%s", n, PeerIDOf(pub))
}

func TestRelayAddr(t *testing.T) {
	good := testRelay(t, 1)
	id := good[strings.LastIndex(good, "/")+1:]
	for _, tc := range []struct {
		in, want, problem string
	}{
		{good, good, ""},
		{"  " + good + "\n", good, ""},
		{"/dns4/relay.example.org/udp/4001/quic-v1/p2p/" + id, "/dns4/relay.example.org/udp/4001/quic-v1/p2p/" + id, ""},
		{"/ipfs/" + id, "", "needs a network address"},
		{"", "", "is empty"},
		{"relay.example.org:4001", "", "is not a multiaddr"},
		{"/ip4/203.0.113.1/tcp/4001", "", "does not end with /p2p/"},
		{"/p2p/" + id + "/ip4/203.0.113.1/tcp/4001", "", "does not start with /ip4"},
		{good + "/p2p-circuit/p2p/" + id, "", "another relay"},
		{"/ip4/203.0.113.1/tcp/4001/p2p/" + id + "/p2p/" + id, "", "has /p2p/ before its end"},
		{"/ip4/203.0.113.1/tcp/4001/p2p/notapeerid", "", "is not a multiaddr"},
		{"/dns4/" + strings.Repeat("a", MaxRelayAddrLen) + "/tcp/1/p2p/" + id, "", "more than the 512 allowed"},
	} {
		got, err := RelayAddr(tc.in)
		if tc.problem == "" {
			if err != nil || got != tc.want {
				t.Errorf("RelayAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		if !errors.Is(err, trustsync.ErrInvalid) || !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("RelayAddr(%q) = %q, %v; want ErrInvalid saying %q", tc.in, got, err, tc.problem)
		}
		if err != nil && (strings.Contains(err.Error(), "\n") || len(err.Error()) > 300) {
			t.Errorf("RelayAddr(%q): the error is not one short line: %q", tc.in, err)
		}
	}
}

// Relays added on one device reach the other in order; either partner
// forgets one; adding twice changes nothing; errors say what is wrong.
func TestSpace_Relays(t *testing.T) {
	ctx := context.Background()
	alex, sam := rulesPair(t)
	if got := must[[]string](t)(alex.Relays(ctx)); len(got) != 0 {
		t.Fatalf("a new space uses relays %v", got)
	}
	r1, r2 := testRelay(t, 1), testRelay(t, 2)
	noErr(t, alex.UseRelay(ctx, r1))
	noErr(t, alex.UseRelay(ctx, " "+r2))
	before := len(must[[]trustsync.Change](t)(alex.History(ctx, HistoryOptions{})))
	noErr(t, alex.UseRelay(ctx, r1))
	if after := len(must[[]trustsync.Change](t)(alex.History(ctx, HistoryOptions{}))); after != before {
		t.Fatalf("adding a relay again made %d changes", after-before)
	}
	exchange(t, alex, sam, SpaceDoc)
	if got := must[[]string](t)(sam.Relays(ctx)); !slices.Equal(got, []string{r1, r2}) {
		t.Fatalf("Sam's device sees relays %v, want %v", got, []string{r1, r2})
	}
	h := must[[]trustsync.Change](t)(sam.History(ctx, HistoryOptions{Limit: 1}))
	if !strings.Contains(h[0].Summary, "began to use the relay 203.0.113.2") {
		t.Fatalf("history on Sam's device: %+v", h[0])
	}
	noErr(t, sam.ForgetRelay(ctx, r1))
	exchange(t, sam, alex, SpaceDoc)
	if got := must[[]string](t)(alex.Relays(ctx)); !slices.Equal(got, []string{r2}) {
		t.Fatalf("after Sam forgot one, Alex's device sees relays %v", got)
	}
	for _, c := range []struct {
		err, want error
	}{
		{alex.ForgetRelay(ctx, r1), trustsync.ErrNotFound},
		{alex.UseRelay(ctx, "/ip4/203.0.113.9/tcp/4001"), trustsync.ErrInvalid},
		{alex.ForgetRelay(ctx, "junk"), trustsync.ErrInvalid},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("got %v, want %v", c.err, c.want)
		}
	}
	for i := 3; i <= MaxRelays+1; i++ {
		noErr(t, alex.UseRelay(ctx, testRelay(t, i)))
	}
	err := alex.UseRelay(ctx, testRelay(t, 50))
	if !errors.Is(err, ErrTooManyRelays) || !errors.Is(err, trustsync.ErrInvalid) {
		t.Fatalf("a ninth relay: %v", err)
	}
}

// Relays added on both devices at once, offline, all arrive: honest
// concurrent additions never stop sync, and Relays keeps the oldest eight.
func TestSpace_RelaysConcurrent(t *testing.T) {
	ctx := context.Background()
	alex, sam := rulesPair(t)
	for i := range MaxRelays {
		noErr(t, alex.UseRelay(ctx, testRelay(t, 10+i)))
		noErr(t, sam.UseRelay(ctx, testRelay(t, 30+i)))
	}
	exchange(t, alex, sam, SpaceDoc)
	exchange(t, sam, alex, SpaceDoc)
	a, s := must[[]string](t)(alex.Relays(ctx)), must[[]string](t)(sam.Relays(ctx))
	if len(a) != MaxRelays || !slices.Equal(a, s) {
		t.Fatalf("after concurrent additions the devices use\n%v\n%v", a, s)
	}
}

// What a modified partner app writes into the relay list is refused,
// leaving no trace; the honest change after it passes.
func TestRules_RelaysRefused(t *testing.T) {
	ctx := context.Background()
	good := testRelay(t, 1)
	id := good[strings.LastIndex(good, "/")+1:]
	set := func(key string, v any) func(root *automerge.Map) error {
		return func(root *automerge.Map) error { return root.Set(key, v) }
	}
	for _, tc := range []struct {
		name, reason string
		edit         func(root *automerge.Map) error
	}{
		{"junk address", "whose address is not a multiaddr", set("r:<script>junk", int64(1))},
		{"no peer ID", "does not end with /p2p/", set("r:/ip4/203.0.113.1/tcp/4001", int64(1))},
		{"circuit address", "another relay", set("r:"+good+"/p2p-circuit/p2p/"+id, int64(1))},
		{"odd spelling", "is not spelled as usual", set("r:/ip4/203.0.113.1/tcp/4001/ipfs/"+id, int64(1))},
		{"oversized", "more than the 512 allowed", set("r:/dns4/"+strings.Repeat("a", 600)+"/tcp/1/p2p/"+id, int64(1))},
		{"string value", "not a time", set("r:"+good, "when I like")},
		{"object value", "not a time", func(root *automerge.Map) error {
			m := automerge.NewMap()
			if err := root.Set("r:"+good, m); err != nil {
				return err
			}
			return m.Set("x", "y")
		}},
		{"too many", "more than the 16 allowed", func(root *automerge.Map) error {
			for i := range maxRelayKeys + 1 {
				if err := root.Set("r:"+testRelay(t, 100+i), int64(i)); err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alex, sam := rulesPair(t)
			bad := forge(t, sam, SpaceDoc, `{"a":"relay","k":"space","s":"x"}`, tc.edit)
			before := state(t, alex)
			_, err := alex.Import(ctx, SpaceDoc, bad, sam.Self().DeviceID)
			wantRefused(t, err, tc.reason)
			if after := state(t, alex); after != before {
				t.Fatalf("a refused change left traces:\nbefore %s\nafter  %s", before, after)
			}
			if got := must[[]string](t)(alex.Relays(ctx)); len(got) != 0 {
				t.Fatalf("relays after the refused change: %v", got)
			}
			noErr(t, sam.UseRelay(ctx, good))
			exchange(t, sam, alex, SpaceDoc)
			if got := must[[]string](t)(alex.Relays(ctx)); !slices.Equal(got, []string{good}) {
				t.Fatalf("relays after the honest change: %v", got)
			}
		})
	}
}
