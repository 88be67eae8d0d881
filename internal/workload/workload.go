// Package workload is the identity of a workload as Istio's telemetry
// names it: the workload (a Deployment, not a pod), its namespace, its
// canonical service and revision, and its cluster. The control plane puts
// it on every endpoint it sends (Istio's "istio" filter metadata, key
// "workload"); a proxy reads it back to label the requests it sends there,
// and builds its own from its pod's labels. The package is pure, so both
// ends of xDS share it without the data plane linking the compiler.
package workload

import "strings"

// Identity is a workload as Istio's standard metrics label it. Empty
// fields are unknown.
type Identity struct {
	Name      string // the workload: a Deployment's name, a WorkloadEntry's, or a pod's when it has no owner
	Namespace string
	// CanonicalService and CanonicalRevision are Istio's canonical
	// service and revision (see Canonical).
	CanonicalService, CanonicalRevision string
	Cluster                             string
}

// DefaultCluster is Istio's default cluster ID (istiod's --clusterID),
// the source_cluster and destination_cluster of a mesh that names none.
const DefaultCluster = "Kubernetes"

// MetadataNamespace and MetadataKey are where Istio's control plane puts a
// workload's identity in an endpoint's filter metadata, so a standard data
// plane's telemetry reads lanemesh's endpoints as it reads Istio's.
const (
	MetadataNamespace = "istio"
	MetadataKey       = "workload"
)

// Canonical returns Istio's canonical service and revision of a workload
// with these labels and name: the service.istio.io/canonical-name label,
// else app.kubernetes.io/name, else app, else the workload's name; the
// revision from service.istio.io/canonical-revision, else
// app.kubernetes.io/version, else version, else "latest".
func Canonical(labels map[string]string, name string) (service, revision string) {
	service = first(labels, "service.istio.io/canonical-name", "app.kubernetes.io/name", "app")
	if service == "" {
		service = name
	}
	revision = first(labels, "service.istio.io/canonical-revision", "app.kubernetes.io/version", "version")
	if revision == "" {
		revision = "latest"
	}
	return service, revision
}

func first(labels map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := labels[k]; v != "" {
			return v
		}
	}
	return ""
}

// NameFromOwner is the workload name of an instance whose owner is
// "Kind/name" (registry.Instance.Owner: "Deployment/mocka-v2",
// "WorkloadEntry/vm-1"): the owner's name, or pod when there is no owner.
func NameFromOwner(owner, pod string) string {
	if _, name, ok := strings.Cut(owner, "/"); ok && name != "" {
		return name
	}
	return pod
}

// Encode is the identity as Istio writes it in endpoint metadata:
// "name;namespace;canonical service;canonical revision;cluster".
func (id Identity) Encode() string {
	return strings.Join([]string{id.Name, id.Namespace, id.CanonicalService, id.CanonicalRevision, id.Cluster}, ";")
}

// Parse reads what Encode wrote. ok is false for anything else, which a
// proxy then reports as an unknown workload rather than guessing.
func Parse(s string) (id Identity, ok bool) {
	parts := strings.Split(s, ";")
	if len(parts) != 5 {
		return Identity{}, false
	}
	return Identity{Name: parts[0], Namespace: parts[1], CanonicalService: parts[2], CanonicalRevision: parts[3], Cluster: parts[4]}, true
}

// ServiceParts splits a Kubernetes service host, "name.namespace.svc.<domain>",
// into name and namespace, as Istio's destination_service_name and
// destination_service_namespace. Any other host (a ServiceEntry's) is its
// own name, in an unknown ("") namespace.
func ServiceParts(host string) (name, namespace string) {
	parts := strings.SplitN(host, ".", 4)
	if len(parts) >= 3 && parts[2] == "svc" && parts[0] != "" && parts[1] != "" {
		return parts[0], parts[1]
	}
	return host, ""
}
