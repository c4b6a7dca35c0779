package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestApp builds the example and runs it twice on the same directory, as a
// user would: the first run makes an encrypted home and pairs it, the
// second opens both homes again, finds them paired, and syncs a second
// moment; both runs show no readable text on disk and a refusal without
// the passphrase.
func TestApp(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "app")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	runApp := func() string {
		t.Helper()
		cmd := exec.Command(bin, "-dir", dir)
		cmd.Env = append(os.Environ(), "APP_PASSPHRASE=our long shared phrase")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("app: %v\n%s", err, out)
		}
		return string(out)
	}
	first := runApp()
	want := strings.Join([]string{
		"Alex's home is open (encrypted: true).",
		"Paired with Sam's sam-phone; both devices showed the same code.",
		`Sam's phone shows the moment "Dinner on the balcony, phones inside" by Alex (1 moment in all).`,
		"The moment's text is readable in Alex's files on disk: false.",
		"Opening Alex's home without the passphrase is refused as locked: true.",
	}, "\n") + "\n"
	if first != want {
		t.Fatalf("first run:\n%s\nwant:\n%s", first, want)
	}
	second := runApp()
	if strings.Contains(second, "Paired with") || !strings.Contains(second, "(2 moments in all).\n") ||
		!strings.Contains(second, "readable in Alex's files on disk: false.") {
		t.Fatalf("second run, on the same homes:\n%s", second)
	}
	cmd := exec.Command(bin, "-dir", dir)
	cmd.Env = append(os.Environ(), "APP_PASSPHRASE=not the phrase")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "wrong passphrase") {
		t.Fatalf("a run with a wrong passphrase: %v\n%s", err, out)
	}
}
