package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}, {Key: "vcs.time", Value: "2026-12-07T00:00:00Z"}}}
	in := FromBuildInfo(bi)
	if got, want := in.String(), "v0.3.0 (go1.26.8, 0123456789ab, modified)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if in.Time != "2026-12-07T00:00:00Z" {
		t.Errorf("Time = %q", in.Time)
	}
	if got := FromBuildInfo(&debug.BuildInfo{GoVersion: "go1.26.8"}).String(); got != "(devel) (go1.26.8)" {
		t.Errorf("a build without version or VCS: %q", got)
	}
}
