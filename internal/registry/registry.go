// Package registry describes the workloads the mesh routes to: running
// instances (pods of the local runner or Kubernetes, WorkloadEntries) with
// their labels, address, named ports and health, and the View that merges
// the sources of a mode (the local runner's pods or Kubernetes' endpoints,
// and probed WorkloadEntries) into the one list the control plane compiles
// from. Where instances come from and how they are addressed is the
// sources' business (internal/local, internal/kube); nothing here knows.
//
// The compiler reads Instances to build endpoints; health changes only
// change Instances, never the configuration, so a flapping pod changes
// endpoint assignments and nothing else.
package registry

import (
	"maps"
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

// Equal reports whether two instances are the same in every field.
func (in Instance) Equal(o Instance) bool {
	return in.Name == o.Name && in.Namespace == o.Namespace && in.Owner == o.Owner && in.Address == o.Address &&
		in.Healthy == o.Healthy && maps.Equal(in.Labels, o.Labels) && maps.Equal(in.Ports, o.Ports)
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
