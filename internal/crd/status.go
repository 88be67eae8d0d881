package crd

import (
	"reflect"

	"github.com/lanemesh/lanemesh/api"
)

// status is the shape of what internal/kube's Reporter writes on a refused
// or accepted object (Istio's IstioStatus, plus the description lanemesh
// puts on each validation message: Istio's schema has no such field, so
// with Istio's CRD the apiserver would prune the one part that says what
// is wrong).
type status struct {
	Conditions []struct {
		Type               string          `json:"type"`
		Status             string          `json:"status"`
		Reason             string          `json:"reason"`
		Message            string          `json:"message"`
		LastProbeTime      string          `json:"lastProbeTime"`
		LastTransitionTime string          `json:"lastTransitionTime"`
		ObservedGeneration api.IntOrString `json:"observedGeneration"`
	} `json:"conditions"`
	ObservedGeneration api.IntOrString `json:"observedGeneration"`
	ValidationMessages []struct {
		Type struct {
			Code string `json:"code"`
			Name string `json:"name"`
		} `json:"type"`
		Level            string `json:"level"`
		Description      string `json:"description"`
		DocumentationURL string `json:"documentationUrl"`
	} `json:"validationMessages"`
}

// StatusSchema is the status schema of every kind. Like Istio's, it keeps
// fields it does not name (x-kubernetes-preserve-unknown-fields at the
// root): status is written by controllers, not users, and another
// controller's additions (Istio's distribution tracking, say) must not be
// pruned away; the fields lanemesh writes are named so that they are typed.
func StatusSchema() *Schema {
	s, err := schemaOf(reflect.TypeFor[status](), map[reflect.Type]bool{})
	if err != nil {
		panic("internal/crd: status type: " + err.Error()) // a bug in this file, caught by every test
	}
	s.PreserveUnknown = true
	for _, t := range []string{"lastProbeTime", "lastTransitionTime"} {
		s.Properties["conditions"].Items.Properties[t].Format = "date-time"
	}
	s.Properties["validationMessages"].Items.Properties["level"].Enum = []string{"UNKNOWN", "ERROR", "WARNING", "INFO"}
	return s
}
