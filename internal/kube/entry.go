package kube

import "k8s.io/apimachinery/pkg/runtime/schema"

// lanemeshKinds are lanemesh's own kinds read from the cluster, with the
// version watched; the Istio kinds are in istioGroup.
var lanemeshKinds = map[string]schema.GroupVersionResource{
	"LaneEntryPolicy": {Group: "lanemesh.io", Version: "v1alpha1", Resource: "laneentrypolicies"},
}

// gvrOf is the resource a configuration kind is watched and reported on.
func gvrOf(kind string) schema.GroupVersionResource {
	if gvr, ok := lanemeshKinds[kind]; ok {
		return gvr
	}
	return istioGroup.WithResource(resourceOf[kind])
}
