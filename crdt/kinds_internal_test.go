package crdt

import "testing"

// TestKinds_Hooks fails when a row of the table lacks a hook of its
// shape: a kind at the root of its document writes its view rows and has
// write rules (members and devices have the space document's own checks);
// a kind held inside its parent's item names the field that holds it.
func TestKinds_Hooks(t *testing.T) {
	for _, k := range kinds {
		held := k.Parent != "" && k.key == nil
		switch {
		case held && k.field == "":
			t.Errorf("kind %s is held by %s but names no field of it", k.Name, k.Parent)
		case held && (k.put != nil || k.rules != nil):
			t.Errorf("kind %s is held by %s, whose row and rules cover it", k.Name, k.Parent)
		case !held && k.put == nil:
			t.Errorf("kind %s writes no view row", k.Name)
		case !held && k.rules == nil && !k.holds(SpaceDoc):
			t.Errorf("kind %s has no write rules", k.Name)
		}
		if held {
			p, ok := KindOf(k.Parent)
			if !ok || p.Doc != k.Doc || p.rules == nil || p.rules.subs[k.field].what == "" {
				t.Errorf("kind %s: its parent %s has no write rules for the field %q", k.Name, k.Parent, k.field)
			}
		}
	}
}
