package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/trustsync/trustsync"
)

func TestErrorLine(t *testing.T) {
	const home = "/data/home"
	tests := []struct {
		name     string
		err      error
		want     string
		wantCode int
	}{
		{"usage", usageErrorf("missing ID"), "missing ID", ExitUsage},
		{"user", failf("the note is empty"), "the note is empty", ExitFailure},
		{"not initialised", fmt.Errorf("open space: %w", trustsync.ErrNotInitialized),
			"no space in /data/home: run 'trustsync init --name NAME' first", ExitFailure},
		{"already initialised", fmt.Errorf("create: %w", trustsync.ErrAlreadyInitialized),
			"/data/home already holds a space", ExitFailure},
		{"damaged with a hint", fmt.Errorf("read: %w", &trustsync.DamagedError{What: "chunk 3", Why: "checksum mismatch", Hint: "sync with your partner"}),
			"chunk 3 is damaged (checksum mismatch): sync with your partner", ExitFailure},
		{"damaged, plain", fmt.Errorf("crdt: view row: %w", trustsync.ErrDamaged),
			"the data in /data/home is damaged (view row)", ExitFailure},
		{"ambiguous", &trustsync.AmbiguousIDError{Prefix: "abcdef", Candidates: []string{"abcdefgh", "abcdefxy"}},
			`ID "abcdef" matches 2 items (abcdefgh, abcdefxy): type more of it`, ExitFailure},
		{"not found", fmt.Errorf("crdt: no document %q: %w", "goals", trustsync.ErrNotFound),
			`no document "goals"`, ExitFailure},
		{"busy", fmt.Errorf("update: %w", trustsync.ErrBusy),
			"another trustsync process is busy with /data/home: try again in a moment", ExitFailure},
		{"read-only", fmt.Errorf("edit: %w", trustsync.ErrReadOnly),
			"newer version of trustsync", ExitFailure},
		{"invalid", fmt.Errorf("crdt: the mood 9 is not within 1..5: %w", trustsync.ErrInvalid),
			"the mood 9 is not within 1..5", ExitFailure},
		{"interrupted", fmt.Errorf("write: %w", context.Canceled), "interrupted", ExitFailure},
		{"several lines", errors.New("first\nsecond"), "first; second", ExitFailure},
		{"check unavailable", fmt.Errorf("add boundary: %w", &trustsync.CheckUnavailableError{
			What: `document "boundaries"`, Why: "starting the checker: pipe2: too many open files"}),
			`cannot load document "boundaries" safely right now: the process that checks data before it is loaded could not run (starting the checker: pipe2: too many open files); nothing was changed: raise the open-file limit (ulimit -n) or free memory, then try again`,
			ExitFailure},
		{"check unavailable, plain", fmt.Errorf("sync: %w", trustsync.ErrCheckUnavailable),
			"cannot load the data safely right now: the process that checks data before it is loaded could not run", ExitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, code := ErrorLine(tt.err, home)
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d", code, tt.wantCode)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("line = %q, want it to contain %q", got, tt.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("line %q has a newline", got)
			}
			if strings.HasSuffix(got, ": "+trustsync.ErrInvalid.Error()) {
				t.Errorf("line %q ends with the sentinel's text", got)
			}
		})
	}
}

func TestLookupError(t *testing.T) {
	amb := fmt.Errorf("agree: %w", &trustsync.AmbiguousIDError{Prefix: "k3j4h5", Candidates: []string{"k3j4h5aaaaaaaaaa", "k3j4h5bbbbbbbbbb"}})
	got := lookupError(amb, "boundary", "k3j4h5", boundaryListAll)
	line, code := ErrorLine(got, "/h")
	if code != ExitFailure {
		t.Errorf("code = %d, want %d", code, ExitFailure)
	}
	want := `ID "k3j4h5" could mean 2 boundary items (k3j4h5aaaaaaaaaa, k3j4h5bbbbbbbbbb): type more of the ID`
	if line != want {
		t.Errorf("ambiguous: line = %q, want %q", line, want)
	}
	if !errors.Is(got, trustsync.ErrAmbiguous) {
		t.Error("the explained error no longer wraps ErrAmbiguous")
	}

	nf := fmt.Errorf("show: %w", trustsync.ErrNotFound)
	line, _ = ErrorLine(lookupError(nf, "check-in", "zzzzzz", checkinList), "/h")
	if want := `no check-in with ID "zzzzzz": see 'trustsync checkin list'`; line != want {
		t.Errorf("not found: line = %q, want %q", line, want)
	}

	other := errors.New("disk on fire")
	if got := lookupError(other, "goal", "x", goalListAll); got != other {
		t.Errorf("lookupError changed an unrelated error: %v", got)
	}
	if lookupError(nil, "goal", "x", goalListAll) != nil {
		t.Error("lookupError(nil) != nil")
	}
}

func TestCheckIDArg(t *testing.T) {
	for _, id := range []string{"", "a", "abcde", "  abcd  "} {
		if err := checkIDArg(id); err == nil || !errors.Is(err, trustsync.ErrInvalid) {
			t.Errorf("checkIDArg(%q) = %v, want an error wrapping ErrInvalid", id, err)
		}
	}
	for _, id := range []string{"abcdef", "abcdefghijklmnop"} {
		if err := checkIDArg(id); err != nil {
			t.Errorf("checkIDArg(%q) = %v, want nil", id, err)
		}
	}
}
