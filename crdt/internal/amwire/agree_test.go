package amwire_test

import (
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
)

// FuzzParseChange_Automerge frames the input as a change body with a
// correct checksum and, when ParseChange accepts it, checks that
// automerge-go accepts it too, with the same hash, actor and message. (It
// can only check changes without dependencies: automerge-go loads changes
// into a document, which refuses a change whose dependencies it lacks.)
func FuzzParseChange_Automerge(f *testing.F) {
	small, long, _ := sampleChanges(f)
	for _, b := range [][]byte{small, long, change{cols: setKeys("k", "v")}.chunk()} {
		f.Add(bodyOf(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := chunk(1, b)
		c, err := amwire.ParseChange(in, fuzzLimits)
		if err != nil {
			return
		}
		chs, err := automerge.LoadChanges(in)
		if err != nil && len(c.Deps) > 0 {
			return
		}
		if err != nil {
			t.Fatalf("ParseChange accepts the change, automerge-go refuses it: %v", err)
		}
		if len(chs) != 1 {
			t.Fatalf("automerge-go reads %d changes", len(chs))
		}
		if amwire.Hash(chs[0].Hash()) != c.Hash || chs[0].ActorID() != c.ActorHex() || chs[0].Message() != c.Message {
			t.Fatalf("automerge-go reads hash %s, actor %s, message %q", chs[0].Hash(), chs[0].ActorID(), chs[0].Message())
		}
	})
}
