package crdt

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustsync/trustsync"
)

// Text a partner writes is shown to the other on a terminal. A control
// character (a carriage return, an escape sequence) or a bidirectional
// override can make the words on screen differ from the words stored, so
// that a partner agrees to wording they never saw. The library refuses such
// text on input; a modified client can still store it, so the CLI also
// escapes what it prints.

// CheckText reports whether s is text the library accepts in a field: valid
// UTF-8, with no control character other than newline and tab (a CRLF line
// end counts as a newline) and no bidirectional override or isolate
// (U+202A..U+202E, U+2066..U+2069). With oneLine set, a newline or tab is
// refused too. what names the field in the error ("the boundary text"),
// which wraps [trustsync.ErrInvalid]. Positions in the error count
// characters from 1; for invalid UTF-8 they count bytes from 1.
func CheckText(what, s string, oneLine bool) error {
	pos := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		pos++
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Errorf("%s is not valid UTF-8 (byte %d): write it again as UTF-8 text: %w", what, i+1, trustsync.ErrInvalid)
		case r == '\n' || r == '\t' || (r == '\r' && strings.HasPrefix(s[i+1:], "\n")):
			if oneLine {
				return fmt.Errorf("%s must be one line, but it contains a %s at position %d: write it on one line: %w",
					what, map[rune]string{'\n': "line break", '\r': "line break", '\t': "tab"}[r], pos, trustsync.ErrInvalid)
			}
		case unicode.IsControl(r):
			return fmt.Errorf("%s contains a control character (%U) at position %d: remove it and try again: %w", what, r, pos, trustsync.ErrInvalid)
		case IsBidiControl(r):
			return fmt.Errorf("%s contains a bidirectional override character (%U) at position %d, which can make it read differently from what is stored: remove it and try again: %w", what, r, pos, trustsync.ErrInvalid)
		}
		i += size
	}
	return nil
}

// IsBidiControl reports whether r is a bidirectional embedding, override or
// isolate character (U+202A..U+202E, U+2066..U+2069).
func IsBidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// normalizeText trims s and turns CRLF line ends into newlines.
func normalizeText(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
}

// cleanText validates required free text given by a partner, which may run
// over several lines and have at most max characters, and returns it
// trimmed.
func cleanText(what, s string, max int) (string, error) {
	s, err := optionalText(what, s, max)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", fmt.Errorf("%s is empty: %w", what, trustsync.ErrInvalid)
	}
	return s, nil
}

// optionalText validates free text that may be empty and has at most max
// characters, and returns it trimmed.
func optionalText(what, s string, max int) (string, error) {
	if err := CheckText(what, s, false); err != nil {
		return "", err
	}
	s = normalizeText(s)
	if err := checkLen(what, s, max); err != nil {
		return "", err
	}
	return s, nil
}

// cleanLine validates a required one-line field (a name, a title) of at
// most max characters and returns it trimmed.
func cleanLine(what, s string, max int) (string, error) {
	s, err := optionalLine(what, s, max)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", fmt.Errorf("%s is empty: %w", what, trustsync.ErrInvalid)
	}
	return s, nil
}

// optionalLine validates a one-line field that may be empty, and returns it
// trimmed. Spaces, tabs and line breaks around it are trimmed first, so
// only those inside it are refused.
func optionalLine(what, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if err := CheckText(what, s, true); err != nil {
		return "", err
	}
	if err := checkLen(what, s, max); err != nil {
		return "", err
	}
	return s, nil
}

// CheckNames makes the checks [Create] makes on a member name and a device
// name before anything is written: the name is required, and each is one
// line of at most [MaxNameLen] characters, as [CheckText] accepts it. An
// empty device name passes ([Create] then uses the host name). A caller
// that prepares files before calling [Create] checks here first, so that a
// refused name leaves nothing behind. Errors wrap [trustsync.ErrInvalid].
func CheckNames(member, device string) error {
	name := strings.TrimSpace(member)
	if name == "" {
		return fmt.Errorf("a member name is required: %w", trustsync.ErrInvalid)
	}
	if err := CheckText("the name", name, true); err != nil {
		return err
	}
	if err := checkLen("the name", name, MaxNameLen); err != nil {
		return err
	}
	_, err := optionalLine("the device name", device, MaxNameLen)
	return err
}
