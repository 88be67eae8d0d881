package dashboard

import (
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// Edge is one caller → callee pair of a lane's call graph.
type Edge struct {
	Lane        string `json:"lane"`
	From        string `json:"from"` // the calling workload's app ("mocka") or proxy name
	FromVersion string `json:"fromVersion,omitempty"`
	To          string `json:"to"` // the destination service's short name
	ToVersion   string `json:"toVersion,omitempty"`
}

// sample is one request series of a proxy, in the dashboard's terms.
type sample struct {
	edge     Edge
	code     int
	fallback bool
}

// metricNames are the request metrics a proxy may export. Istio's names
// come first: a proxy that exports both is read by Istio's alone.
var metricNames = []struct {
	requests, duration string
	msPerUnit          float64 // what one unit of the duration histogram is in milliseconds
}{
	{"istio_requests_total", "istio_request_duration_milliseconds", 1},
	{"lanemesh_requests_total", "lanemesh_request_duration_seconds", 1000},
}

// readSample is the one adapter from the proxies' metric labels to the
// dashboard's: it reads Istio's standard labels (source_workload,
// source_version, destination_service_name, destination_version,
// response_code, response_flags, reporter, plus lane and fallback) and
// lanemesh's own earlier ones (source_app, destination_service,
// destination_subset). proxy names the scraped proxy, for series that do
// not name their source (a gateway has no app label). ok is false for
// series the graph leaves out: those an inbound (destination) reporter
// counts, which the caller's own proxy counts already.
func readSample(proxy string, labels map[string]string) (s sample, ok bool) {
	if labels["reporter"] == "destination" {
		return s, false
	}
	from := first(labels["source_app"], labels["source_canonical_service"])
	if from == "" {
		from = strings.TrimSuffix(labels["source_workload"], "-"+labels["source_version"])
	}
	if from == "" || from == "unknown" {
		from = proxy
	}
	to := first(labels["destination_service_name"], shortHost(labels["destination_service"]), "unknown")
	s.edge = Edge{From: from, FromVersion: known(labels["source_version"]), To: to,
		ToVersion: known(first(labels["destination_version"], labels["destination_subset"]))}
	s.code, _ = strconv.Atoi(labels["response_code"])
	s.fallback = labels["fallback"] == "true" || strings.Contains(labels["response_flags"], "FB")
	// A request's lane is the label the proxy sets; without one, a strict
	// lane is the caller's version, and a gateway's request enters the lane
	// of the version it reached.
	s.edge.Lane = first(known(labels["lane"]), s.edge.FromVersion)
	if s.edge.Lane == "" && !s.fallback {
		s.edge.Lane = s.edge.ToVersion
	}
	return s, true
}

func known(v string) string {
	if v == "unknown" {
		return ""
	}
	return v
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// labelMap is a series' labels as a map.
func labelMap(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
