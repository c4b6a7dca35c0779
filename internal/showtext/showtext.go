// Package showtext holds how trustsync shows things to a person, shared by
// the command line and the local web page so that both say the same: a
// partner's text made safe to show ([Escape]), times in words ([When]),
// where an agreement stands ([AgreementOf], [Agreement.Status]) and what a
// change of the history did ([ChangeWords]).
//
// # Showing a partner's text
//
// Text received from a partner is shown exactly as written, except for
// what a terminal or a page would act on instead of show. A modified
// client can store anything, and a carriage return, an escape sequence or
// a bidirectional override could otherwise hide words, rewrite the line
// above or reverse what follows, so that a partner agrees to wording they
// never saw. The command line ([Escape] on every human line) and the local
// web page (on every text it shows, before HTML escaping) show such
// characters the same way: control characters other than newline and tab
// as \xHH (\x1b for an escape), C1 controls and bidirectional overrides
// and isolates as <U+202E>, and bytes that are not UTF-8 as \xHH.
package showtext

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/trustsync/trustsync/crdt"
)

// Escape returns s with what a terminal would act on made visible, as the
// package doc says.
func Escape(s string) string {
	if Safe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteString(escapeRune(s[i:i+size], r, size))
		i += size
	}
	return b.String()
}

// escapeRune returns how the rune r, encoded as enc (size bytes), is shown.
func escapeRune(enc string, r rune, size int) string {
	switch {
	case r == utf8.RuneError && size == 1:
		return fmt.Sprintf(`\x%02x`, enc[0])
	case r == '\n' || r == '\t':
		return enc
	case r < 0x20 || r == 0x7f:
		return fmt.Sprintf(`\x%02x`, r)
	case unicode.IsControl(r) || crdt.IsBidiControl(r):
		return fmt.Sprintf("<%U>", r)
	}
	return enc
}

// Safe reports whether s has nothing Escape would change.
func Safe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return runesAreSafe(s[i:])
		}
		if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func runesAreSafe(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if escapeRune(s[i:i+size], r, size) != s[i:i+size] {
			return false
		}
		i += size
	}
	return true
}

// When says how long ago t was, the way a person would: "just now",
// "5 minutes ago", "yesterday", "3 days ago", a date for older times and
// for times ahead of now, "never" for the zero time.
func When(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		if -d < time.Minute {
			return "just now"
		}
		return t.Local().Format("2 Jan 2006 15:04")
	}
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, unit)
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d < 48*time.Hour:
		return "yesterday"
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	}
	return t.Local().Format("2 Jan 2006")
}
