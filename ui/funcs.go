package ui

import (
	"embed"
	"html/template"
	"net/url"
	"strconv"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/internal/showtext"
)

// assets are the templates and the static files, embedded in the binary.
//
//go:embed assets
var assets embed.FS

// funcs are the functions the templates call.
var funcs = template.FuncMap{
	// show makes visible what a terminal would act on, as the command
	// line does; html/template then escapes the rest.
	"show": showtext.Escape,
	// when says when t was, relative to now.
	"when": func(now, t time.Time) string { return showtext.When(now, t) },
	// date is t as a full date and time, for a title.
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format("Monday 2 January 2006, 15:04")
	},
	"day":  func(t time.Time) string { return t.Local().Format("Monday 2 January") },
	"mood": func(m trustsync.Mood) string { return m.Word() },
	// val is what was typed in the field name before a refusal.
	"val": func(f url.Values, name string) string { return f.Get(name) },
	// valIs reports whether the field name was typed as v.
	"valIs": func(f url.Values, name, v string) bool { return f.Get(name) == v },
	// by names a person as this device's person reads it: "you" for
	// themselves.
	"by": func(self string, p trustsync.Person) string {
		if p.ID == self {
			return "you"
		}
		return showtext.Escape(p.Name)
	},
	// By is by at the start of a sentence: "You" for themselves.
	"By": func(self string, p trustsync.Person) string {
		if p.ID == self {
			return "You"
		}
		return showtext.Escape(p.Name)
	},
	"short": showtext.ShortID,
	"moods": func() []trustsync.Mood { return []trustsync.Mood{1, 2, 3, 4, 5} },
	"progress": func(g trustsync.Goal) string {
		done := 0
		for _, s := range g.Steps {
			if s.Done {
				done++
			}
		}
		switch {
		case len(g.Steps) == 0:
			return "No steps yet"
		case done == len(g.Steps):
			return "Every step done"
		case len(g.Steps) == 1:
			return "0 of 1 step done"
		}
		return strconv.Itoa(done) + " of " + strconv.Itoa(len(g.Steps)) + " steps done"
	},
	"acked": func(acks []trustsync.Ack, self string) bool {
		for _, a := range acks {
			if a.By.ID == self {
				return true
			}
		}
		return false
	},
}
