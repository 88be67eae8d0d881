package local

import (
	"testing"

	"github.com/lanemesh/lanemesh/internal/config"
)

func TestPredict(t *testing.T) {
	c, diags := config.Load([]string{"../../examples/traffic-lanes"}, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	in := Predict(c)
	if len(in) != 9 {
		t.Fatalf("%d instances, want 9", len(in))
	}
	seen := map[string]bool{}
	for _, i := range in {
		if seen[i.Address] || !i.Healthy || i.Ports["8000"] != 8000 || i.Owner == "" {
			t.Errorf("instance %+v: duplicate address, unhealthy, no port 8000 or no owner", i)
		}
		seen[i.Address] = true
	}
	if LoopbackAddress(1) != "127.0.1.1" || LoopbackAddress(251) != "127.0.2.1" {
		t.Error("LoopbackAddress numbering changed")
	}
}
