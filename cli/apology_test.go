package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestApologyWrite_EditorFileAndHint(t *testing.T) {
	d := initDevice(t, "Sam", "sam-laptop")
	dir := t.TempDir()
	name := filepath.Join(dir, "name.txt")
	script := filepath.Join(dir, "editor.sh")
	// Records the name of the file it was given, then fails.
	writeFile(t, script, "#!/bin/sh\nbasename \"$1\" > '"+name+"'\nexit 3\n", 0o700)
	d.env["EDITOR"] = "sh " + script
	r := d.run("apology", "write", "--edit")
	checkFailure(t, r, ExitFailure, nil)
	contains(t, "stderr", r.errOut, "failed", "--happened TEXT")
	if strings.Contains(r.errOut, "--note") {
		t.Errorf("stderr %q suggests --note, a check-in flag", r.errOut)
	}
	b, err := os.ReadFile(name)
	must(t, err)
	if got := strings.TrimSpace(string(b)); !strings.HasPrefix(got, "trustsync-apology-") {
		t.Errorf("the editor's file is %q, want trustsync-apology-*", got)
	}
}
