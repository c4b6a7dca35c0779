package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runParsed runs cmd (built with a runF) under a root with args and returns
// the exit code and stderr, as Execute reports them.
func runParsed(t *testing.T, cmd *cobra.Command, args ...string) (int, string) {
	t.Helper()
	ios, _, _, errOut := TestStreams()
	f := NewFactory(ios)
	f.Getenv = func(string) string { return "" }
	root := &cobra.Command{Use: "trustsync", SilenceErrors: true, SilenceUsage: true}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &UsageError{Err: err} })
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	root.AddCommand(cmd)
	code := Execute(context.Background(), f, root, args)
	return code, errOut.String()
}

func TestNewCmdInit_Flags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		check    func(t *testing.T, o *InitOptions)
	}{
		{"name and device", []string{"--name", "Sam", "--device", "laptop"}, ExitOK, func(t *testing.T, o *InitOptions) {
			if o.Name != "Sam" || o.Device != "laptop" || o.ListenGiven || o.NoMDNS {
				t.Errorf("parsed %+v", o)
			}
		}},
		{"listen twice and no mdns", []string{"--name", "Sam", "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1", "--no-mdns"}, ExitOK,
			func(t *testing.T, o *InitOptions) {
				if !o.ListenGiven || len(o.Listen) != 2 || !o.NoMDNS {
					t.Errorf("parsed %+v", o)
				}
			}},
		{"no name", nil, ExitUsage, nil},
		{"blank name", []string{"--name", "  "}, ExitUsage, nil},
		{"bad listen", []string{"--name", "Sam", "--listen", "/ip4/127.0.0.1/udp/0"}, ExitUsage, nil},
		{"an argument", []string{"--name", "Sam", "extra"}, ExitUsage, nil},
		{"unknown flag", []string{"--name", "Sam", "--colour"}, ExitUsage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *InitOptions
			cmd := NewCmdInit(&Factory{}, func(o *InitOptions) error { got = o; return nil })
			code, stderr := runParsed(t, cmd, append([]string{"init"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if tt.wantCode == ExitUsage {
				if got != nil {
					t.Error("the command ran despite wrong usage")
				}
				if !strings.Contains(stderr, "see 'trustsync init --help'") {
					t.Errorf("stderr %q does not point to the help", stderr)
				}
				return
			}
			tt.check(t, got)
		})
	}
}

func TestNewCmdCheckinAdd_Flags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		check    func(t *testing.T, o *CheckinAddOptions)
	}{
		{"mood and feelings", []string{"--mood", "4", "--feeling", "hopeful", "-f", "tired"}, ExitOK, func(t *testing.T, o *CheckinAddOptions) {
			if o.Mood != 4 || strings.Join(o.Feelings, ",") != "hopeful,tired" || o.NoteGiven || o.Edit {
				t.Errorf("parsed %+v", o)
			}
		}},
		{"empty note given", []string{"-m", "1", "--note", ""}, ExitOK, func(t *testing.T, o *CheckinAddOptions) {
			if !o.NoteGiven || o.Note != "" {
				t.Errorf("parsed %+v", o)
			}
		}},
		{"sections", []string{"-m", "3", "--needs", "rest", "--concerns", "money", "--appreciation", "the tea", "--edit"}, ExitOK,
			func(t *testing.T, o *CheckinAddOptions) {
				if o.Needs != "rest" || o.Concerns != "money" || o.Appreciation != "the tea" || !o.Edit {
					t.Errorf("parsed %+v", o)
				}
			}},
		{"no mood", []string{"--note", "hi"}, ExitUsage, nil},
		{"mood 0", []string{"--mood", "0"}, ExitUsage, nil},
		{"mood 6", []string{"--mood", "6"}, ExitUsage, nil},
		{"mood -1", []string{"--mood=-1"}, ExitUsage, nil},
		{"mood word", []string{"--mood", "good"}, ExitUsage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *CheckinAddOptions
			cmd := NewCmdCheckinAdd(&Factory{}, func(o *CheckinAddOptions) error { got = o; return nil })
			code, stderr := runParsed(t, cmd, append([]string{"add"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if tt.check != nil {
				tt.check(t, got)
			} else if got != nil {
				t.Error("the command ran despite wrong usage")
			}
		})
	}
}

func TestNewCmdExport_Flags(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{}, ExitOK, ""},
		{[]string{"--format", "markdown", "--out", "x.md"}, ExitOK, ""},
		{[]string{"--format", "automerge", "-o", "dir"}, ExitOK, ""},
		{[]string{"--format", "automerge"}, ExitUsage, "needs --out DIR"},
		{[]string{"--format", "pdf"}, ExitUsage, `not "pdf"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ran := false
			cmd := NewCmdExport(&Factory{}, func(o *ExportOptions) error { ran = true; return nil })
			code, stderr := runParsed(t, cmd, append([]string{"export"}, tt.args...)...)
			if code != tt.wantCode || ran != (tt.wantCode == ExitOK) || !strings.Contains(stderr, tt.wantErr) {
				t.Fatalf("exit %d, ran %v, stderr %q; want exit %d and %q", code, ran, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestNewCmdHistory_Flags(t *testing.T) {
	var got *HistoryOptions
	cmd := NewCmdHistory(&Factory{}, func(o *HistoryOptions) error { got = o; return nil })
	if code, stderr := runParsed(t, cmd, "history", "-n", "3", "--json"); code != ExitOK || got.Limit != 3 || !got.JSON {
		t.Fatalf("exit %d, %+v, %q", code, got, stderr)
	}
	got = nil
	cmd = NewCmdHistory(&Factory{}, func(o *HistoryOptions) error { got = o; return nil })
	if code, _ := runParsed(t, cmd, "history", "--limit", "-2"); code != ExitUsage || got != nil {
		t.Fatalf("--limit -2: exit %d, ran %v", code, got != nil)
	}
}

func TestNewCmdGoalEdit_NeedsAChange(t *testing.T) {
	ran := false
	cmd := NewCmdGoalEdit(&Factory{}, func(*GoalEditOptions) error { ran = true; return nil })
	if code, _ := runParsed(t, cmd, "edit", "abcdefgh"); code != ExitUsage || ran {
		t.Fatalf("exit %d, ran %v; want exit 2 without running", code, ran)
	}
	var got *GoalEditOptions
	cmd = NewCmdGoalEdit(&Factory{}, func(o *GoalEditOptions) error { got = o; return nil })
	if code, _ := runParsed(t, cmd, "edit", "abcdefgh", "--why", ""); code != ExitOK || !got.SetWhy || got.SetTitle {
		t.Fatalf("exit %d, %+v", code, got)
	}
}

func TestRoot_UsageErrors(t *testing.T) {
	d := newDevice(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "trustsync": see 'trustsync --help'`},
		{[]string{"boundary", "lst"}, `(did you mean "list"?)`},
		{[]string{"boundary", "list", "--bogus"}, "unknown flag: --bogus: see 'trustsync boundary list --help'"},
		{[]string{"boundary", "add"}, "missing TEXT"},
		{[]string{"boundary", "add", "two", "words"}, `unexpected argument "words"`},
		{[]string{"boundary", "edit", "abcdef"}, "missing TEXT"},
		{[]string{"goal", "step"}, "missing ID and TEXT"},
		{[]string{"checkin", "ack"}, "missing ID"},
		{[]string{"status", "now"}, `unexpected argument "now"`},
		{[]string{"completion"}, "missing SHELL"},
		{[]string{"completion", "tcsh"}, `unknown shell "tcsh"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := d.run(tt.args...)
			checkFailure(t, r, ExitUsage, tt.args)
			if !strings.Contains(r.errOut, tt.want) {
				t.Errorf("stderr %q, want it to contain %q", r.errOut, tt.want)
			}
			if r.out != "" {
				t.Errorf("stdout %q, want nothing", r.out)
			}
		})
	}
	if _, err := os.Stat(d.home); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("wrong usage created the home: %v", err)
	}
}

func TestRoot_HelpOnEveryCommand(t *testing.T) {
	f := NewFactory(&IOStreams{})
	root := NewCmdRoot(f)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		t.Run(c.CommandPath(), func(t *testing.T) {
			if c.Short == "" || c.Long == "" || c.Example == "" {
				t.Errorf("%s lacks a Short, Long or Example", c.CommandPath())
			}
			if !strings.Contains(c.Example, "$ trustsync ") {
				t.Errorf("%s: examples do not show a command line: %q", c.CommandPath(), c.Example)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for _, want := range []string{"not for relationships where someone is afraid", "Hotline", "no server", "score"} {
		if !strings.Contains(root.Long, want) {
			t.Errorf("root help does not say %q", want)
		}
	}
}

func TestRoot_HelpAndVersion(t *testing.T) {
	d := newDevice(t)
	r := d.run("--help")
	if r.code != ExitOK || !strings.Contains(r.out, "boundary") || !strings.Contains(r.out, "Setting up:") {
		t.Fatalf("--help: exit %d, stdout %q", r.code, r.out)
	}
	r = d.run("boundary")
	if r.code != ExitOK || !strings.Contains(r.out, "Available Commands") {
		t.Fatalf("boundary: exit %d, stdout %q", r.code, r.out)
	}
	r = d.run("--version")
	if r.code != ExitOK || !strings.HasPrefix(r.out, "trustsync ") {
		t.Fatalf("--version: exit %d, stdout %q", r.code, r.out)
	}
}

func TestFactory_Home(t *testing.T) {
	tests := []struct {
		name string
		flag string
		env  map[string]string
		want string
	}{
		{"flag first", "/a", map[string]string{"TRUSTSYNC_HOME": "/b", "XDG_DATA_HOME": "/c", "HOME": "/d"}, "/a"},
		{"TRUSTSYNC_HOME", "", map[string]string{"TRUSTSYNC_HOME": "/b", "XDG_DATA_HOME": "/c", "HOME": "/d"}, "/b"},
		{"XDG_DATA_HOME", "", map[string]string{"XDG_DATA_HOME": "/c", "HOME": "/d"}, "/c/trustsync"},
		{"relative XDG_DATA_HOME is ignored", "", map[string]string{"XDG_DATA_HOME": "rel", "HOME": "/d"}, "/d/.local/share/trustsync"},
		{"HOME", "", map[string]string{"HOME": "/d"}, "/d/.local/share/trustsync"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFactory(&IOStreams{})
			f.HomeFlag = tt.flag
			f.Getenv = func(k string) string { return tt.env[k] }
			got, err := f.Home()
			if err != nil || got != tt.want {
				t.Fatalf("Home() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("relative flag becomes absolute", func(t *testing.T) {
		f := NewFactory(&IOStreams{})
		f.HomeFlag = "rel/home"
		got, err := f.Home()
		if err != nil || !filepath.IsAbs(got) || !strings.HasSuffix(got, "rel/home") {
			t.Fatalf("Home() = %q, %v", got, err)
		}
	})
}

func TestCompletion(t *testing.T) {
	d := newDevice(t)
	for shell, want := range map[string]string{
		"bash":       "__start_trustsync",
		"zsh":        "#compdef trustsync",
		"fish":       "complete -c trustsync",
		"powershell": "Register-ArgumentCompleter",
	} {
		r := d.run("completion", shell)
		if r.code != ExitOK || !strings.Contains(r.out, want) {
			t.Errorf("completion %s: exit %d, output lacks %q", shell, r.code, want)
		}
	}
}
