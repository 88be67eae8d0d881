// Package registry describes the workloads the mesh routes to: running
// instances (pods of the local runner or Kubernetes, WorkloadEntries) with
// their labels, address, named ports and health.
//
// The compiler reads Instances to build endpoints; health changes only
// change Instances, never the configuration, so a flapping pod changes
// endpoint assignments and nothing else.
package registry

import (
	"fmt"
	"strings"

	"github.com/lanemesh/lanemesh/internal/config"
)

// Instance is one running workload: a pod or a WorkloadEntry.
type Instance struct {
	Name      string // pod or WorkloadEntry name
	Namespace string
	// Owner is what made the instance: "Deployment/mocka-v2",
	// "WorkloadEntry/vm-1".
	Owner   string
	Labels  map[string]string
	Address string // IP address
	// Ports maps port names to numbers: a pod's container ports by name
	// (unnamed ones by their number in decimal), or a WorkloadEntry's
	// ports, keyed by the name of the service port each serves.
	Ports map[string]uint32
	// Healthy is readiness: a pod that passed its readiness probe, a
	// WorkloadEntry that passed its active health check.
	Healthy bool
}

// FromConfig returns the instances a configuration describes when nothing is
// running yet: every Deployment replica as a healthy pod with the loopback
// address `lanemesh up` would give it on a fresh start (127.0.1.1,
// 127.0.1.2, … in namespace/name order), and every WorkloadEntry as written.
// `lanemesh explain` and the golden tests use it; a live registry replaces it.
func FromConfig(c *config.Config) []Instance {
	var out []Instance
	n := 0
	for _, d := range c.Deployments {
		ports := map[string]uint32{}
		for _, ctr := range d.Spec.Template.Spec.Containers {
			for _, p := range ctr.Ports {
				ports[fmt.Sprint(p.ContainerPort)] = p.ContainerPort
				if p.Name != "" {
					ports[p.Name] = p.ContainerPort
				}
			}
		}
		for i := range d.Spec.ReplicaCount() {
			n++
			out = append(out, Instance{
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
	return append(out, WorkloadEntries(c)...)
}

// IsWorkloadEntry reports whether the instance is a WorkloadEntry, whose
// Ports are keyed by service port name.
func (in Instance) IsWorkloadEntry() bool { return strings.HasPrefix(in.Owner, "WorkloadEntry/") }

// WorkloadEntries returns the configuration's WorkloadEntries as healthy
// instances: what a proxy compiled without a runner can reach, and what
// Probe starts from.
func WorkloadEntries(c *config.Config) []Instance {
	var out []Instance
	for _, w := range c.WorkloadEntries {
		out = append(out, Instance{Name: w.Metadata.Name, Namespace: w.Metadata.Namespace, Owner: "WorkloadEntry/" + w.Metadata.Name,
			Labels: w.Spec.Labels, Address: w.Spec.Address, Ports: w.Spec.Ports, Healthy: true})
	}
	return out
}

// LoopbackAddress returns the n-th (1-based) pod address of local mode:
// 127.0.1.1 … 127.0.1.250, 127.0.2.1, … Each pod gets its own address so
// that "ip:" differs per pod, as in a cluster.
func LoopbackAddress(n int) string {
	n--
	return fmt.Sprintf("127.0.%d.%d", 1+n/250, 1+n%250)
}
