// Package policy is what the router decides about a request beyond
// choosing its route (route.Table.Decide): its attempts (retries and the
// fallback member), the passive health of endpoints (outlier detection),
// and injected faults. It does no I/O and keeps no clock: the proxy makes
// each attempt and tells Attempts how it went, one attempt at a time, and
// Attempts says what comes next. So the rules are tested as tables of
// outcomes, and the proxy is only their driver.
//
// Everything here is compiled once from the Envoy resources a proxy
// receives (BuildRetry, BuildOutlier, BuildRouteFault), with Envoy's
// defaults filled in and what lanemesh does not implement refused, so that
// no request parses a protobuf.
package policy
