// Package dashboard is the control plane's web view of lanes and live
// traffic: the lanes × services matrix, each lane's call graph with
// request rate, error rate, p99 and fallbacks per edge, recent fallback
// events and NACKs, and explain run against the live configuration.
//
// The parts, from pure to wired:
//
//   - Lanes derives the matrix from a configuration and its instances. It
//     is pure, and the one place that knows what a lane is.
//   - readSample is the one adapter from the proxies' metric labels
//     (Istio's standard ones, or lanemesh's earlier ones) to edges; Traffic
//     turns successive readings of their counters into rates and p99 over
//     a sliding window, as Prometheus's rate() and histogram_quantile() do.
//   - A Source reads the proxies: Gatherers in process (`up`), Pods over
//     HTTP from each pod's admin port (Kubernetes mode).
//   - Collector takes a reading every second while a page watches, keeps
//     the events, and publishes the state as JSON.
//   - Data serves that state, its live stream and explain under the admin
//     API's token; UI serves the embedded page, which needs none.
//
// The page gets the token in its URL's fragment, which browsers never
// send, and presents it as a bearer token on every request, the stream
// included; the admin API stays closed to other sites' pages (package
// guard).
package dashboard
