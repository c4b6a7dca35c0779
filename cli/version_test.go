package cli

import (
	"runtime/debug"
	"testing"
)

func TestVersionOf(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name     string
		version  string
		settings []debug.BuildSetting
		want     string
	}{
		{"a released module", "v1.2.3", vcs("vcs.revision", "0123456789abcdef0123"), "v1.2.3"},
		{"a checkout with its commit", "(devel)", vcs("vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-12-06T09:00:00Z", "vcs.modified", "false"),
			"devel 0123456789ab, 2026-12-06T09:00:00Z"},
		{"a checkout with changes", "(devel)", vcs("vcs.revision", "0123456789abcdef0123", "vcs.modified", "true"), "devel 0123456789ab+dirty"},
		{"nothing recorded", "(devel)", nil, "devel"},
		{"no module version at all", "", nil, "devel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := &debug.BuildInfo{Main: debug.Module{Path: "github.com/trustsync/trustsync", Version: tt.version}, Settings: tt.settings}
			if got := versionOf(info); got != tt.want {
				t.Errorf("versionOf = %q, want %q", got, tt.want)
			}
		})
	}
}
