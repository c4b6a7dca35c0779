package showtext

import (
	"testing"
	"time"

	"github.com/trustsync/trustsync"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"I call when late":            "I call when late",
		"two\nlines\tand a tab":       "two\nlines\tand a tab",
		"run \u202Eetal\u202C":        "run <U+202E>etal<U+202C>",
		"gone\r\x1b[2Kback":           `gone\x0d\x1b[2Kback`,
		"next\u0085line":              "next<U+0085>line",
		"bad \xff byte":               `bad \xff byte`,
		"<script>stays text</script>": "<script>stays text</script>",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
		if Safe(in) != (in == want) {
			t.Errorf("Safe(%q) = %v", in, Safe(in))
		}
	}
}

func TestWhen(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		30 * time.Second: "just now",
		5 * time.Minute:  "5 minutes ago",
		time.Hour:        "1 hour ago",
		30 * time.Hour:   "yesterday",
		72 * time.Hour:   "3 days ago",
	} {
		if got := When(now, now.Add(-d)); got != want {
			t.Errorf("When(-%v) = %q, want %q", d, got, want)
		}
	}
	if got := When(now, time.Time{}); got != "never" {
		t.Errorf("When(zero) = %q", got)
	}
}

func TestAgreement_Status(t *testing.T) {
	alex := trustsync.Person{ID: "a", Name: "Alex"}
	sam := trustsync.Person{ID: "s", Name: "Sam"}
	both := []trustsync.Member{{Person: sam}, {Person: alex}}
	agreed := func(ps ...trustsync.Person) []trustsync.Agreement {
		var out []trustsync.Agreement
		for _, p := range ps {
			out = append(out, trustsync.Agreement{By: p, Current: true})
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		as      []trustsync.Agreement
		members []trustsync.Member
		want    string
	}{
		{"before pairing", nil, []trustsync.Member{{Person: alex}}, "waiting for you and your partner"},
		{"before pairing, agreed", agreed(alex), []trustsync.Member{{Person: alex}}, "agreed by you; waiting for your partner"},
		{"nobody yet", nil, both, "waiting for you and Sam"},
		{"partner agreed", agreed(sam), both, "agreed by Sam; waiting for you"},
		{"both", agreed(sam, alex), both, "agreed by both"},
		{"an old agreement", []trustsync.Agreement{{By: sam, Current: false}}, both, "waiting for you and Sam"},
	} {
		if got := AgreementOf(tc.as, tc.members, alex.ID).Status(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestChangeWords(t *testing.T) {
	h := trustsync.Change{Kind: "boundary", Item: "3f2a91c0ffee", Action: "edit", Summary: "changed the words\nto new ones"}
	if got, want := ChangeWords(h), "boundary 3f2a91c0: changed the words; to new ones"; got != want {
		t.Errorf("ChangeWords = %q, want %q", got, want)
	}
	if got, want := ChangeWords(trustsync.Change{Kind: "goal", Action: "add"}), "add goal"; got != want {
		t.Errorf("ChangeWords without item or summary = %q, want %q", got, want)
	}
}
