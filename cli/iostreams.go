package cli

import (
	"bytes"
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// IOStreams are the standard streams of a command, with what is known about
// the terminal behind them. Commands write only through them, so a test can
// capture everything a command prints.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	// StdinTTY reports whether In is an interactive terminal.
	StdinTTY bool
	// StdoutTTY reports whether Out is an interactive terminal.
	StdoutTTY bool
	// StderrTTY reports whether ErrOut is an interactive terminal: long
	// syncs then show their progress there on one rewritten line.
	StderrTTY bool
	// Color enables ANSI colours on Out.
	Color bool
}

// System returns the process's own streams. Colour is on only when standard
// output is a terminal and NO_COLOR is unset (https://no-color.org).
func System() *IOStreams {
	stdoutTTY := isTerminal(os.Stdout)
	_, noColor := os.LookupEnv("NO_COLOR")
	return &IOStreams{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		StdinTTY:  isTerminal(os.Stdin),
		StdoutTTY: stdoutTTY,
		StderrTTY: isTerminal(os.Stderr),
		Color:     stdoutTTY && !noColor && os.Getenv("TERM") != "dumb",
	}
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// TestStreams returns streams backed by buffers, none of them a terminal:
// in is what the command reads, out and errOut collect what it prints.
func TestStreams() (ios *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}
