// Package conformance holds lanemesh's agreement with Istio's own code, in
// a module of its own so that Istio's dependencies never enter lanemesh's
// go.mod. Its tests run Istio's validation (istio.io/istio/pkg/config/
// validation) beside lanemesh's analyzer on the same documents and fail
// on every disagreement that testdata/known-differences.txt does not
// explain.
package conformance
