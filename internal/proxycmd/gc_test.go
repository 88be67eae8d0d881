package proxycmd

import (
	"errors"
	"runtime/debug"
	"testing"

	"github.com/lanemesh/lanemesh/internal/meshxds"
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

// TestTuneGCAfterFirst: the target changes only once a configuration is in
// force; a rejected one leaves it as it was.
func TestTuneGCAfterFirst(t *testing.T) {
	const before = 137
	restore := debug.SetGCPercent(before)
	defer debug.SetGCPercent(restore)
	reject := true
	apply := tuneGCAfterFirst(func(*meshxds.Resources) error {
		if reject {
			return errors.New("rejected")
		}
		return nil
	}, func(string) string { return "" })
	if err := apply(&meshxds.Resources{}); err == nil {
		t.Fatal("the rejection was not returned")
	}
	if got := debug.SetGCPercent(before); got != before {
		t.Errorf("after a rejected configuration: GC percent %d, want %d", got, before)
	}
	reject = false
	if err := apply(&meshxds.Resources{}); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(before); got != proxyGOGC {
		t.Errorf("after the first configuration: GC percent %d, want %d", got, proxyGOGC)
	}
	// Later updates leave the target alone (here: as a user might have set it since).
	if err := apply(&meshxds.Resources{}); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(before); got != before {
		t.Errorf("after a second configuration: GC percent %d, want %d", got, before)
	}
}
