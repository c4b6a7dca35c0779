package cli

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/trustsync/trustsync/crdt"
)

// exportJSON is the object 'export --format json' prints, as a reader
// decodes it. It is written from the table of kinds (see kindExports), in
// the table's order; TestExport_EveryKind keeps the two in step.
type exportJSON struct {
	ExportedAt  string           `json:"exported_at"`
	ExportedBy  string           `json:"exported_by"`
	Device      string           `json:"device"`
	SpaceID     string           `json:"space_id"`
	Members     []memberJSON     `json:"members"`
	Boundaries  []boundaryJSON   `json:"boundaries"`
	Goals       []goalJSON       `json:"goals"`
	CheckIns    []checkinJSON    `json:"checkins"`
	Rhythm      *rhythmJSON      `json:"rhythm"`
	Commitments []commitmentJSON `json:"commitments"`
	Apologies   []apologyJSON    `json:"apologies"`
	Setbacks    []setbackJSON    `json:"setbacks"`
	Questions   []questionJSON   `json:"questions"`
	Moments     []momentJSON     `json:"moments"`
	History     []changeJSON     `json:"history"`
}

// TestExport_EveryKind fails when a kind of the table (crdt.Kinds) lacks
// a piece the CLI derives from it: its words in history lines, its key in
// the JSON export (written and decoded), its section in the markdown
// export.
func TestExport_EveryKind(t *testing.T) {
	sam, _, _ := couple(t)
	raw := sam.ok("export", "--format", "json")
	var keys map[string]json.RawMessage
	must(t, json.Unmarshal([]byte(raw), &keys))
	md := sam.ok("export", "--format", "markdown")
	tags := map[string]bool{}
	rt := reflect.TypeOf(exportJSON{})
	for i := range rt.NumField() {
		tags[strings.Split(rt.Field(i).Tag.Get("json"), ",")[0]] = true
	}
	for _, k := range crdt.Kinds() {
		if w := kindWord(k.Name); w == "" || strings.Contains(w, "_") {
			t.Errorf("kind %s reads %q in history lines", k.Name, w)
		}
		if k.Export == "" {
			if k.Parent == "" {
				t.Errorf("kind %s has neither an export key nor a parent it is exported with", k.Name)
			}
			continue
		}
		x, ok := kindExports[k.Name]
		if !ok || x.json == nil {
			t.Errorf("kind %s has no entry in kindExports", k.Name)
			continue
		}
		if _, ok := keys[k.Export]; !ok {
			t.Errorf("the JSON export has no key %q for kind %s", k.Export, k.Name)
		}
		if !tags[k.Export] {
			t.Errorf("exportJSON has no field for the key %q of kind %s", k.Export, k.Name)
		}
		if k.Plumbing {
			continue
		}
		if k.Section == "" || x.markdown == nil {
			t.Errorf("kind %s has no markdown section", k.Name)
			continue
		}
		if !strings.Contains(md, "\n## "+k.Section+"\n") {
			t.Errorf("the markdown export has no section %q for kind %s", k.Section, k.Name)
		}
	}
}

// TestExport_MarkdownHistory: the history a counsellor reads holds what the
// couple wrote, whole, and none of the plumbing of pairing and syncing.
func TestExport_MarkdownHistory(t *testing.T) {
	sam, alex, _ := couple(t)
	long := "When I feel overwhelmed I say so and we pause the talk for twenty minutes, then come back"
	sam.create("boundary", "add", long)
	edited := sam.create("boundary", "add", "We eat dinner together on weeknights without any screens")
	sam.ok("boundary", "edit", edited, "We eat dinner together")
	alex.create("moment", "add", "The long walk by the river on Sunday morning, talking about everything")
	syncDevices(t, sam, alex)
	md := sam.ok("export", "--format", "markdown")
	_, hist, ok := strings.Cut(md, "\n## History\n")
	if !ok {
		t.Fatalf("no history in the markdown:\n%s", md)
	}
	contains(t, "markdown history", hist,
		`proposed the boundary "`+long+`"`,
		`"The long walk by the river on Sunday morning, talking about everything"`,
		"(words since changed: see above)",
	)
	for _, plumbing := range []string{"…", "paired", "created the space", "sam-laptop\"", "/ip4/", "device"} {
		if strings.Contains(hist, plumbing) {
			t.Errorf("the markdown history holds %q:\n%s", plumbing, hist)
		}
	}
	// The JSON export, a backup, keeps every change.
	e := decode[exportJSON](t, sam.ok("export", "--format", "json"))
	paired := false
	for _, h := range e.History {
		paired = paired || h.Kind == crdt.KindDevice
	}
	if !paired {
		t.Error("the JSON export's history lost the changes to the devices")
	}
}

// TestExport_HelpNamesEveryKey: the help of 'export' names every key of
// the JSON export, in the order the export writes them.
func TestExport_HelpNamesEveryKey(t *testing.T) {
	help := strings.Join(strings.Fields(NewCmdExport(&Factory{}, nil).Long), " ")
	var keys []string
	for _, k := range crdt.Kinds() {
		if k.Export != "" {
			keys = append(keys, k.Export)
		}
	}
	want := strings.Join(keys[:len(keys)-1], ", ") + ", " + keys[len(keys)-1] + " and history"
	if !strings.Contains(help, "with the keys "+want+",") {
		t.Errorf("export --help does not name the keys as %q:\n%s", want, help)
	}
}
