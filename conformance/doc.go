// Package conformance holds lanemesh's agreement with Istio's own code, in
// a module of its own so that Istio's dependencies never enter lanemesh's
// go.mod. TestValidationAgreement runs Istio's validation (istio.io/istio/
// pkg/config/validation) beside lanemesh's analyzer on the same documents
// and fails on every disagreement that testdata/known-differences.txt
// does not explain. TestRoutingAgreement has Istio's pilot build each
// caller's routes for the rule scenarios and the tutorial, and checks that
// lanemesh's route table sends every request to the same cluster on
// pilot's routes as on lanemesh's own.
package conformance
