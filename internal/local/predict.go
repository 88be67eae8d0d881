package local

import (
	"fmt"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/registry"
)

// Predict returns the instances a configuration would have under `up` on a
// fresh start, before anything runs: every Deployment replica as a ready
// pod named and placed as the Runner names and places it (loopback
// addresses 127.0.1.1, 127.0.1.2, … in the order of the Deployments), and
// every WorkloadEntry as written. `lanemesh explain` and the golden tests
// route on it; a running mesh replaces it with what its registry sees.
func Predict(c *config.Config) []registry.Instance {
	var out []registry.Instance
	n := 0
	for _, d := range c.Deployments {
		var ports map[string]uint32
		if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
			ports = containerPorts(cs[0]) // the one container local mode runs
		}
		for i := range d.Spec.ReplicaCount() {
			n++
			out = append(out, registry.Instance{
				Name:      fmt.Sprintf("%s-%d", d.Metadata.Name, i),
				Namespace: d.Metadata.Namespace,
				Owner:     "Deployment/" + d.Metadata.Name,
				Labels:    d.Spec.Template.Metadata.Labels,
				Address:   LoopbackAddress(n),
				Ports:     ports,
				Healthy:   true,
			})
		}
	}
	return append(out, registry.WorkloadEntries(c)...)
}

// LoopbackAddress returns the n-th (1-based) pod address of local mode:
// 127.0.1.1 … 127.0.1.250, 127.0.2.1, … Each pod gets its own address so
// that "ip:" differs per pod, as in a cluster.
func LoopbackAddress(n int) string {
	n--
	return fmt.Sprintf("127.0.%d.%d", 1+n/250, 1+n%250)
}
