package crdt

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// keyOf returns s's signing key.
func keyOf(t *testing.T, s *Space) ed25519.PrivateKey {
	t.Helper()
	must[string](t)(s.PeerID(context.Background())) // loads the key
	return must[ed25519.PrivateKey](t)(s.loadedKey())
}

// signedBy returns the signature of change h of doc by k.
func signedBy(k ed25519.PrivateKey, doc string, h automerge.ChangeHash) []byte {
	return ed25519.Sign(k, changeSigInput(doc, h))
}

// rawCommit makes a raw edit of d as actor and commits it.
func rawCommit(t *testing.T, d *automerge.Doc, actor, key, value string) automerge.ChangeHash {
	t.Helper()
	noErr(t, d.SetActorID(actor))
	m := automerge.NewMap()
	noErr(t, d.RootMap().Set(key, m))
	noErr(t, m.Set("text", value))
	at := time.Now()
	return must[automerge.ChangeHash](t)(d.Commit(`{"a":"add","k":"boundary","s":"added a boundary"}`, automerge.CommitOptions{Time: &at}))
}

// copyOf loads a copy of s's document doc, for a modified client's edits.
func copyOf(t *testing.T, s *Space, doc string) *automerge.Doc {
	t.Helper()
	data := must[[]byte](t)(s.Save(context.Background(), doc))
	return must[*automerge.Doc](t)(loadDoc(s.mem, data))
}

// syncMessage encodes an Automerge sync message (format 0x42): heads,
// the changes the sender needs, no Bloom filter, and the raw changes
// given.
func syncMessage(heads, need []automerge.ChangeHash, changes ...*automerge.Change) []byte {
	hashes := func(b []byte, hs []automerge.ChangeHash) []byte {
		b = binary.AppendUvarint(b, uint64(len(hs)))
		for _, h := range hs {
			b = append(b, h[:]...)
		}
		return b
	}
	b := hashes([]byte{0x42}, heads)
	b = hashes(b, need)
	b = binary.AppendUvarint(b, 0) // no "have"
	b = binary.AppendUvarint(b, uint64(len(changes)))
	for _, c := range changes {
		raw := c.Save()
		b = binary.AppendUvarint(b, uint64(len(raw)))
		b = append(b, raw...)
	}
	return b
}

// sigCount returns how many signatures a signed bundle carries.
func sigCount(t *testing.T, bundle []byte) int {
	t.Helper()
	_, sigs, err := unwrapSigned(bundle)
	noErr(t, err)
	return len(sigs)
}

// syncUntilQuiet runs sync messages both ways between two peers of doc
// until neither has anything to say, sending the document whole when a
// message cannot carry its signatures, as a session does; every message
// and document must be taken in. It returns how many documents were sent
// whole.
func syncUntilQuiet(t *testing.T, a, b *Space, doc string) int {
	t.Helper()
	ctx := context.Background()
	whole := 0
	pa, pb := a.Peer(b.Self().DeviceID), b.Peer(a.Self().DeviceID)
	for round := 0; round < 30; round++ {
		sent := false
		for _, dir := range []struct {
			p        *Peer
			from, to *Space
			q        *Peer
		}{{pa, a, b, pb}, {pb, b, a, pa}} {
			msg, ok, err := dir.p.GenerateMessage(ctx, doc)
			if errors.Is(err, ErrSendWhole) {
				whole++
				data := must[[]byte](t)(dir.from.SaveSigned(ctx, doc))
				if _, err := dir.to.Import(ctx, doc, data, dir.from.Self().DeviceID); err != nil {
					t.Fatalf("import of the whole document: %v", err)
				}
				sent = true
				continue
			}
			noErr(t, err)
			if !ok {
				continue
			}
			sent = true
			if _, err := dir.q.ReceiveMessage(ctx, doc, msg); err != nil {
				t.Fatalf("receive: %v", err)
			}
		}
		if !sent {
			return whole
		}
	}
	t.Fatal("the sync did not settle in 30 rounds")
	return whole
}

// Honest bundles carry one signature per device that wrote in them, and
// are taken in whole: a saved document, a sync message of offline edits,
// and a device passing on its partner's changes.
func TestCover_OneSignaturePerDevice(t *testing.T) {
	ctx := context.Background()
	alex, sam := rulesPair(t)
	for i := range 20 {
		must[string](t)(alex.AddBoundary(ctx, fmt.Sprint("boundary ", i)))
	}
	data := must[[]byte](t)(alex.SaveSigned(ctx, BoundariesDoc))
	if n := sigCount(t, data); n != 1 {
		t.Fatalf("Alex's document of 20 changes carries %d signatures, want 1", n)
	}
	if rec := must[Received](t)(sam.Import(ctx, BoundariesDoc, data, alex.Self().DeviceID)); rec.Changes != 20 {
		t.Fatalf("Sam took in %d changes, want 20", rec.Changes)
	}
	// Offline edits on both sides, then a sync: each message carries the
	// signature of its sender's latest change.
	for i := range 10 {
		must[string](t)(alex.AddBoundary(ctx, fmt.Sprint("Alex offline ", i)))
		must[string](t)(sam.AddBoundary(ctx, fmt.Sprint("Sam offline ", i)))
	}
	pa, ps := alex.Peer(sam.Self().DeviceID), sam.Peer(alex.Self().DeviceID)
	maxSigs := 0
	for round := 0; round < 10; round++ {
		sent := false
		for _, dir := range [][2]*Peer{{pa, ps}, {ps, pa}} {
			msg, ok, err := dir[0].GenerateMessage(ctx, BoundariesDoc)
			noErr(t, err)
			if !ok {
				continue
			}
			sent = true
			maxSigs = max(maxSigs, sigCount(t, msg))
			must[Received](t)(dir[1].ReceiveMessage(ctx, BoundariesDoc, msg))
		}
		if !sent {
			break
		}
	}
	if maxSigs != 1 {
		t.Fatalf("a sync message carried %d signatures, want 1 (each side's latest change)", maxSigs)
	}
	if a, s := must[[]string](t)(alex.Heads(ctx, BoundariesDoc)), must[[]string](t)(sam.Heads(ctx, BoundariesDoc)); !slices.Equal(a, s) {
		t.Fatalf("heads differ after the sync: %v and %v", a, s)
	}
	// Sam's copy holds two devices' changes: two signatures cover them,
	// and a third device checks them all.
	data = must[[]byte](t)(sam.SaveSigned(ctx, BoundariesDoc))
	if n := sigCount(t, data); n != 2 {
		t.Fatalf("Sam's copy carries %d signatures, want 2", n)
	}
	if sigs := must[map[string][]byte](t)(sam.Signatures(ctx, BoundariesDoc)); len(sigs) != 2 {
		t.Fatalf("Signatures lists %d, want 2", len(sigs))
	}
	fresh, _ := rulesPair(t)
	noErr(t, fresh.TrustDevice(ctx, trustsync.Device{ID: alex.Self().DeviceID, PeerID: must[string](t)(alex.PeerID(ctx)),
		Owner: trustsync.Person{ID: alex.Self().MemberID}}))
	noErr(t, fresh.TrustDevice(ctx, trustsync.Device{ID: sam.Self().DeviceID, PeerID: must[string](t)(sam.PeerID(ctx)),
		Owner: trustsync.Person{ID: sam.Self().MemberID}}))
	noErr(t, fresh.Adopt(ctx, alex.Self().SpaceID))
	exchange(t, sam, fresh, SpaceDoc)
	if rec := exchange(t, sam, fresh, BoundariesDoc); rec.Changes != 40 {
		t.Fatalf("a third device took in %d changes from Sam's copy, want 40", rec.Changes)
	}
}

// A modified client's bundles whose signatures do not cover every change
// are refused, and nothing of them is kept.
func TestCover_UncoveredChangesRefused(t *testing.T) {
	ctx := context.Background()
	alex, sam := rulesPair(t)
	must[string](t)(alex.AddBoundary(ctx, "We keep our promises"))
	exchange(t, alex, sam, BoundariesDoc)
	alexDev, samDev := alex.Self().DeviceID, sam.Self().DeviceID
	alexKey, samKey := keyOf(t, alex), keyOf(t, sam)
	old := must[[]string](t)(sam.Heads(ctx, BoundariesDoc))
	oldHead := must[automerge.ChangeHash](t)(automerge.NewChangeHash(old[0]))

	cases := []struct {
		name string
		// make returns the receiving space and the bundle, written on
		// a copy of the sender's document.
		make func(t *testing.T) (*Space, []byte)
		want string
	}{
		{"signature on an earlier change only", func(t *testing.T) (*Space, []byte) {
			// Alex's two changes; the bundle signs the first, which the
			// second descends from, not the other way round.
			d := copyOf(t, alex, BoundariesDoc)
			first := rawCommit(t, d, alexDev, "b1", "first")
			rawCommit(t, d, alexDev, "b2", "second")
			return sam, wrapSigned(d.Save(), map[automerge.ChangeHash][]byte{first: signedBy(alexKey, BoundariesDoc, first)})
		}, "no signature of its device covers it"},
		{"signature on an unrelated change", func(t *testing.T) (*Space, []byte) {
			// Alex's new change, with Alex's valid signature on a change
			// Sam already holds, which it does not descend from... nor
			// could: the signature covers only that change's ancestors.
			d := copyOf(t, alex, BoundariesDoc)
			rawCommit(t, d, alexDev, "b1", "new")
			return sam, wrapSigned(d.Save(), map[automerge.ChangeHash][]byte{oldHead: signedBy(alexKey, BoundariesDoc, oldHead)})
		}, "no signature of its device covers it"},
		{"another document's signature", func(t *testing.T) (*Space, []byte) {
			d := copyOf(t, alex, BoundariesDoc)
			h := rawCommit(t, d, alexDev, "b1", "new")
			return sam, wrapSigned(d.Save(), map[automerge.ChangeHash][]byte{h: signedBy(alexKey, GoalsDoc, h)})
		}, "signature does not match"},
		{"the partner's change placed under one's own signed change", func(t *testing.T) (*Space, []byte) {
			// Sam's modified device writes a change in Alex's name, then
			// one of its own on top, and signs only its own: its
			// signature does not vouch for Alex's change.
			d := copyOf(t, sam, BoundariesDoc)
			rawCommit(t, d, alexDev, "b1", "agreed by Alex")
			top := rawCommit(t, d, samDev, "b2", "Sam's own")
			return alex, wrapSigned(d.Save(), map[automerge.ChangeHash][]byte{top: signedBy(samKey, BoundariesDoc, top)})
		}, "no signature of its device covers it"},
		{"own signature claimed to cover the partner's change", func(t *testing.T) (*Space, []byte) {
			// The same, the partner's change on top: Sam's signature on
			// its own earlier change covers nothing of Alex's.
			d := copyOf(t, sam, BoundariesDoc)
			mine := rawCommit(t, d, samDev, "b1", "Sam's own")
			rawCommit(t, d, alexDev, "b2", "agreed by Alex")
			return alex, wrapSigned(d.Save(), map[automerge.ChangeHash][]byte{mine: signedBy(samKey, BoundariesDoc, mine)})
		}, "no signature of its device covers it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			to, bundle := tc.make(t)
			before := state(t, to)
			from := alexDev
			if to == alex {
				from = samDev
			}
			_, err := to.Import(ctx, BoundariesDoc, bundle, from)
			wantRefused(t, err, tc.want)
			if after := state(t, to); after != before {
				t.Fatalf("a refused bundle left traces:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// Changes Automerge sets aside until their dependencies arrive keep the
// covering signature that came with them, and are taken in when the
// dependency arrives without one.
func TestCover_EarlySignatureCoversLaterArrivals(t *testing.T) {
	ctx := context.Background()
	alex, sam := rulesPair(t)
	must[string](t)(alex.AddBoundary(ctx, "base"))
	exchange(t, alex, sam, BoundariesDoc)
	base := must[[]string](t)(alex.Heads(ctx, BoundariesDoc))
	for i := range 3 {
		must[string](t)(alex.AddBoundary(ctx, fmt.Sprint("later ", i)))
	}
	ds := alex.docState(BoundariesDoc)
	ds.mu.Lock()
	chs, err := ds.doc.Changes(must[automerge.ChangeHash](t)(automerge.NewChangeHash(base[0])))
	heads := ds.doc.Heads()
	ds.mu.Unlock()
	noErr(t, err)
	if len(chs) != 3 {
		t.Fatalf("%d new changes, want 3", len(chs))
	}
	ps := sam.Peer(alex.Self().DeviceID)
	tip := chs[2].Hash()
	sig := signedBy(keyOf(t, alex), BoundariesDoc, tip)
	// The last two first, with the signature of the last: set aside.
	first := wrapSigned(syncMessage(heads, nil, chs[1], chs[2]), map[automerge.ChangeHash][]byte{tip: sig})
	if rec := must[Received](t)(ps.ReceiveMessage(ctx, BoundariesDoc, first)); rec.Changes != 0 {
		t.Fatalf("%d changes taken in before their dependency", rec.Changes)
	}
	// Then the first, with no signature: all three are taken in, covered
	// by the signature kept.
	second := wrapSigned(syncMessage(heads, nil, chs[0]), nil)
	rec, err := ps.ReceiveMessage(ctx, BoundariesDoc, second)
	if err != nil {
		t.Fatalf("the dependency's message: %v", err)
	}
	if rec.Changes != 3 {
		t.Fatalf("%d changes taken in, want 3", rec.Changes)
	}
	if got := len(must[[]trustsync.Boundary](t)(sam.Boundaries(ctx, ListOptions{}))); got != 4 {
		t.Fatalf("Sam sees %d boundaries, want 4", got)
	}
	// Sam keeps the covering signature, and passes the changes on.
	if sigs := must[map[string][]byte](t)(sam.Signatures(ctx, BoundariesDoc)); sigs[tip.String()] == nil {
		t.Fatalf("Sam did not keep the covering signature: %v", sigs)
	}
}

// Changes set aside until their dependency arrives are never stored
// without the signature that covers them. Alex's device sets aside two of
// Sam's changes (their dependency is missing), compacts the document, and
// restarts: the signature kept in memory is gone. When the dependency then
// arrives alone, as Sam's device answers a request for it, it must be
// taken in, and the two changes must arrive again with their signature.
// Before, the compaction stored them, the restart set them aside again
// with nothing to cover them, and taking in the dependency refused them,
// at every session, for good. A snapshot stored that way by an earlier
// version is read without them.
func TestCover_SetAsideChangesNotStoredWithoutSignature(t *testing.T) {
	for _, tc := range []struct {
		name string
		// compact stores Alex's document as one snapshot, holding the
		// two changes set aside.
		compact func(t *testing.T, alex *Space)
	}{
		{"compacted by a write", func(t *testing.T, alex *Space) {
			alex.compactAfter = 1
			must[string](t)(alex.AddBoundary(context.Background(), "Alex's own, meanwhile"))
		}},
		{"compacted by an earlier version", func(t *testing.T, alex *Space) {
			must[string](t)(alex.AddBoundary(context.Background(), "Alex's own, meanwhile"))
			ds := alex.docState(BoundariesDoc)
			ds.mu.Lock()
			defer ds.mu.Unlock()
			noErr(t, alex.st.Update(context.Background(), func(tx trustsync.Tx) error {
				_, err := tx.Compact(BoundariesDoc, ds.doc.Save(), ds.seq)
				return err
			}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := store.NewMemory()
			alex, sam := rulesPairOn(t, st, Options{})
			must[string](t)(sam.AddBoundary(ctx, "base"))
			exchange(t, sam, alex, BoundariesDoc)
			base := must[automerge.ChangeHash](t)(automerge.NewChangeHash(must[[]string](t)(sam.Heads(ctx, BoundariesDoc))[0]))
			for i := range 3 {
				must[string](t)(sam.AddBoundary(ctx, fmt.Sprint("later ", i)))
			}
			ds := sam.docState(BoundariesDoc)
			ds.mu.Lock()
			chs, err := ds.doc.Changes(base)
			heads := ds.doc.Heads()
			ds.mu.Unlock()
			noErr(t, err)
			if len(chs) != 3 {
				t.Fatalf("%d new changes, want 3", len(chs))
			}
			samKey := keyOf(t, sam)
			tip := chs[2].Hash()
			// The last two, with the signature of the last: set aside.
			first := wrapSigned(syncMessage(heads, nil, chs[1], chs[2]), map[automerge.ChangeHash][]byte{tip: signedBy(samKey, BoundariesDoc, tip)})
			if rec := must[Received](t)(alex.Peer(sam.Self().DeviceID).ReceiveMessage(ctx, BoundariesDoc, first)); rec.Changes != 0 {
				t.Fatalf("%d changes taken in before their dependency", rec.Changes)
			}
			tc.compact(t, alex)
			noErr(t, alex.st.View(ctx, func(tx trustsync.ReadTx) error {
				chunks, err := tx.Chunks(BoundariesDoc, 0)
				if err == nil && (len(chunks) != 1 || !chunks[0].Snapshot) {
					t.Fatalf("Alex's document is stored as %d chunks, want one snapshot", len(chunks))
				}
				return err
			}))

			// Alex's device restarts.
			noErr(t, alex.Close())
			alex = must[*Space](t)(Open(ctx, st, Options{}))
			t.Cleanup(func() { alex.Close() })

			// The dependency arrives alone, signed.
			dep := chs[0].Hash()
			second := wrapSigned(syncMessage(heads, nil, chs[0]), map[automerge.ChangeHash][]byte{dep: signedBy(samKey, BoundariesDoc, dep)})
			if _, err := alex.Peer(sam.Self().DeviceID).ReceiveMessage(ctx, BoundariesDoc, second); err != nil {
				t.Fatalf("the dependency alone, signed: %v", err)
			}
			syncUntilQuiet(t, alex, sam, BoundariesDoc)
			if a, s := must[[]string](t)(alex.Heads(ctx, BoundariesDoc)), must[[]string](t)(sam.Heads(ctx, BoundariesDoc)); !slices.Equal(a, s) {
				t.Fatalf("heads differ after the sync: %v and %v", a, s)
			}
			if got := len(must[[]trustsync.Boundary](t)(alex.Boundaries(ctx, ListOptions{}))); got != 5 {
				t.Fatalf("Alex sees %d boundaries, want 5", got)
			}
			if r := must[map[string]Refusal](t)(alex.Refusals(ctx, []string{sam.Self().DeviceID})); len(r) != 0 {
				t.Fatalf("Alex's device recorded refusals: %+v", r)
			}
		})
	}
}

// A partner's change set aside without a signature this device still
// holds (here none came with it) is not refused for good when the change
// it waits for arrives: the refusal says it is sent again, is not counted
// against the partner's device, and the next sync takes the change in.
func TestCover_SetAsideChangeWithoutSignatureSentAgain(t *testing.T) {
	ctx := context.Background()
	alex, sam := rulesPair(t)
	must[string](t)(sam.AddBoundary(ctx, "base"))
	exchange(t, sam, alex, BoundariesDoc)
	base := must[automerge.ChangeHash](t)(automerge.NewChangeHash(must[[]string](t)(sam.Heads(ctx, BoundariesDoc))[0]))
	for i := range 3 {
		must[string](t)(sam.AddBoundary(ctx, fmt.Sprint("later ", i)))
	}
	ds := sam.docState(BoundariesDoc)
	ds.mu.Lock()
	chs, err := ds.doc.Changes(base)
	heads := ds.doc.Heads()
	ds.mu.Unlock()
	noErr(t, err)
	pa, samDev := alex.Peer(sam.Self().DeviceID), sam.Self().DeviceID
	if rec := must[Received](t)(pa.ReceiveMessage(ctx, BoundariesDoc, wrapSigned(syncMessage(heads, nil, chs[1], chs[2]), nil))); rec.Changes != 0 {
		t.Fatalf("%d changes taken in before their dependency", rec.Changes)
	}
	dep := chs[0].Hash()
	_, err = pa.ReceiveMessage(ctx, BoundariesDoc, wrapSigned(syncMessage(heads, nil, chs[0]), map[automerge.ChangeHash][]byte{dep: signedBy(keyOf(t, sam), BoundariesDoc, dep)}))
	var re *RefusedChangeError
	if !errors.As(err, &re) || !re.Resend || re.Unknown {
		t.Fatalf("taking in the dependency released changes no signature covers: %v, want a refusal to be sent again", err)
	}
	if r := must[map[string]Refusal](t)(alex.Refusals(ctx, []string{samDev}))[samDev]; r.Count != 0 || !r.Pending {
		t.Fatalf("Alex's device recorded %+v, want a pending refusal, not counted", r)
	}
	syncUntilQuiet(t, alex, sam, BoundariesDoc)
	if got := len(must[[]trustsync.Boundary](t)(alex.Boundaries(ctx, ListOptions{}))); got != 4 {
		t.Fatalf("Alex sees %d boundaries after the next sync, want 4", got)
	}
	if r := must[map[string]Refusal](t)(alex.Refusals(ctx, []string{samDev}))[samDev]; r.Count != 0 {
		t.Fatalf("Alex's device counts %d refused changes from Sam's, want 0", r.Count)
	}
}

// threeDevices returns Alex's phone and laptop and Sam's phone, paired:
// each knows the others' keys and members.
func threeDevices(t *testing.T) (phone, laptop, sam *Space) {
	t.Helper()
	ctx := context.Background()
	phone, sam = rulesPair(t)
	laptop, err := Create(ctx, store.NewMemory(), CreateOptions{MemberName: "Alex", DeviceName: "alex-laptop"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { laptop.Close() })
	alex := trustsync.Person{ID: phone.Self().MemberID, Name: "Alex"}
	device := func(s *Space) trustsync.Device {
		return trustsync.Device{ID: s.Self().DeviceID, Name: s.Self().DeviceName,
			PeerID: must[string](t)(s.PeerID(ctx)), Owner: alex}
	}
	// By hand apart from pairByHand on purpose: the laptop joins as a
	// further device of Alex's (JoinAs), not as a member of its own.
	noErr(t, laptop.JoinAs(ctx, phone.Self().SpaceID, alex))
	// What a pairing does: each met the other first-hand.
	noErr(t, phone.TrustDevice(ctx, device(laptop)))
	noErr(t, laptop.TrustDevice(ctx, device(phone)))
	exchange(t, laptop, phone, SpaceDoc)
	noErr(t, phone.AddDevice(ctx, device(laptop)))
	noErr(t, phone.NotePaired(ctx, laptop.Self().DeviceID))
	exchange(t, phone, laptop, SpaceDoc)
	noErr(t, laptop.NotePaired(ctx, phone.Self().DeviceID))
	exchange(t, laptop, phone, SpaceDoc)
	exchange(t, phone, sam, SpaceDoc)
	exchange(t, sam, laptop, SpaceDoc)
	return phone, laptop, sam
}

// A device passing on another device's changes holds only the signature
// of the latest one. Asked for an earlier change alone (what Automerge's
// sync does for a change its Bloom filter hid), it cannot send that change
// with a signature covering it: GenerateMessage says to send the document
// whole, and the receiver then holds everything, nothing refused.
func TestCover_NeededChangeSentWhole(t *testing.T) {
	ctx := context.Background()
	phone, laptop, sam := threeDevices(t)
	must[string](t)(laptop.AddBoundary(ctx, "base"))
	syncUntilQuiet(t, laptop, phone, BoundariesDoc)
	syncUntilQuiet(t, phone, sam, BoundariesDoc)
	base := must[[]string](t)(sam.Heads(ctx, BoundariesDoc))
	for i := range 3 {
		must[string](t)(laptop.AddBoundary(ctx, fmt.Sprint("from the laptop ", i)))
	}
	if n := syncUntilQuiet(t, laptop, phone, BoundariesDoc); n != 0 {
		t.Fatalf("the laptop sent its document whole %d times, want 0", n)
	}
	// The phone holds the laptop's three changes, signed on the last.
	ds := phone.docState(BoundariesDoc)
	ds.mu.Lock()
	chs, err := ds.doc.Changes(must[automerge.ChangeHash](t)(automerge.NewChangeHash(base[0])))
	ds.mu.Unlock()
	noErr(t, err)
	sigs := must[map[string][]byte](t)(phone.Signatures(ctx, BoundariesDoc))
	if len(chs) != 3 || sigs[chs[0].Hash().String()] != nil || sigs[chs[2].Hash().String()] == nil {
		t.Fatalf("the phone holds %d new changes and signatures %v; want 3, the last signed", len(chs), sigs)
	}
	// Sam's device asks for the first alone.
	pp := phone.Peer(sam.Self().DeviceID)
	heads := []automerge.ChangeHash{must[automerge.ChangeHash](t)(automerge.NewChangeHash(base[0]))}
	ask := wrapSigned(syncMessage(heads, []automerge.ChangeHash{chs[0].Hash()}), nil)
	must[Received](t)(pp.ReceiveMessage(ctx, BoundariesDoc, ask))
	if _, _, err := pp.GenerateMessage(ctx, BoundariesDoc); !errors.Is(err, ErrSendWhole) {
		t.Fatalf("GenerateMessage for a change whose covering change stays behind: %v, want ErrSendWhole", err)
	}
	data := must[[]byte](t)(phone.SaveSigned(ctx, BoundariesDoc))
	if rec, err := sam.Import(ctx, BoundariesDoc, data, phone.Self().DeviceID); err != nil || rec.Changes != 3 {
		t.Fatalf("Sam took in the whole document: %d changes, %v; want 3", rec.Changes, err)
	}
	// The sync goes on from there without another whole document.
	if n := syncUntilQuiet(t, phone, sam, BoundariesDoc); n != 0 {
		t.Fatalf("sent whole %d more times", n)
	}
	if p, s := must[[]string](t)(phone.Heads(ctx, BoundariesDoc)), must[[]string](t)(sam.Heads(ctx, BoundariesDoc)); !slices.Equal(p, s) {
		t.Fatalf("heads differ: %v and %v", p, s)
	}
	if got := len(must[[]trustsync.Boundary](t)(sam.Boundaries(ctx, ListOptions{}))); got != 4 {
		t.Fatalf("Sam sees %d boundaries, want 4", got)
	}
	if refs := must[map[string]Refusal](t)(sam.Refusals(ctx, []string{phone.Self().DeviceID, laptop.Self().DeviceID})); len(refs) != 0 {
		t.Fatalf("Sam refused: %+v", refs)
	}
}

// A sync message need not hold every dependency of its changes: a peer
// lacking one sets aside the changes descending from it and takes in the
// others. A message the peer might take in only in part is not sent, nor
// one whose changes are covered only by a signature on a change outside
// it: the document is sent whole instead.
func TestCover_MessageTakenInWhole(t *testing.T) {
	ctx := context.Background()
	alex, sam := rulesPair(t)
	head := func(s *Space) automerge.ChangeHash {
		hs := must[[]string](t)(s.Heads(ctx, BoundariesDoc))
		return must[automerge.ChangeHash](t)(automerge.NewChangeHash(hs[len(hs)-1]))
	}
	must[string](t)(alex.AddBoundary(ctx, "base"))
	exchange(t, alex, sam, BoundariesDoc)
	base := head(alex)
	must[string](t)(alex.AddBoundary(ctx, "Alex's first"))
	c1 := head(alex)
	must[string](t)(sam.AddBoundary(ctx, "Sam's"))
	y := head(sam)
	exchange(t, sam, alex, BoundariesDoc)
	must[string](t)(alex.AddBoundary(ctx, "Alex's second, after Sam's"))
	c2 := head(alex)
	// Alex's device keeps only the signature of its latest change, as a
	// device passing on another's changes does.
	noErr(t, alex.st.Update(ctx, func(tx trustsync.Tx) error { return tx.Delete(sigMeta + c1.String()) }))

	ds := alex.docState(BoundariesDoc)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	change := func(h automerge.ChangeHash) *automerge.Change {
		return must[*automerge.Change](t)(ds.doc.Change(h))
	}
	cases := []struct {
		name  string
		chs   []automerge.ChangeHash
		peer  []automerge.ChangeHash // heads the peer is known to hold
		sigs  []automerge.ChangeHash // want; nil: ErrSendWhole
		whole bool
	}{
		{"closed message", []automerge.ChangeHash{c1, y, c2}, []automerge.ChangeHash{base}, []automerge.ChangeHash{y, c2}, false},
		{"closed message, peer's heads unknown", []automerge.ChangeHash{c1, y, c2}, nil, []automerge.ChangeHash{y, c2}, false},
		// Sam's change left out, the peer known to hold it.
		{"dependency held", []automerge.ChangeHash{c1, c2}, []automerge.ChangeHash{y}, []automerge.ChangeHash{c2}, false},
		// Sam's change left out, the peer not known to hold it: the peer
		// could take in the first change and set aside the second.
		{"dependency maybe missing", []automerge.ChangeHash{c1, c2}, []automerge.ChangeHash{base}, nil, true},
		// The first change alone, asked for: its covering change stays
		// behind.
		{"covering change left out", []automerge.ChangeHash{c1}, []automerge.ChangeHash{base}, nil, true},
		// The second alone: it is signed itself.
		{"signed change alone", []automerge.ChangeHash{c2}, []automerge.ChangeHash{c1, y}, []automerge.ChangeHash{c2}, false},
		// The same, its dependencies not known to be held: the peer
		// takes it in or sets it aside, whole.
		{"signed change alone, dependencies uncertain", []automerge.ChangeHash{c2}, []automerge.ChangeHash{base}, []automerge.ChangeHash{c2}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var chs []*automerge.Change
			for _, h := range tc.chs {
				chs = append(chs, change(h))
			}
			noErr(t, alex.st.View(ctx, func(tx trustsync.ReadTx) error {
				sigs, err := messageSigs(tx, ds.doc, chs, tc.peer)
				if tc.whole {
					if !errors.Is(err, ErrSendWhole) {
						t.Errorf("got %d signatures, %v; want ErrSendWhole", len(sigs), err)
					}
					return nil
				}
				var got []automerge.ChangeHash
				for h := range sigs {
					got = append(got, h)
				}
				byHash := func(a, b automerge.ChangeHash) int { return slices.Compare(a[:], b[:]) }
				slices.SortFunc(got, byHash)
				want := slices.SortedFunc(slices.Values(tc.sigs), byHash)
				if err != nil || !slices.Equal(got, want) {
					t.Errorf("signatures on %v, %v; want on %v", got, err, want)
				}
				return nil
			}))
		})
	}
}
