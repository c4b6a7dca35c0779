package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestREADME_TwoDevicesOnOneMachine runs the README's recipe for two
// devices on one machine, as a reader would paste it into a shell, against
// this build of the command: the recipe in the README is the one that is
// tested, so it cannot drift from what the command does.
func TestREADME_TwoDevicesOnOneMachine(t *testing.T) {
	recipe := readmeBlock(t, "### Two devices on one machine")
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/readme",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			return os.WriteFile(filepath.Join(env.WorkDir, "recipe.sh"), []byte("set -eu\n"+recipe), 0o600)
		},
	})
}

// readmeBlock returns the first ```sh block after the heading in the
// repository's README.md.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no heading %q", heading)
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatalf("README.md has no sh block after %q", heading)
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatalf("README.md: the sh block after %q does not end", heading)
	}
	return block
}
