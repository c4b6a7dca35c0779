package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/trustsync/trustsync/crdt"
)

// noteTemplate opens the editor for a check-in note. Its comment lines are
// removed from what is saved.
const noteTemplate = `
# Write your check-in above these lines, in your own words, then save and
# close the editor.
#
# Starting from yourself often lands more gently: "I feel ... when ...",
# "I need ...", rather than "you always ...". Try to name what you feel,
# even when it is mixed -- relieved and wary, hopeful and tired.
# What would help you this week? Is there something you appreciated?
#
# Lines starting with # are left out. An empty note cancels the check-in
# and nothing is saved.
`

// editText lets the user write text in $EDITOR (default vi), starting from
// initial followed by template, and returns what they wrote without the
// comment lines. The editor talks to the terminal (/dev/tty) when there is
// one, so that standard output stays free for the new ID.
func (f *Factory) editText(ctx context.Context, initial, template string) (string, error) {
	return f.editTextFor(ctx, "checkin", "--note TEXT", initial, template)
}

// editTextFor is editText for a kind of text ("checkin", "apology"), which
// names the file, and the flag that gives the text without an editor, which
// the error of a failed editor suggests.
func (f *Factory) editTextFor(ctx context.Context, kind, flag, initial, template string) (string, error) {
	editor := strings.TrimSpace(f.Getenv("EDITOR"))
	// The default editor draws on a terminal. Without one it would garble
	// the output and fail; an EDITOR that was set may open a window of its
	// own, so it is trusted to know.
	if editor == "" && !f.IOStreams.StdinTTY {
		return "", failf("--edit opens the editor (vi), which needs a terminal, and there is none here: run it on a terminal, set EDITOR to an editor that opens its own window, or give %s", flag)
	}
	if editor == "" {
		editor = "vi"
	}
	tmp, err := os.CreateTemp("", "trustsync-"+kind+"-*.txt")
	if err != nil {
		return "", failf("cannot make a file for the editor: %v", err)
	}
	path := tmp.Name()
	// The note may be private until it is saved: never leave it behind.
	defer os.Remove(path)
	if _, err := io.WriteString(tmp, initial+template); err != nil {
		tmp.Close()
		return "", failf("cannot write %s: %v", path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", failf("cannot write %s: %v", path, err)
	}

	// Through the shell, so that EDITOR may carry arguments ("code --wait").
	cmd := exec.CommandContext(ctx, "sh", "-c", editor+` "$1"`, "trustsync-editor", path)
	// The editor draws on the terminal itself: give it the raw stream.
	errOut := rawWriter(f.IOStreams.ErrOut)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f.IOStreams.In, errOut, errOut
	if tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
		defer tty.Close()
		cmd.Stdin, cmd.Stdout = tty, tty
	}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		why := err.Error()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			why = fmt.Sprintf("it ended with status %d", exit.ExitCode())
		}
		return "", failf("the editor (%s) failed (%s): nothing was saved; set EDITOR to the editor you use, or give %s", editor, why, flag)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", failf("cannot read back %s: %v", path, err)
	}
	return stripComments(string(b)), nil
}

// stripComments removes lines starting with # and the blank lines around
// the text.
func stripComments(s string) string {
	var kept []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if strings.HasPrefix(line, "#") {
			continue
		}
		kept = append(kept, line)
	}
	return strings.TrimSpace(strings.Join(kept, "\n"))
}

// readAllText reads a note from a pipe, up to a generous limit.
func readAllText(r io.Reader) (string, error) {
	const limit = 1 << 20
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return "", failf("cannot read the note from standard input: %v", err)
	}
	if len(b) > limit {
		return "", failf("the note on standard input is longer than 1 MB, and a note holds at most %d characters: shorten it", crdt.MaxNoteLen)
	}
	return strings.TrimSpace(string(b)), nil
}
