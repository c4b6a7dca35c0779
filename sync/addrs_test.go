package sync

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/trustsync/trustsync/crdt"
)

// TestNode_NoAddressTrail pairs two real nodes on 127.0.0.1, then syncs
// several times, restarting one device after the other on a new port, so
// that each has to redial the other from what it kept of the last session
// alone. Afterwards no address either device listened on or was seen at
// appears anywhere in any shared document: not in a current value, not in
// any state of the history, not in any change's bytes, not in a history
// summary.
func TestNode_NoAddressTrail(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	a := fltDiskDevice(t, filepath.Join(dir, "alex"), "Alex")
	b := fltDiskDevice(t, filepath.Join(dir, "sam"), "Sam")
	nodes := map[*device]*Node{a: a.start(t), b: b.start(t)}
	pairVia(t, nodes[a], nodes[b], JoinOptions{})

	seen := map[string]bool{} // every address of either device
	note := func(n *Node) {
		for _, s := range addrStrings(n) {
			seen[s] = true
		}
	}
	note(nodes[a])
	note(nodes[b])
	// keeps reports whether d keeps the current listen addresses of o.
	keeps := func(d, o *device) bool {
		k, err := d.space.KnownAddrs(ctx, o.space.Self().DeviceID)
		must(t, err)
		for _, s := range addrStrings(nodes[o]) {
			if !slices.Contains(k.Addrs, s) {
				return false
			}
		}
		return true
	}
	for round := range 4 {
		writer, other := a, b
		if round%2 == 1 {
			writer, other = b, a
		}
		_, err := writer.space.AddBoundary(ctx, fmt.Sprintf("round %d", round))
		must(t, err)
		waitSynced(t, nodes[a], nodes[b])
		waitFor(t, "each device keeps the other's current addresses", func() bool { return keeps(a, b) && keeps(b, a) })

		// The writer goes offline and comes back on a new port: it
		// redials the other (which has not moved) from what it kept; the
		// other learns the new address in that session, and redials
		// from it after its own restart in the next round.
		before := addrStrings(nodes[writer])
		must(t, nodes[writer].Close())
		nodes[writer] = writer.start(t)
		note(nodes[writer])
		if slices.Equal(before, addrStrings(nodes[writer])) {
			t.Logf("round %d: the kernel gave %s the same port again", round, writer.space.Self().DeviceName)
		}
		_, err = other.space.AddBoundary(ctx, fmt.Sprintf("round %d, after the restart", round))
		must(t, err)
		waitSynced(t, nodes[a], nodes[b])
		if !hasBoundary(t, writer, fmt.Sprintf("round %d, after the restart", round)) {
			t.Fatalf("round %d: the restarted device did not receive the other's edit", round)
		}
	}
	waitFor(t, "each device keeps the other's last addresses", func() bool { return keeps(a, b) && keeps(b, a) })
	for _, pair := range [][2]*device{{a, b}, {b, a}} {
		k, err := pair[0].space.KnownAddrs(ctx, pair[1].space.Self().DeviceID)
		must(t, err)
		for _, s := range k.All() {
			seen[s] = true
		}
	}

	markers := []string{"/ip4/", "/ip6/", "/tcp/", "/udp/", "127.0.0.1"}
	for s := range seen {
		markers = append(markers, s)
	}
	for _, d := range []*device{a, b} {
		who := d.space.Self().DeviceName
		docs, err := d.space.Docs(ctx)
		must(t, err)
		if !slices.Contains(docs, crdt.SpaceDoc) {
			t.Fatalf("%s has no space document", who)
		}
		for _, doc := range docs {
			data, err := d.space.Save(ctx, doc)
			must(t, err)
			for _, f := range addressTraces(t, data, markers) {
				t.Errorf("%s's %s document: %s", who, doc, f)
			}
		}
		hist, err := d.space.History(ctx, crdt.HistoryOptions{})
		must(t, err)
		for _, c := range hist {
			for _, m := range markers {
				if strings.Contains(c.Summary, m) {
					t.Errorf("%s's history names an address: %q", who, c.Summary)
				}
			}
		}
		ms, err := d.space.Members(ctx)
		must(t, err)
		for _, m := range ms {
			for _, dev := range m.Devices {
				if len(dev.Addrs) > 0 {
					t.Errorf("%s lists addresses for %s in the space: %v", who, dev.Name, dev.Addrs)
				}
			}
		}
	}
}

// addressTraces returns where a saved Automerge document holds any of
// markers: in the bytes of a change, or in a key or value of the document
// as it stood after any change of its history.
func addressTraces(t *testing.T, data []byte, markers []string) []string {
	t.Helper()
	doc, err := automerge.Load(data)
	must(t, err)
	changes, err := doc.Changes()
	must(t, err)
	var out []string
	found := func(where, s string) {
		for _, m := range markers {
			if strings.Contains(s, m) {
				out = append(out, fmt.Sprintf("%s holds %q", where, m))
				return
			}
		}
	}
	for _, c := range changes {
		raw := c.Save()
		for _, m := range markers {
			if bytes.Contains(raw, []byte(m)) {
				out = append(out, fmt.Sprintf("change %s (%q) holds %q", c.Hash(), c.Message(), m))
			}
		}
		past, err := doc.Fork(c.Hash())
		must(t, err)
		walkValue(t, past.Root(), "after change "+c.Hash().String(), found)
	}
	return out
}

// walkValue calls found with every map key and every string under v.
func walkValue(t *testing.T, v *automerge.Value, where string, found func(where, s string)) {
	t.Helper()
	switch v.Kind() {
	case automerge.KindMap:
		vals, err := v.Map().Values()
		must(t, err)
		for k, x := range vals {
			if k == "addrs" {
				found(where, "field addrs")
			}
			found(where+", key "+k, k)
			walkValue(t, x, where+", under "+k, found)
		}
	case automerge.KindList:
		vals, err := v.List().Values()
		must(t, err)
		for _, x := range vals {
			walkValue(t, x, where, found)
		}
	case automerge.KindText:
		s, err := v.Text().Get()
		must(t, err)
		found(where, s)
	case automerge.KindStr:
		found(where, v.Str())
	case automerge.KindBytes:
		found(where, string(v.Bytes()))
	}
}

// The scan above finds an address wherever a document holds one: in a
// small or a large change, current or overwritten.
func TestAddressTraces_FindsAddresses(t *testing.T) {
	for _, size := range []int{0, 4096} {
		doc := automerge.New()
		pad := strings.Repeat("x", size)
		must(t, doc.RootMap().Set("d:1", map[string]any{"addrs": `["/ip4/192.0.2.1/tcp/4001"]` + pad}))
		_, err := doc.Commit("first")
		must(t, err)
		must(t, doc.Path("d:1", "addrs").Set(`["/ip4/192.0.2.2/tcp/4002"]`))
		_, err = doc.Commit("second")
		must(t, err)
		must(t, doc.Path("d:1", "addrs").Delete())
		_, err = doc.Commit("deleted")
		must(t, err)
		for _, m := range []string{"/ip4/192.0.2.1/tcp/4001", "/ip4/192.0.2.2/tcp/4002"} {
			got := addressTraces(t, doc.Save(), []string{m})
			changeBytes := slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "change ") })
			if !changeBytes || len(got) < 2 {
				t.Errorf("value of %d bytes: %s found as %v, want in a change's bytes and in a past state", size, m, got)
			}
		}
		if got := addressTraces(t, doc.Save(), []string{"/ip4/198.51.100.1/"}); len(got) != 0 {
			t.Errorf("found an address the document never held: %v", got)
		}
	}
}

// A device is dialed at what this device kept of it; the addresses an
// earlier version wrote into the space count only while the device never
// said any of its own, here or to another device.
func TestDialList_SharedAddrsOnlyAsFallback(t *testing.T) {
	legacy := []string{"/ip4/192.0.2.9/tcp/4001"}
	for _, tt := range []struct {
		name string
		k    crdt.KnownAddrs
		want []string
	}{
		{"nothing kept", crdt.KnownAddrs{}, legacy},
		{"only an observed address", crdt.KnownAddrs{Observed: "/ip4/192.0.2.5/tcp/50000"},
			[]string{"/ip4/192.0.2.5/tcp/50000", "/ip4/192.0.2.9/tcp/4001"}},
		{"said", crdt.KnownAddrs{Addrs: []string{"/ip4/192.0.2.1/tcp/4001"}, Observed: "/ip4/192.0.2.1/tcp/4001"},
			[]string{"/ip4/192.0.2.1/tcp/4001"}},
		{"passed on by another device", crdt.KnownAddrs{Relayed: []string{"/ip4/192.0.2.2/tcp/4001", "not an address"}},
			[]string{"/ip4/192.0.2.2/tcp/4001"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, a := range dialList(tt.k, legacy) {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("dial %v, want %v", got, tt.want)
			}
		})
	}
}

// The address notes ride in PING bodies: they decode back to what was
// sent, a body of another kind is not taken for one, and a malformed note
// is refused.
func TestAddrNote_Decode(t *testing.T) {
	addrs := []string{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"}
	got, ok, err := decodeAddrNote(encodeAddrNote(addrs))
	if err != nil || !ok || !slices.Equal(got, addrs) {
		t.Fatalf("own addresses: %v, %v, %v", got, ok, err)
	}
	others := map[string][]string{"0123456789abcdef0123456789abcdef": addrs, "fedcba9876543210fedcba9876543210": {}}
	back, err := decodeOthersNote(encodeOthersNote(others))
	if err != nil || len(back) != 2 || !slices.Equal(back["0123456789abcdef0123456789abcdef"], addrs) {
		t.Fatalf("others: %v, %v", back, err)
	}
	if _, ok, err := decodeAddrNote([]byte{9, 1, 2, 3}); ok || err != nil {
		t.Fatalf("a body of an unknown kind: ok=%v err=%v, want ignored", ok, err)
	}
	for _, bad := range [][]byte{
		{noteAddrs, 1},                      // one address announced, none there
		append(encodeAddrNote(addrs), 0),    // trailing bytes
		{noteAddrs, maxAddrs + 1},           // too many
		{noteOthers, maxOthers + 1},         // too many devices
		append(encodeOthersNote(others), 7), // trailing bytes
	} {
		var err error
		if bad[0] == noteOthers {
			_, err = decodeOthersNote(bad)
		} else {
			_, _, err = decodeAddrNote(bad)
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: %v, want ErrMalformed", bad, err)
		}
	}
}

// TestPair_PairedDevicesFindEachOtherLater closes both nodes right after
// pairing, before any sync had time to run: each has kept where the other
// listens (the invite, the pairing connection), so a later run finds the
// other with no address given, as 'trustsync pair' then 'serve' and 'sync'
// do.
func TestPair_PairedDevicesFindEachOtherLater(t *testing.T) {
	for _, inviterMoves := range []bool{false, true} {
		a, b := newDevice(t, "Alex"), newDevice(t, "Sam")
		na, nb := a.start(t), b.start(t)
		pairVia(t, na, nb, JoinOptions{})
		listenA, listenB := addrStrings(na), addrStrings(nb)
		must(t, na.Close())
		must(t, nb.Close())
		for _, x := range [][2]*device{{a, b}, {b, a}} {
			k, err := x[0].space.KnownAddrs(testCtx(t), x[1].space.Self().DeviceID)
			must(t, err)
			if len(k.All()) == 0 {
				t.Fatalf("%s kept no address of %s after pairing", x[0].space.Self().DeviceName, x[1].space.Self().DeviceName)
			}
		}
		// One side comes back where it was, the other on a new port.
		if inviterMoves {
			na, nb = a.start(t), b.start(t, listenB...)
		} else {
			na, nb = a.start(t, listenA...), b.start(t)
		}
		waitSynced(t, na, nb)
		must(t, na.Close())
		must(t, nb.Close())
	}
}
