// Package kube is Kubernetes mode's sources: client-go informers that keep
// the control plane's Store in step with the cluster's Istio objects
// (DestinationRule, VirtualService, Gateway, ServiceEntry, WorkloadEntry),
// Services and Deployments, and its registry View with the cluster's pods
// and EndpointSlices; a Reporter that writes findings on the objects
// themselves (status and Events); and leader election, so that several
// replicas serve xDS while one writes.
//
// Istio objects go through the same strict loader and analyzer as files: an
// object either loader refuses is left out and reported on itself, and the
// last good version of it stays in force.
package kube
