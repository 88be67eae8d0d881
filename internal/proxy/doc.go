// Package proxy is lanemesh's HTTP data plane: the ingress gateway and the
// sidecar. It serves the Envoy v3 resources a proxy receives over ADS
// (meshxds.Resources: Listeners, RouteConfigurations, Clusters,
// ClusterLoadAssignments), speaking HTTP/1.1 through package h1.
//
// The contract, in the order a request meets it:
//
//   - Config is an immutable snapshot. Apply builds a complete new state
//     (route tables from route.New, clusters with their endpoints and load
//     balancing, listeners), checks every reference, and only then swaps it
//     in with one atomic store. A rejected update is the NACK: Apply returns
//     the error and the previous state keeps serving. The hot path loads the
//     snapshot once per request and never takes a lock to read it.
//   - Health lives beside config, not inside it. Active-request counters,
//     outlier-detection counters and ejections, and upstream connection pools
//     are kept in a store keyed by cluster name and endpoint address, so an
//     update (say, an endpoint added elsewhere) keeps them.
//   - Routing is route.Table.Decide, the function `lanemesh explain` runs, on
//     the request's authority, path and headers after hop-by-hop headers are
//     removed. The proxy adds only what Decide cannot know: which member of
//     an aggregate (fallback) cluster has a healthy endpoint right now.
//   - Attempts are package policy's decision, one attempt at a time
//     (policy.Attempts): a route whose cluster is an aggregate [primary,
//     fallback] sends to the first member with a healthy endpoint (EDS
//     HEALTHY or UNKNOWN, and not ejected); an attempt that fails before
//     any response byte, with a body that can be replayed, goes once more
//     to the next member, on top of the route's retries, and is flagged
//     FB. The proxy makes the attempts and keeps the live health they are
//     decided on (outlier detection: policy.Outlier).
//   - Consistent hashing (hashlb.go): a RING_HASH or MAGLEV cluster picks
//     by the route's hash policy (route.HashPolicy) on Envoy's tables
//     (package hashring), built over every endpoint the assignment lists;
//     an unusable endpoint's keys go to the next slot's endpoint.
//   - The CORS filter (cors.go) runs after the fault filter on routes that
//     forward: it answers preflights and adds the CORS headers to
//     responses, as route.CORS decides.
//   - Mirroring (mirror.go): copies of a request with a buffered body go
//     to the route's mirror clusters in the background, bounded in number
//     and time; drain waits for them.
//   - Responses the proxy makes itself use Envoy's response flags (NR, NC, UH,
//     UF, UC, UT, UO, URX, FI, DPE) in the status, a short text body and the
//     x-lanemesh-flags header, and in the access log and metrics.
//   - Metrics (telemetry.go) are Istio's standard request metrics with
//     Istio's labels, plus lane (the route header, else the subset the
//     route chose) and fallback, reported by the proxy that
//     sends the request (reporter="source"). The destination labels name
//     the workload of the endpoint that served it, from Istio's workload
//     metadata on the endpoint (package workload), so a fallback hop
//     names the fallback's version. A request finds its series in a
//     copy-on-write map, with no lock and no allocation.
//
// HTTP/1.1 on both sides is package h1's: the proxy is its Handler
// downstream (handler.go, one exchange reused per connection) and owns its
// upstream connections in per-endpoint keep-alive pools (pool.go), where
// each attempt is one h1.ClientConn.RoundTrip on the handler's goroutine.
// A reused connection that fails before any response byte is retried once
// on a fresh one, as net/http does.
//
// Every resource a client or an upstream can hold has a bound (Options,
// enforced by h1 and limits.go): request headers (ReadHeaderTimeout) and bodies (BodyTimeout,
// MinBodyRate), writes to a client that stops reading (WriteTimeout), an
// upstream exchange that stops moving (StreamIdleTimeout, 408 SI), and
// each listener's connections (MaxConnections, 503 OM past it). A drain
// can keep accepting (DrainTime) while a successor bound with ReusePort
// takes over, so that a restart refuses no connection.
package proxy
