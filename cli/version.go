package cli

import (
	"runtime/debug"
	"strings"
)

// Version is the version the command reports. Empty, the default, reports
// the module version the binary was built from (see [BuildVersion]); a
// build may set it instead with -ldflags "-X ...cli.Version=v1.2.3".
var Version = ""

// BuildVersion returns the version of the trustsync module this binary was
// built from: the module version ("v1.2.3") when it was installed as a
// module; for a build from a checkout, "devel" with the commit and its time
// when the build recorded them ("devel 0123456789ab, 2026-12-06T09:00:00Z",
// "+dirty" for uncommitted changes); else "devel".
func BuildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return versionOf(info)
}

// versionOf is [BuildVersion] for given build information.
func versionOf(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, at string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	parts := []string{rev}
	if at != "" {
		parts = append(parts, at)
	}
	return "devel " + strings.Join(parts, ", ")
}

// version is what 'trustsync --version' prints after the name.
func version() string {
	if Version != "" {
		return Version
	}
	return BuildVersion()
}
