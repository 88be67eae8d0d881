// Package version says which build of lanemesh is running, from the build
// information the Go toolchain embeds (runtime/debug.ReadBuildInfo), so that
// `lanemesh version` can show the client's and the server's side by side.
package version

import (
	"runtime/debug"
)

// Info is one binary's build.
type Info struct {
	// Version is the main module's version: a tag for `go install
	// …@vX`, "(devel)" for a build from a checkout.
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
	// Revision, Time and Modified are the VCS state of a build from a
	// checkout ("" when the build recorded none).
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
}

// Get returns this binary's build.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown"}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo reads what Get reports from build information.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if in.Version == "" {
		in.Version = "(devel)" // a test binary has no main module version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String is the one-line form: "v1.2.0 (go1.26.8, 0123abcd, modified)".
func (in Info) String() string {
	s := in.Version + " (" + in.GoVersion
	if in.Revision != "" {
		rev := in.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += ", " + rev
		if in.Modified {
			s += ", modified"
		}
	}
	return s + ")"
}
