package cli

import (
	"testing"

	"github.com/trustsync/trustsync/crdt"
	tsync "github.com/trustsync/trustsync/sync"
)

// TestDamageLine: a document left out because it is damaged says so; one
// left out because its history forked between the devices does not call
// it damaged, and keeps crdt's reason.
func TestDamageLine(t *testing.T) {
	sam := tsync.Remote{DeviceID: "d1", DeviceName: "sam-laptop", MemberName: "Sam"}
	fork := (&crdt.ForkError{Doc: crdt.BoundariesDoc, Author: "abcdef0123456789", Seq: 2, Own: true}).Error()
	tests := []struct {
		name string
		d    tsync.DocDamage
		want string
	}{
		{"damaged here", tsync.DocDamage{Doc: "goals", Reason: "chunk 3 is damaged"},
			`document "goals" is damaged on this device and Sam's device sam-laptop did not restore it; the other documents were synced: chunk 3 is damaged`},
		{"forked", tsync.DocDamage{Doc: crdt.BoundariesDoc, Reason: fork},
			`document "boundaries" cannot be synced with Sam's device sam-laptop, the other documents were synced: ` + fork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := damageLine("peer", sam, tt.d); got != tt.want {
				t.Errorf("damageLine =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
