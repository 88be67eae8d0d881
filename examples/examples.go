// Package examples embeds the traffic-lane tutorial's objects, so that
// `lanemesh up` with no -f runs the tutorial anywhere the binary is.
package examples

import "embed"

// FS holds traffic-lanes/ (steps 1–4) and traffic-lanes-fallback/ (step 6).
//
//go:embed traffic-lanes/*.yaml traffic-lanes-fallback/*.yaml
var FS embed.FS

// Default is the directory of FS that `lanemesh up` runs by default.
const Default = "traffic-lanes"
