package proxycmd

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: the proxy's GC target applies when the environment sets
// neither GOGC nor GOMEMLIMIT, and a user's setting of either stands.
func TestTuneGC(t *testing.T) {
	const before = 137 // what the process ran with, as if from GOGC
	for name, tc := range map[string]struct {
		env  map[string]string
		want int
	}{
		"neither":    {map[string]string{}, proxyGOGC},
		"GOGC":       {map[string]string{"GOGC": "137"}, before},
		"GOGC=off":   {map[string]string{"GOGC": "off"}, before},
		"GOMEMLIMIT": {map[string]string{"GOMEMLIMIT": "64MiB"}, before},
	} {
		t.Run(name, func(t *testing.T) {
			restore := debug.SetGCPercent(before)
			defer debug.SetGCPercent(restore)
			tuneGC(func(k string) string { return tc.env[k] })
			if got := debug.SetGCPercent(before); got != tc.want {
				t.Errorf("GC percent %d, want %d", got, tc.want)
			}
		})
	}
}
