package cli

import (
	"testing"
	"time"

	"github.com/trustsync/trustsync"
)

func TestRelTime(t *testing.T) {
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.Local)
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{0, "just now"},
		{59 * time.Second, "just now"},
		{-30 * time.Second, "just now"},
		{time.Minute, "1 minute ago"},
		{90 * time.Second, "1 minute ago"},
		{45 * time.Minute, "45 minutes ago"},
		{time.Hour, "1 hour ago"},
		{23 * time.Hour, "23 hours ago"},
		{30 * time.Hour, "yesterday"},
		{2 * 24 * time.Hour, "2 days ago"},
		{29 * 24 * time.Hour, "29 days ago"},
		{40 * 24 * time.Hour, "10 Apr 2026"},
		{-2 * time.Hour, "20 May 2026 14:00"},
	}
	for _, tt := range tests {
		if got := relTime(now, now.Add(-tt.ago)); got != tt.want {
			t.Errorf("relTime(now - %v) = %q, want %q", tt.ago, got, tt.want)
		}
	}
	if got := relTime(now, time.Time{}); got != "never" {
		t.Errorf("relTime(zero) = %q, want never", got)
	}
}

func TestStripComments(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"# only a comment\n#another\n", ""},
		{"\n\nI feel hopeful.\n# hint\n", "I feel hopeful."},
		{"I feel tired.\n\nAnd I need rest.  \n# one\n# two\n", "I feel tired.\n\nAnd I need rest."},
		{"I am #1 at worrying\n", "I am #1 at worrying"},
		{"line\r\n# c\r\n", "line"},
	}
	for _, tt := range tests {
		if got := stripComments(tt.in); got != tt.want {
			t.Errorf("stripComments(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestJoinNames(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"Sam"}, "Sam"},
		{[]string{"Sam", "Alex"}, "Sam and Alex"},
		{[]string{"Sam", "Alex", "Kim"}, "Sam, Alex and Kim"},
	}
	for _, tt := range tests {
		if got := joinNames(tt.in); got != tt.want {
			t.Errorf("joinNames(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHeredoc(t *testing.T) {
	got := heredoc(`
		first line
		  indented
		last
	`)
	if want := "first line\n  indented\nlast"; got != want {
		t.Errorf("heredoc = %q, want %q", got, want)
	}
}

func TestAgreementStatus(t *testing.T) {
	sam := trustsync.Person{ID: "sam", Name: "Sam"}
	alex := trustsync.Person{ID: "alex", Name: "Alex"}
	paired := &roster{members: []trustsync.Member{{Person: sam}, {Person: alex}}}
	paired.self.MemberID = "sam"
	alone := &roster{members: []trustsync.Member{{Person: sam}}}
	alone.self.MemberID = "sam"
	now := []trustsync.Agreement{{By: sam, Current: true}}
	old := []trustsync.Agreement{{By: sam, Current: false}}
	both := []trustsync.Agreement{{By: sam, Current: true}, {By: alex, Current: true}}
	tests := []struct {
		name string
		r    *roster
		ags  []trustsync.Agreement
		want string
	}{
		{"paired, nobody", paired, nil, "waiting for you and Alex"},
		{"paired, me", paired, now, "agreed by you; waiting for Alex"},
		{"paired, the partner", paired, []trustsync.Agreement{{By: alex, Current: true}}, "agreed by Alex; waiting for you"},
		{"paired, an outdated agreement", paired, old, "waiting for you and Alex"},
		{"paired, both", paired, both, "agreed by both"},
		{"alone, nobody", alone, nil, "waiting for you and your partner"},
		{"alone, me", alone, now, "agreed by you; waiting for your partner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.r.agreement(trustsync.Boundary{Agreements: tt.ags}).status()
			if got != tt.want {
				t.Errorf("status = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPalette(t *testing.T) {
	if got := (palette{false}).green("ok"); got != "ok" {
		t.Errorf("colour off: %q", got)
	}
	on := palette{true}
	if got := on.green("ok"); got != "\x1b[32mok\x1b[0m" {
		t.Errorf("colour on: %q", got)
	}
	// Cells of one column must stay aligned whatever their colour.
	lens := map[int]bool{}
	for _, s := range []string{on.green("x"), on.yellow("x"), on.grey("x"), on.bold("x"), on.plain("x")} {
		lens[len(s)] = true
	}
	if len(lens) != 1 {
		t.Errorf("colour codes differ in length: %v", lens)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Minute:               "10m",
		time.Hour:                      "1h",
		90 * time.Minute:               "1h30m",
		30 * time.Second:               "30s",
		10*time.Minute + 5*time.Second: "10m5s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
