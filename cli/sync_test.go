package cli

import (
	"strings"
	"testing"
)

// TestSync_ImportedChangesPersist checks, as the command meets it, that
// what a device imports from its partner (as sync and pairing do) is there
// for the next trustsync process to act on. An early crdt stored no chunk
// for imported changes: list showed the boundary from the view, but agree
// in a new process answered "no boundary", and later writes on top of the
// missing changes were reported as damaged.
func TestSync_ImportedChangesPersist(t *testing.T) {
	sam := initDevice(t, "Sam", "sam-laptop")
	alex := initDevice(t, "Alex", "alex-phone")
	pair(t, sam, alex) // Alex's device accepts only changes signed by a device it paired with
	id := sam.create("boundary", "add", "We talk before we decide about money")
	copyDocs(t, sam, alex)

	contains(t, "Alex's list", alex.ok("boundary", "list"), "We talk before we decide about money")
	r := alex.run("boundary", "agree", id)
	if r.code != ExitOK {
		t.Fatalf("Alex cannot agree to a boundary received from Sam: %s", strings.TrimSpace(r.errOut))
	}
	contains(t, "Alex's show", alex.ok("boundary", "show", id), "Agreed by:    Alex")
}
