package amwire_test

import (
	"fmt"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync/crdt/internal/amwire"
)

// A receiving device looks at what a change edits before applying it.
func ExampleParseChange() {
	doc := automerge.New()
	_ = doc.RootMap().Set("name", "Ada")
	_ = doc.RootMap().Set("visits", automerge.NewCounter(1))
	h, _ := doc.Commit("hello")
	ch, _ := doc.Change(h)

	c, err := amwire.ParseChange(ch.Save(), amwire.Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Hash == amwire.Hash(ch.Hash()), c.Seq, c.Message)
	for _, op := range c.Ops {
		fmt.Println(op.ID, op.Action, op.Obj, op.Key, op.Value)
	}
	// Output:
	// true 1 hello
	// 1@0 Set root name "Ada"
	// 2@0 Set root visits counter 1
}
