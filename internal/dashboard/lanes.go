package dashboard

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/registry"
)

// Lane modes, as ASM names them: a strict lane routes by the caller's
// labels (sourceLabels), a permissive one by the request's lane header.
const (
	Strict     = "strict"
	Permissive = "permissive"
	Mixed      = "mixed"
)

// Matrix is the lanes × services view of a configuration and its instances.
type Matrix struct {
	Lanes    []Lane `json:"lanes"`
	Services []Row  `json:"services"`
}

// Lane is one release lane: a subset name that DestinationRules share.
type Lane struct {
	Name string `json:"name"`
	// Mode is Strict, Permissive, Mixed, or "" when no sidecar route
	// selects the lane (it is only entered at a gateway, or not at all).
	Mode string `json:"mode"`
	// Baseline is true for the lane that routes without a match send to:
	// where a request goes when its own lane lacks the service.
	Baseline bool `json:"baseline,omitempty"`
	// Entry is how a request enters the lane at a gateway, nil if no
	// gateway route leads into it.
	Entry *Entry `json:"entry,omitempty"`
}

// Entry is a gateway route into a lane: the request that takes it.
type Entry struct {
	Gateway string            `json:"gateway"` // "ns/name" of the Gateway object
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers,omitempty"`
}

// Row is one service across the lanes; Cells are in Matrix.Lanes' order.
type Row struct {
	Host  string `json:"host"`
	Short string `json:"short"`
	Cells []Cell `json:"cells"`
}

// Cell is one service in one lane.
type Cell struct {
	// Present is true when the service defines the lane's subset.
	Present bool              `json:"present"`
	Labels  map[string]string `json:"labels,omitempty"`
	Pods    int               `json:"pods"`
	Ready   int               `json:"ready"`
	// Fallback is the fallback target of the routes into this cell: the
	// subset name, or "host/subset" for another service; "" for none.
	Fallback string `json:"fallback,omitempty"`
	Mode     string `json:"mode,omitempty"`
	// State summarises the cell for the eye: "ok", "degraded" (some pods
	// unready), "fallback" (no ready pod, a fallback takes its traffic),
	// "down" (no ready pod and no fallback), "absent" (no such subset).
	State string `json:"state"`
}

// Lanes derives the lanes × services matrix from a configuration, the
// way the traffic-lane tutorial defines lanes: a lane is a subset name
// shared across the services' DestinationRules, a route's fallback is the
// lane's fallback target, a route matched by sourceLabels makes the lane
// strict and one matched by headers permissive. It is pure; lane-group
// objects, when they exist, are one more input here.
func Lanes(c *config.Config, instances []registry.Instance) Matrix {
	var m Matrix
	subsets := map[string]map[string]api.Subset{} // host → subset name → subset
	for _, dr := range c.DestinationRules {
		host := config.FQDN(dr.Spec.Host, dr.Metadata.Namespace)
		if strings.HasPrefix(host, "*") {
			continue // a wildcard rule is a policy, not a service of a lane
		}
		if subsets[host] == nil {
			subsets[host] = map[string]api.Subset{}
		}
		for _, s := range dr.Spec.Subsets {
			subsets[host][s.Name] = s
		}
	}
	laneNames := map[string]bool{}
	for _, byName := range subsets {
		for name := range byName {
			laneNames[name] = true
		}
	}
	routes := meshRoutes(c)
	baseline := baselines(routes)
	entries := gatewayEntries(c)
	for _, name := range slices.SortedFunc(maps.Keys(laneNames), naturalLess) {
		m.Lanes = append(m.Lanes, Lane{Name: name, Baseline: baseline[name], Entry: entries[name]})
	}
	for _, host := range slices.Sorted(maps.Keys(subsets)) {
		row := Row{Host: host, Short: shortHost(host)}
		selector, ns, hasService := ServiceOf(c, host)
		for i, lane := range m.Lanes {
			s, ok := subsets[host][lane.Name]
			cell := Cell{Present: ok, Labels: s.Labels}
			if ok && hasService {
				cell.Pods, cell.Ready = CountPods(instances, ns, selector, s.Labels)
			}
			for _, r := range routes[host] {
				if r.subset != lane.Name {
					continue
				}
				if cell.Fallback == "" && r.fallback != "" {
					cell.Fallback = r.fallback
				}
				cell.Mode = joinMode(cell.Mode, r.mode)
			}
			cell.State = state(cell)
			row.Cells = append(row.Cells, cell)
			m.Lanes[i].Mode = joinMode(m.Lanes[i].Mode, cell.Mode)
		}
		m.Services = append(m.Services, row)
	}
	return m
}

func state(c Cell) string {
	switch {
	case !c.Present:
		return "absent"
	case c.Ready == 0 && c.Fallback != "":
		return "fallback"
	case c.Ready == 0:
		return "down"
	case c.Ready < c.Pods:
		return "degraded"
	}
	return "ok"
}

// joinMode combines the modes of two routes into one lane or cell.
func joinMode(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "" || a == b:
		return a
	}
	return Mixed
}

// meshRoute is one destination of a sidecar (mesh-bound) route.
type meshRoute struct {
	subset, fallback, mode string
	matched                bool // false for a catch-all route
}

// meshRoutes lists, by destination host, the destinations of the routes
// sidecars use (VirtualServices bound to "mesh").
func meshRoutes(c *config.Config) map[string][]meshRoute {
	out := map[string][]meshRoute{}
	for _, vs := range c.VirtualServices {
		if !boundToMesh(vs) {
			continue
		}
		ns := vs.Metadata.Namespace
		for _, h := range vs.Spec.HTTP {
			mode := ""
			for _, m := range h.Match {
				switch {
				case len(m.SourceLabels) > 0:
					mode = joinMode(mode, Strict)
				case len(m.Headers) > 0:
					mode = joinMode(mode, Permissive)
				}
			}
			for _, d := range h.Route {
				host := config.FQDN(d.Destination.Host, ns)
				r := meshRoute{subset: d.Destination.Subset, mode: mode, matched: len(h.Match) > 0}
				if d.Fallback != nil {
					r.fallback = d.Fallback.Target.Subset
					if fb := config.FQDN(d.Fallback.Target.Host, ns); fb != host {
						r.fallback = shortHost(fb) + "/" + d.Fallback.Target.Subset
					}
				}
				out[host] = append(out[host], r)
			}
		}
	}
	return out
}

// baselines are the subsets that catch-all sidecar routes lead to.
func baselines(routes map[string][]meshRoute) map[string]bool {
	out := map[string]bool{}
	for _, rs := range routes {
		for _, r := range rs {
			if !r.matched && r.subset != "" {
				out[r.subset] = true
			}
		}
	}
	return out
}

func boundToMesh(vs *api.VirtualService) bool {
	return len(vs.Spec.Gateways) == 0 || slices.Contains(vs.Spec.Gateways, "mesh")
}

// gatewayEntries finds, per lane, the first gateway route into it, and
// the request (path and exact headers) that matches it. A route enters
// the lane it sets a permissive group's route header to (its lane may
// hold no version of the first service, so it goes to the baseline's
// subset); any other, the lane its destination's subset names.
func gatewayEntries(c *config.Config) map[string]*Entry {
	routeHeaders := map[string]bool{}
	for _, g := range c.SwimLaneGroups {
		if pm := g.Spec.PermissiveModeConfiguration; g.Spec.IsPermissive && pm != nil && pm.RouteHeader != "" {
			routeHeaders[strings.ToLower(pm.RouteHeader)] = true
		}
	}
	out := map[string]*Entry{}
	for _, vs := range c.VirtualServices {
		for _, gw := range vs.Spec.Gateways {
			if gw == "mesh" {
				continue
			}
			if !strings.Contains(gw, "/") {
				gw = vs.Metadata.Namespace + "/" + gw
			}
			for _, h := range vs.Spec.HTTP {
				for _, d := range h.Route {
					lane := cmp.Or(setRouteHeader(d.Headers, routeHeaders), setRouteHeader(h.Headers, routeHeaders), d.Destination.Subset)
					if lane == "" || out[lane] != nil {
						continue
					}
					if e, ok := entryFor(gw, h.Match); ok {
						out[lane] = e
					}
				}
			}
		}
	}
	return out
}

// setRouteHeader is the value h sets a route header to, "" for none.
func setRouteHeader(h *api.Headers, routeHeaders map[string]bool) string {
	if h == nil || h.Request == nil {
		return ""
	}
	for _, ops := range []map[string]string{h.Request.Set, h.Request.Add} {
		for k, v := range ops {
			if routeHeaders[strings.ToLower(k)] {
				return v
			}
		}
	}
	return ""
}

// entryFor builds a request that the first match entry accepts, when that
// entry is made of exact or prefix values only; ok is false otherwise.
func entryFor(gw string, matches []api.HTTPMatchRequest) (*Entry, bool) {
	e := &Entry{Gateway: gw, Path: "/"}
	if len(matches) == 0 {
		return e, true
	}
	m := matches[0]
	if m.URI != nil {
		switch kind, v := m.URI.Kind(); {
		case kind == api.MatchExact || kind == api.MatchPrefix && v != "":
			e.Path = v
		case kind == api.MatchPrefix: // "": every path
		default:
			return nil, false
		}
	}
	for k, sm := range m.Headers {
		kind, v := sm.Kind()
		if kind != api.MatchExact && kind != api.MatchPrefix {
			return nil, false
		}
		if e.Headers == nil {
			e.Headers = map[string]string{}
		}
		e.Headers[k] = v
	}
	return e, true
}

// ServiceOf finds the Kubernetes Service behind a host.
func ServiceOf(c *config.Config, host string) (selector map[string]string, ns string, ok bool) {
	for _, s := range c.Services {
		if config.FQDN(s.Metadata.Name, s.Metadata.Namespace) == host {
			return s.Spec.Selector, s.Metadata.Namespace, true
		}
	}
	return nil, "", false
}

// CountPods counts the pods (not WorkloadEntries) in ns that carry both
// label sets, and how many of them are ready.
func CountPods(instances []registry.Instance, ns string, selector, subset map[string]string) (pods, ready int) {
	for _, in := range instances {
		if in.Namespace != ns || in.IsWorkloadEntry() || !hasLabels(in.Labels, selector) || !hasLabels(in.Labels, subset) {
			continue
		}
		pods++
		if in.Healthy {
			ready++
		}
	}
	return pods, ready
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// shortHost is a service's name as people say it: "mockb" for
// mockb.default.svc.cluster.local; other hosts stay as written.
func shortHost(host string) string {
	if name, rest, ok := strings.Cut(host, "."); ok && strings.HasSuffix(rest, "."+config.ClusterDomain) {
		return name
	}
	return host
}

// naturalLess orders lane names as people read them: v2 before v10.
func naturalLess(a, b string) int {
	pa, na := splitNumber(a)
	pb, nb := splitNumber(b)
	if pa == pb && na >= 0 && nb >= 0 {
		return cmp.Compare(na, nb)
	}
	return cmp.Compare(a, b)
}

func splitNumber(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, err := strconv.Atoi(s[i:])
	if err != nil {
		return s, -1
	}
	return s[:i], n
}
