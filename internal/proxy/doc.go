// Package proxy is lanemesh's HTTP data plane: the ingress gateway and the
// sidecar. It serves the Envoy v3 resources a proxy receives over ADS
// (compile.Resources: Listeners, RouteConfigurations, Clusters,
// ClusterLoadAssignments) with net/http on both sides.
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
//   - Fallback: a route whose cluster is an aggregate [primary, fallback]
//     sends to the first member with a healthy endpoint (EDS HEALTHY or
//     UNKNOWN, and not ejected). If an attempt on a member fails before any
//     response byte (refused, reset, connect timeout) and the request body can
//     be replayed, the request is sent once more to the next member, on top of
//     the route's retries. A request the fallback served is flagged FB.
//   - Responses the proxy makes itself use Envoy's response flags (NR, NC, UH,
//     UF, UC, UT, UO, URX, FI, DPE) in the status, a short text body and the
//     x-lanemesh-flags header, and in the access log and metrics.
//
// Forwarding uses http.Transport.RoundTrip directly, one tuned Transport per
// cluster, rather than httputil.ReverseProxy: retries, the fallback attempt,
// per-try timeouts, circuit breakers and outlier detection all work per
// attempt, which ReverseProxy's single RoundTrip does not expose, and
// ReverseProxy clones every request's header map. The inbound request is
// rewritten in place for the first attempt (net/http snapshots what it needs
// from it before the handler runs, see Go issue 14940) and shallow-copied
// for later attempts, so a plain GET costs no request allocation here.
package proxy
