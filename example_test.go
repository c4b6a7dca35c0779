package trustsync_test

import (
	"context"
	"fmt"
	"log"

	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/store"
)

// A couple's space on one device: propose a boundary, agree to it, and read
// it back. Before the partner pairs, a boundary cannot be agreed by both.
func Example() {
	ctx := context.Background()
	st := store.NewMemory() // store.Open(dir, store.Options{}) keeps it on disk
	defer st.Close()

	space, err := crdt.Create(ctx, st, crdt.CreateOptions{MemberName: "Alex", DeviceName: "laptop"})
	if err != nil {
		log.Fatal(err)
	}
	defer space.Close()

	id, err := space.AddBoundary(ctx, "I tell you when my plans change")
	if err != nil {
		log.Fatal(err)
	}
	if err := space.AgreeBoundary(ctx, id); err != nil {
		log.Fatal(err)
	}
	b, err := space.Boundary(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q proposed by %s; agreements: %d; agreed by both: %v\n",
		b.Text, b.ProposedBy.Name, len(b.Agreements), b.Agreed)
	// Output:
	// "I tell you when my plans change" proposed by Alex; agreements: 1; agreed by both: false
}
