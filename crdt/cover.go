package crdt

import (
	"errors"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// One signature covers its author's earlier changes.
//
// A change's hash is taken over its bytes, and those name the hashes of
// the changes it depends on: a device's signature on change h therefore
// commits to h's whole ancestry. A change c whose author is device A is
// covered by A's signature on h when h is by A and c is h or one of h's
// ancestors, through any device's changes. A's signature never covers a
// change of another device: that one needs a signature of its own author.
//
// A device keeps every signature it made and every one it received and
// checked (meta "sig/<hash>"). They cover every change it holds, except
// the unsigned changes from before signing, which a seal covers
// (trust.go); in particular, each device's latest changes -- those none of
// its other changes descends from -- are signed directly.
//
// A signed bundle carries, per author, only the signatures of the
// author's changes in the bundle that no other signed change of the same
// author in the bundle descends from (the tips). A receiver checks those
// few signatures and walks the dependencies of the new changes back from
// the signed ones: each new change must be reached from a signed change of
// its own author. An Automerge sync message holds the changes the peer
// lacks and all their descendants, so the tips are in it and the peer
// takes it in whole; when either may fail (see messageSigs), the document
// is sent whole instead ([ErrSendWhole]).

// ErrSendWhole is returned by [Peer.GenerateMessage] when the next sync
// message for a document cannot carry signatures covering its changes: a
// change in it is covered only by a signature on a change outside it (the
// peer asked for that change alone), or the peer might take in only part
// of it -- some changes in it depend on a change the peer is not known to
// hold and others do not (Automerge's Bloom filter took that change for
// one the peer holds) -- and so take in a change while the change whose
// signature covers it, or the change holding its device's certificate,
// waits. Send the document whole instead ([Space.SaveSigned], taken by
// [Space.Import]); the sync state with the peer starts over from what
// both sides were known to share.
var ErrSendWhole = errors.New("send the whole document: a sync message could not carry the signatures of its changes")

// changeSet is a set of changes with their dependencies inside the set,
// for computing coverage.
type changeSet struct {
	hash  []automerge.ChangeHash
	at    map[automerge.ChangeHash]int
	actor []string
	deps  [][]int                  // each change's dependencies inside the set
	extOf [][]automerge.ChangeHash // each change's dependencies outside the set
	ext   []automerge.ChangeHash   // all dependencies outside the set
}

// newChangeSet indexes chs.
func newChangeSet(chs []*automerge.Change) *changeSet {
	cs := &changeSet{hash: make([]automerge.ChangeHash, len(chs)), at: make(map[automerge.ChangeHash]int, len(chs)),
		actor: make([]string, len(chs)), deps: make([][]int, len(chs)), extOf: make([][]automerge.ChangeHash, len(chs))}
	for i, c := range chs {
		cs.hash[i] = c.Hash()
		cs.at[cs.hash[i]] = i
		cs.actor[i] = c.ActorID()
	}
	seen := map[automerge.ChangeHash]bool{}
	for i, c := range chs {
		for _, d := range c.Dependencies() {
			if j, ok := cs.at[d]; ok {
				cs.deps[i] = append(cs.deps[i], j)
				continue
			}
			cs.extOf[i] = append(cs.extOf[i], d)
			if !seen[d] {
				seen[d] = true
				cs.ext = append(cs.ext, d)
			}
		}
	}
	return cs
}

// cover returns which changes of the set the signed ones cover, walking
// dependencies inside the set only, and the tips: the signed changes no
// other signed change of the same author in the set descends from. One
// walk per author.
func (cs *changeSet) cover(signed []bool) (covered []bool, tips []int) {
	byAuthor := map[string][]int{}
	for i, ok := range signed {
		if ok {
			byAuthor[cs.actor[i]] = append(byAuthor[cs.actor[i]], i)
		}
	}
	covered = make([]bool, len(cs.hash))
	mark := make([]int, len(cs.hash)) // the walk that last reached each change
	walk := 0
	var stack []int
	for _, author := range sortedKeys(byAuthor) {
		walk++
		for _, s := range byAuthor[author] {
			stack = append(stack, cs.deps[s]...)
		}
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if mark[x] == walk {
				continue
			}
			mark[x] = walk
			if cs.actor[x] == author {
				covered[x] = true
			}
			stack = append(stack, cs.deps[x]...)
		}
		for _, s := range byAuthor[author] {
			covered[s] = true
			if mark[s] != walk {
				tips = append(tips, s)
			}
		}
	}
	return covered, tips
}

// partial tells whether a peer lacking some of the outside dependencies
// uncertain (those it is not known to hold) could take in some changes of
// the set and set aside others: whether the changes do not all descend
// from the same ones among them.
func (cs *changeSet) partial(uncertain []automerge.ChangeHash) bool {
	if len(uncertain) == 0 {
		return false
	}
	if len(uncertain) > 64 {
		return true
	}
	bit := make(map[automerge.ChangeHash]uint64, len(uncertain))
	for i, h := range uncertain {
		bit[h] = 1 << i
	}
	// from[i]: the uncertain dependencies change i descends from.
	from := make([]uint64, len(cs.hash))
	done := make([]bool, len(cs.hash))
	var visit func(i int) uint64
	visit = func(i int) uint64 {
		if done[i] {
			return from[i]
		}
		var f uint64
		for _, h := range cs.extOf[i] {
			f |= bit[h]
		}
		for _, j := range cs.deps[i] {
			f |= visit(j)
		}
		from[i], done[i] = f, true
		return f
	}
	for i := range cs.hash {
		if visit(i) != visit(0) {
			return true
		}
	}
	return false
}

// bundleSigs returns the stored signatures a bundle of the changes cs
// carries: the tips (see cover). uncovered lists the changes they leave
// uncovered: unsigned changes from before signing, or changes whose
// covering signature is on a change outside the set.
func bundleSigs(tx trustsync.ReadTx, cs *changeSet) (sigs map[automerge.ChangeHash][]byte, uncovered []int, err error) {
	stored, err := sigsOf(tx, cs.hash)
	if err != nil {
		return nil, nil, err
	}
	signed := make([]bool, len(cs.hash))
	for i, h := range cs.hash {
		signed[i] = stored[h] != nil
	}
	covered, tips := cs.cover(signed)
	sigs = make(map[automerge.ChangeHash][]byte, len(tips))
	for _, i := range tips {
		sigs[cs.hash[i]] = stored[cs.hash[i]]
	}
	for i, ok := range covered {
		if !ok {
			uncovered = append(uncovered, i)
		}
	}
	return sigs, uncovered, nil
}

// messageSigs returns the signatures a sync message carrying chs needs,
// d being the document and peerHeads heads the peer is known to hold, or
// ErrSendWhole when the message cannot carry them.
//
// A message need not be closed under dependencies: a change in it may
// depend on one the peer is believed to hold (Automerge's Bloom filter
// says so, wrongly now and then). A peer lacking it would take in the
// changes not descending from it and set aside the others, the change
// whose signature covers them perhaps among them (or the change holding
// the certificate of their device); so a message the peer might take in
// only in part is not sent (partial). Otherwise the peer takes in all of
// it or none, and the message carries, per author, the tips. A change they
// leave uncovered is either an unsigned change from before signing (a
// seal covers it), or one whose covering signature is on a change outside
// the message (asked for alone): then ErrSendWhole.
func messageSigs(tx trustsync.ReadTx, d *automerge.Doc, chs []*automerge.Change, peerHeads []automerge.ChangeHash) (map[automerge.ChangeHash][]byte, error) {
	if len(chs) == 0 {
		return nil, nil
	}
	cs := newChangeSet(chs)
	if len(cs.ext) > 0 {
		holds := peerHolds(d, peerHeads)
		var uncertain []automerge.ChangeHash
		for _, h := range cs.ext {
			if !holds(h) {
				uncertain = append(uncertain, h)
			}
		}
		if cs.partial(uncertain) {
			return nil, ErrSendWhole
		}
	}
	sigs, uncovered, err := bundleSigs(tx, cs)
	if err != nil || len(uncovered) == 0 {
		return sigs, err
	}
	// Unsigned changes from before signing travel as they are; a change a
	// stored signature covers in the whole document needs that
	// signature's change.
	all, err := d.Changes()
	if err != nil {
		return nil, err
	}
	whole := newChangeSet(all)
	_, left, err := bundleSigs(tx, whole)
	if err != nil {
		return nil, err
	}
	legacy := make(map[automerge.ChangeHash]bool, len(left))
	for _, i := range left {
		legacy[whole.hash[i]] = true
	}
	for _, i := range uncovered {
		if !legacy[cs.hash[i]] {
			return nil, ErrSendWhole
		}
	}
	return sigs, nil
}

// peerHolds returns a function telling whether a change of d is known to
// be held by a peer holding heads: it is one of them or their ancestor.
// Heads d does not have are left out (the peer's own new changes).
func peerHolds(d *automerge.Doc, heads []automerge.ChangeHash) func(automerge.ChangeHash) bool {
	var known []automerge.ChangeHash
	isHead := map[automerge.ChangeHash]bool{}
	for _, h := range heads {
		if c, err := d.Change(h); err == nil && c != nil && !isHead[h] {
			known = append(known, h)
			isHead[h] = true
		}
	}
	if len(known) == 0 {
		return func(automerge.ChangeHash) bool { return false }
	}
	var later map[automerge.ChangeHash]bool // changes not among their ancestors
	var lerr error
	return func(h automerge.ChangeHash) bool {
		if isHead[h] {
			return true
		}
		if later == nil && lerr == nil {
			var chs []*automerge.Change
			if chs, lerr = d.Changes(known...); lerr == nil {
				later = make(map[automerge.ChangeHash]bool, len(chs))
				for _, c := range chs {
					later[c.Hash()] = true
				}
			}
		}
		return lerr == nil && !later[h]
	}
}
