package cli

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestNewCmdUI_Flags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		check    func(t *testing.T, o *UIOptions)
	}{
		{"defaults", nil, ExitOK, func(t *testing.T, o *UIOptions) {
			if o.Port != 0 || o.NoOpen || o.Listen != nil {
				t.Errorf("parsed %+v", o)
			}
		}},
		{"port and no-open", []string{"--port", "8421", "--no-open"}, ExitOK, func(t *testing.T, o *UIOptions) {
			if o.Port != 8421 || !o.NoOpen {
				t.Errorf("parsed %+v", o)
			}
		}},
		{"listen", []string{"--listen", "/ip4/127.0.0.1/tcp/0"}, ExitOK, func(t *testing.T, o *UIOptions) {
			if len(o.Listen) != 1 {
				t.Errorf("parsed %+v", o)
			}
		}},
		{"port out of range", []string{"--port", "70000"}, ExitUsage, nil},
		{"negative port", []string{"--port", "-1"}, ExitUsage, nil},
		{"port not a number", []string{"--port", "eighty"}, ExitUsage, nil},
		{"bad listen", []string{"--listen", "/ip4/127.0.0.1/udp/0"}, ExitUsage, nil},
		{"an argument", []string{"extra"}, ExitUsage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *UIOptions
			cmd := NewCmdUI(&Factory{}, func(o *UIOptions) error { got = o; return nil })
			code, stderr := runParsed(t, cmd, append([]string{"ui"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if tt.wantCode == ExitUsage {
				if got != nil {
					t.Error("the command ran despite wrong usage")
				}
				if !strings.Contains(stderr, "see 'trustsync ui --help'") {
					t.Errorf("stderr %q does not point to the help", stderr)
				}
				return
			}
			tt.check(t, got)
		})
	}
}

// TestUI_NoHome: without a home, ui says so as every command does, and
// serves nothing.
func TestUI_NoHome(t *testing.T) {
	ios, _, out, errOut := TestStreams()
	f := NewFactory(ios)
	dir := filepath.Join(t.TempDir(), "none")
	f.Getenv = func(k string) string {
		if k == "TRUSTSYNC_HOME" {
			return dir
		}
		return ""
	}
	code := Execute(context.Background(), f, NewCmdRoot(f), []string{"ui", "--no-open"})
	if code != ExitFailure || out.Len() != 0 || !strings.Contains(errOut.String(), "trustsync init") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}

// TestSystemBrowser_NoDisplay: without a display there is no browser to
// open, which is no failure.
func TestSystemBrowser_NoDisplay(t *testing.T) {
	if open := systemBrowser(func(string) string { return "" }); open != nil && runtime.GOOS != "darwin" {
		t.Errorf("a browser opener without a display")
	}
}
