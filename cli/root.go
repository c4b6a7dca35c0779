package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// NewCmdRoot returns the trustsync command with every subcommand added.
func NewCmdRoot(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trustsync <command> [flags]",
		Short: "Boundaries, goals and check-ins for a couple rebuilding trust",
		Long: heredoc(`
			trustsync keeps what the two of you agree on -- the boundaries you set,
			the goals you share, the check-ins you write to each other -- on your own
			devices, and syncs it directly between them, with no server in between.

			Both of you have exactly the same powers: everything one of you writes,
			the other can read, and every change shows who made it, when, and on
			which device. Nothing here tracks where someone is, what they do on
			their phone, or turns your relationship into a score.

			trustsync is not for relationships where someone is afraid, controlled
			or hurt. If that is you, please talk to people who can help: in the US
			the National Domestic Violence Hotline (1-800-799-7233, thehotline.org);
			elsewhere, your local emergency number or a domestic abuse helpline.

			Each home directory is one device. It is --home, else $TRUSTSYNC_HOME,
			else $XDG_DATA_HOME/trustsync, else ~/.local/share/trustsync.

			Exit codes: 0 success, 1 failure, 2 wrong usage (unknown flag or
			command, missing argument, flag value out of range).
		`),
		Example: examples(`
			$ trustsync init --name Sam
			$ trustsync boundary add "I tell you when I am in touch with my ex"
			$ trustsync checkin add --mood 3 --feeling hopeful --feeling tired
			$ trustsync status
		`),
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgsOrUnknownCommand,
		// An empty --home (an unset variable in a script, say) would
		// otherwise mean the default home: a script meant for a test home
		// would write to the real one.
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("home") && strings.TrimSpace(f.HomeFlag) == "" {
				return usageErrorf("--home is empty: give the DIR of this device's data, or leave --home out for the default")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	// Everything printed for a person goes through escapeText (format.go).
	f.IOStreams.Out = escapeOutput(f.IOStreams.Out, f.IOStreams.Color)
	f.IOStreams.ErrOut = escapeOutput(f.IOStreams.ErrOut, f.IOStreams.Color)
	cmd.SetIn(f.IOStreams.In)
	cmd.SetOut(f.IOStreams.Out)
	cmd.SetErr(f.IOStreams.ErrOut)
	cmd.SetFlagErrorFunc(flagError)
	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.SetVersionTemplate("trustsync {{.Version}}\n")
	cmd.PersistentFlags().StringVar(&f.HomeFlag, "home", "", "the `DIR` that holds this device's data")

	groups := []*cobra.Group{
		{ID: "setup", Title: "Setting up:"},
		{ID: "docs", Title: "What you share:"},
		{ID: "practices", Title: "Practices of rebuilding trust:"},
		{ID: "private", Title: "What stays yours:"},
		{ID: "sync", Title: "Devices and sync:"},
	}
	// Every subcommand is added here, and only here.
	for _, c := range []struct {
		group string
		cmd   *cobra.Command
	}{
		{"setup", NewCmdInit(f, nil)},
		{"setup", NewCmdStatus(f, nil)},
		{"setup", NewCmdUI(f, nil)},
		{"docs", NewCmdBoundary(f)},
		{"docs", NewCmdGoal(f)},
		{"docs", NewCmdCheckin(f)},
		{"docs", NewCmdHistory(f, nil)},
		{"docs", NewCmdExport(f, nil)},
		{"practices", NewCmdCommit(f)},
		{"practices", NewCmdApology(f)},
		{"practices", NewCmdSetback(f)},
		{"practices", NewCmdRhythm(f)},
		{"practices", NewCmdDue(f, nil)},
		{"practices", NewCmdAsk(f, nil)},
		{"practices", NewCmdAnswer(f, nil)},
		{"practices", NewCmdQuestions(f, nil)},
		{"practices", NewCmdMoment(f)},
		{"private", NewCmdJournal(f)},
		{"private", NewCmdLock(f)},
		{"private", NewCmdUnlock(f)},
		// The sync commands (pair, serve, sync, devices, unpair) join the
		// "sync" group here.
		{"sync", NewCmdServe(f, nil)},
		{"sync", NewCmdSync(f, nil)},
		{"sync", NewCmdPair(f, nil)},
		{"sync", NewCmdDevices(f, nil)},
		{"sync", NewCmdUnpair(f, nil)},
		{"", NewCmdCompletion(f)},
	} {
		c.cmd.GroupID = c.group
		cmd.AddCommand(c.cmd)
	}
	for _, g := range groups {
		for _, c := range cmd.Commands() {
			if c.GroupID == g.ID {
				cmd.AddGroup(g)
				break
			}
		}
	}
	return cmd
}

// Execute runs cmd with args and returns the exit code. It writes any error
// as one line on standard error, closes what the factory opened, and never
// panics on a command's error.
func Execute(ctx context.Context, f *Factory, cmd *cobra.Command, args []string) int {
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	flushEscapes(f.IOStreams.Out)
	flushEscapes(f.IOStreams.ErrOut)
	closeErr := f.Close()
	if err == nil && closeErr != nil {
		err = closeErr
	}
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, errSilent) {
		return ExitFailure
	}
	if isCobraUsageError(err) {
		err = &UsageError{Err: err}
	}
	home, _ := f.Home()
	msg, code := ErrorLine(err, home)
	if code == ExitUsage {
		msg += ": see 'trustsync " + helpPath(cmd, args) + "--help'"
	}
	fmt.Fprintf(f.IOStreams.ErrOut, "trustsync: %s\n", msg)
	flushEscapes(f.IOStreams.ErrOut)
	return code
}

// isCobraUsageError recognises the usage errors cobra makes itself, which
// are plain errors.
func isCobraUsageError(err error) bool {
	var usage *UsageError
	if errors.As(err, &usage) {
		return false
	}
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "required flag", "invalid argument", "flag needs an argument", "accepts ", "requires "} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// helpPath returns the path of the subcommand args name, with a trailing
// space, to point to its help ("boundary add ").
func helpPath(root *cobra.Command, args []string) string {
	c, _, err := root.Find(args)
	if err != nil || c == nil || c == root {
		return ""
	}
	return strings.TrimPrefix(c.CommandPath(), root.Name()+" ") + " "
}

// flagError explains a flag that could not be parsed. A mistyped
// subcommand comes first: in "trustsync boundry add --json" the flag is
// only unknown because "boundry" is, so that is what is named, with a
// suggestion. A value of the wrong type is told in words, without the
// parser's own ("strconv.ParseInt: ...").
func flagError(c *cobra.Command, err error) error {
	if c.HasSubCommands() {
		if args := c.Flags().Args(); len(args) > 0 {
			return noArgsOrUnknownCommand(c, args)
		}
	}
	var bad *pflag.InvalidValueError
	if errors.As(err, &bad) {
		return &UsageError{Err: &flagValueError{flag: bad.GetFlag(), value: bad.GetValue(), err: err}}
	}
	return &UsageError{Err: err}
}

// flagValueError is a flag given a value of the wrong type. It keeps the
// parser's error for errors.Is and errors.As.
type flagValueError struct {
	flag  *pflag.Flag
	value string
	err   error
}

func (e *flagValueError) Error() string {
	want := ""
	switch e.flag.Value.Type() {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		want = "a whole number, as in --" + e.flag.Name + " 3"
	case "float32", "float64":
		want = "a number, as in --" + e.flag.Name + " 1.5"
	case "duration":
		want = "a duration, as in --" + e.flag.Name + " 30s or 2m"
	case "bool":
		want = "--" + e.flag.Name + " alone, or --" + e.flag.Name + "=true or --" + e.flag.Name + "=false"
	default:
		return fmt.Sprintf("--%s %q is not valid", e.flag.Name, e.value)
	}
	return fmt.Sprintf("--%s %q is not valid: give %s", e.flag.Name, e.value, want)
}

func (e *flagValueError) Unwrap() error { return e.err }

// noArgsOrUnknownCommand refuses arguments to a command that only groups
// subcommands.
func noArgsOrUnknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		return usageErrorf("unknown command %q for %q (did you mean %q?)", args[0], cmd.CommandPath(), s[0])
	}
	return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
}

// exactArgs requires exactly the named arguments, so that a missing one is
// named in the error.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usageErrorf("missing %s", strings.Join(names[len(args):], " and "))
		case len(args) > len(names):
			return usageErrorf("unexpected argument %q (put text with spaces in quotes)", args[len(names)])
		}
		return nil
	}
}

// newGroupCmd returns a command that only groups subcommands.
func newGroupCmd(use, short, long, example string) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: examples(example),
		Args:    noArgsOrUnknownCommand,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
}

// examples formats the Examples section of a help text: indented under its
// heading, as cobra prints it verbatim.
func examples(s string) string {
	return indent(heredoc(s), "  ")
}

// heredoc removes the common indentation and the surrounding blank lines of
// a help text written as an indented raw string.
func heredoc(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range lines {
		if len(l) >= indent && indent > 0 {
			lines[i] = l[indent:]
		} else {
			lines[i] = strings.TrimLeft(l, " \t")
		}
	}
	return strings.TrimRight(strings.Join(lines, "\n"), " \t\n")
}
