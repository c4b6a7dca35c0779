package cli

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestGoal_Lifecycle(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	r := d.run("goal", "list")
	if r.code != ExitOK || r.out != "" || !strings.Contains(r.errOut, "No goals yet") {
		t.Fatalf("empty list: %+v", r)
	}

	g := d.create("goal", "add", "Walk together on Sundays", "--why", "I miss talking without screens")
	d.now = d.now.Add(time.Minute)
	s1 := d.create("goal", "step", g[:6], "Leave our phones at home")
	d.now = d.now.Add(time.Minute)
	s2 := d.create("goal", "step", g, "Pick a route we both like")
	for _, id := range []string{g, s1, s2} {
		if !idRE.MatchString(id) {
			t.Fatalf("ID %q is not 16 base32 characters", id)
		}
	}
	contains(t, "goal list", d.ok("goal", "list"), g[:8]+"  0 of 2 steps done  Walk together on Sundays")

	r = d.run("goal", "done", s1)
	if r.code != ExitOK || r.out != "" || !strings.Contains(r.errOut, "Step done") {
		t.Fatalf("done step: %+v", r)
	}
	contains(t, "goal list", d.ok("goal", "list"), "1 of 2 steps done")
	// The library may keep times a millisecond apart; half a minute more
	// keeps the expected words clear of the boundary.
	d.now = d.now.Add(30 * time.Second)
	contains(t, "goal show", d.ok("goal", "show", g),
		"Goal "+g,
		"    Walk together on Sundays",
		"Why: I miss talking without screens",
		"Added by Sam, 2 minutes ago. Progress: 1 of 2 steps done.",
		"[x]  "+s1[:8]+"  Leave our phones at home",
		"done by Sam, just now",
		"[ ]  "+s2[:8]+"  Pick a route we both like")

	goals := decode[[]goalJSON](t, d.ok("goal", "list", "--json"))
	if len(goals) != 1 {
		t.Fatalf("goal list --json: %d goals", len(goals))
	}
	gj := goals[0]
	if gj.ID != g || gj.Title != "Walk together on Sundays" || gj.Why != "I miss talking without screens" || gj.Done ||
		len(gj.Steps) != 2 || gj.Steps[0].ID != s1 || !gj.Steps[0].Done || gj.Steps[1].Done || gj.Steps[1].Text != "Pick a route we both like" {
		t.Fatalf("goal list --json: %+v", gj)
	}

	d.ok("goal", "edit", g, "--title", "Walk together every Sunday")
	r = d.run("goal", "done", g)
	if r.code != ExitOK || !strings.Contains(r.errOut, "Goal done") {
		t.Fatalf("done goal: %+v", r)
	}
	one := decode[goalJSON](t, d.ok("goal", "show", g, "--json"))
	if !one.Done || one.DoneBy != "Sam" || one.Title != "Walk together every Sunday" {
		t.Fatalf("goal show --json after done: %+v", one)
	}
	if out := d.ok("goal", "list"); !regexp.MustCompile(`(?m)^` + g[:8] + ` +done +Walk together every Sunday$`).MatchString(out) {
		t.Errorf("goal list after done:\n%s", out)
	}

	d.ok("goal", "archive", g)
	if got := strings.TrimSpace(d.ok("goal", "list", "--json")); got != "[]" {
		t.Fatalf("archived goal still listed: %s", got)
	}
	contains(t, "goal list --all", d.ok("goal", "list", "--all"), "(archived)")
	d.ok("goal", "restore", g)
	if n := len(decode[[]goalJSON](t, d.ok("goal", "list", "--json"))); n != 1 {
		t.Fatalf("after restore: %d goals", n)
	}
}

func TestGoal_Errors(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	g := d.create("goal", "add", "Counselling")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"goal", "add", ""}, "the goal's title is empty"},
		{[]string{"goal", "step", g, " "}, "the step is empty"},
		{[]string{"goal", "step", "zzzzzzzz", "x"}, `no goal with ID "zzzzzzzz": see 'trustsync goal list --all'`},
		{[]string{"goal", "done", "zzzzzzzz"}, `no goal or step with ID "zzzzzzzz"`},
		{[]string{"goal", "show", "zzzzzzzz"}, `no goal with ID "zzzzzzzz"`},
		{[]string{"goal", "edit", g, "--title", ""}, "the new title is empty"},
		{[]string{"goal", "archive", "abc"}, "too short"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if msg := d.fail(ExitFailure, tt.args...); !strings.Contains(msg, tt.want) {
				t.Errorf("stderr %q, want it to contain %q", msg, tt.want)
			}
		})
	}
}
