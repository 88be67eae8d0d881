package compile

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// mesh is Istio's reserved gateway name for "every sidecar".
const mesh = "mesh"

// scope is where a VirtualService's rules are being compiled: which gateway
// (or "mesh"), which port, and, for a sidecar, which service host.
type scope struct {
	gateway string
	port    uint32
	host    string
}

// boundGateways resolves a VirtualService's gateways to "ns/name" (and
// "mesh"); empty means mesh.
func boundGateways(vs *api.VirtualService, names []string) []string {
	if len(names) == 0 {
		return []string{mesh}
	}
	out := make([]string, len(names))
	for i, g := range names {
		out[i] = resolveGateway(g, vs.Metadata.Namespace)
	}
	return out
}

func resolveGateway(g, ns string) string {
	if g == mesh || strings.Contains(g, "/") {
		return g
	}
	return ns + "/" + g
}

// gatewayRoutes compiles the route configuration of one gateway port, as
// Istio's gateway does: for each server and each VirtualService bound to
// its Gateway and visible to this proxy, a virtual host per host in the
// intersection of the server's hosts (those open to the VirtualService's
// namespace) and the VirtualService's; a host that several VirtualServices
// share gets all their routes, in configuration order, catch-all routes
// last.
func (b *builder) gatewayRoutes(name string, port uint32, servers []gatewayServer) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: name, IgnorePortInHostMatching: true}
	byHost := map[string]*routev3.VirtualHost{}
	redirect := map[string]bool{} // hosts of servers that redirect to https
	for _, srv := range servers {
		if srv.server != nil && srv.server.TLS != nil && srv.server.TLS.HTTPSRedirect {
			for _, h := range srv.hosts {
				redirect[h] = true
			}
		}
		for _, vs := range b.vss {
			if !visible(&vs.Metadata, vs.Spec.ExportTo, b.proxy.Namespace) || !slices.Contains(boundGateways(vs, vs.Spec.Gateways), srv.gateway) {
				continue
			}
			vsHosts := make([]string, len(vs.Spec.Hosts))
			for i, h := range vs.Spec.Hosts {
				vsHosts[i] = config.FQDN(h, vs.Metadata.Namespace)
			}
			hosts := config.IntersectHosts(config.HostsForNamespace(srv.hosts, vs.Metadata.Namespace), vsHosts)
			if len(hosts) == 0 {
				continue
			}
			routes := b.translate(vs, scope{gateway: srv.gateway, port: port})
			for _, h := range hosts {
				if vh := byHost[h]; vh != nil {
					vh.Routes = append(vh.Routes, routes...)
					continue
				}
				vh := &routev3.VirtualHost{Name: fmt.Sprintf("%s:%d", h, port), Domains: []string{h}, Routes: slices.Clone(routes)}
				byHost[h] = vh
				rc.VirtualHosts = append(rc.VirtualHosts, vh)
			}
		}
	}
	for _, vh := range rc.VirtualHosts {
		vh.Routes = catchAllLast(vh.Routes)
	}
	b.httpsRedirects(rc, byHost, redirect, port)
	return rc
}

// httpsRedirects makes the virtual hosts of servers with httpsRedirect
// require TLS (Envoy answers a plain request with 301 to https), and adds
// one for each such server host no VirtualService serves, as Istio does,
// so that those too are redirected rather than refused.
func (b *builder) httpsRedirects(rc *routev3.RouteConfiguration, byHost map[string]*routev3.VirtualHost, redirect map[string]bool, port uint32) {
	if len(redirect) == 0 {
		return
	}
	for h, vh := range byHost {
		for sh := range redirect {
			if config.HostMatches(serverHostName(sh), h) {
				vh.RequireTls = routev3.VirtualHost_ALL
			}
		}
	}
	hosts := make([]string, 0, len(redirect))
	for h := range redirect {
		hosts = append(hosts, serverHostName(h))
	}
	sort.Strings(hosts)
	for _, h := range slices.Compact(hosts) {
		if byHost[h] != nil {
			continue
		}
		vh := &routev3.VirtualHost{Name: fmt.Sprintf("%s:%d", h, port), Domains: []string{h}, RequireTls: routev3.VirtualHost_ALL}
		byHost[h] = vh
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
}

// serverHostName is a server host without its namespace.
func serverHostName(h string) string {
	if _, rest, ok := strings.Cut(h, "/"); ok {
		return rest
	}
	return h
}

// catchAllLast moves the routes that match every request to the end,
// keeping the order of the others: merged from several VirtualServices, an
// early catch-all would hide every route after it (Istio's
// SortVHostRoutes).
func catchAllLast(routes []*routev3.Route) []*routev3.Route {
	out := make([]*routev3.Route, 0, len(routes))
	var all []*routev3.Route
	for _, r := range routes {
		if isCatchAll(r.GetMatch()) {
			all = append(all, r)
		} else {
			out = append(out, r)
		}
	}
	return append(out, all...)
}

// isCatchAll reports whether m matches every request: a "/" prefix or ".*"
// regex with no header or query parameter condition.
func isCatchAll(m *routev3.RouteMatch) bool {
	if len(m.GetHeaders()) > 0 || len(m.GetQueryParameters()) > 0 {
		return false
	}
	switch p := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		return p.Prefix == "/"
	case *routev3.RouteMatch_PathSeparatedPrefix:
		return p.PathSeparatedPrefix == "/"
	case *routev3.RouteMatch_SafeRegex:
		return p.SafeRegex.GetRegex() == ".*"
	}
	return false
}

// sidecarRoutes compiles the sidecar's route configuration: a virtual host
// per visible service port, with the rules of the VirtualService bound to
// mesh for that host, or a default route to all its endpoints.
func (b *builder) sidecarRoutes() *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: meshxds.SidecarRoutes}
	exact, wild := b.meshVirtualServices()
	taken := map[string]bool{}
	for _, svc := range b.services {
		vs := exact[svc.Host]
		if vs == nil {
			vs = mostSpecific(wild, svc.Host)
		}
		for i, p := range svc.Ports {
			vh := &routev3.VirtualHost{Name: fmt.Sprintf("%s:%d", svc.Host, p.Port)}
			for _, d := range b.domains(svc, p.Port, i == defaultPort(svc)) {
				if !taken[d] {
					taken[d] = true
					vh.Domains = append(vh.Domains, d)
				}
			}
			if vs != nil {
				vh.Routes = b.translate(vs, scope{gateway: mesh, port: p.Port, host: svc.Host})
			} else {
				action := b.defaultAction(meshxds.ClusterName(p.Port, "", svc.Host))
				if hp := hashPolicy(b.serviceHash(svc.Host, p.Port)); hp != nil {
					action.HashPolicy = []*routev3.RouteAction_HashPolicy{hp}
				}
				vh.Routes = []*routev3.Route{{
					Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_Route{Route: action},
				}}
			}
			rc.VirtualHosts = append(rc.VirtualHosts, vh)
		}
	}
	if !taken["*"] {
		rc.VirtualHosts = append(rc.VirtualHosts, b.catchAll())
	}
	return rc
}

// catchAll is Istio's last virtual host of a sidecar's routes, for hosts
// the mesh does not know: under ALLOW_ANY it passes the request on to
// where the app sent it (PassthroughCluster, an ORIGINAL_DST cluster, with
// no timeout), under REGISTRY_ONLY it answers 502.
func (b *builder) catchAll() *routev3.VirtualHost {
	prefix := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	if b.opts.RegistryOnly {
		return &routev3.VirtualHost{Name: meshxds.BlockAllRoute, Domains: []string{"*"}, Routes: []*routev3.Route{{Name: meshxds.BlockAllRoute,
			Match: prefix, Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 502}}}}}
	}
	b.clusters[meshxds.PassthroughCluster] = &clusterv3.Cluster{
		Name:                 meshxds.PassthroughCluster,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
		ConnectTimeout:       durationpb.New(10 * time.Second),
	}
	return &routev3.VirtualHost{Name: meshxds.AllowAnyRoute, Domains: []string{"*"}, Routes: []*routev3.Route{{Name: meshxds.AllowAnyRoute,
		Match: prefix, Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: meshxds.PassthroughCluster}, Timeout: durationpb.New(0)}}}}}
}

// meshVirtualServices indexes the VirtualServices bound to mesh and visible
// to this proxy: by exact host, and the wildcard ones. The first in
// namespace/name order wins a host.
func (b *builder) meshVirtualServices() (map[string]*api.VirtualService, map[string]*api.VirtualService) {
	exact, wild := map[string]*api.VirtualService{}, map[string]*api.VirtualService{}
	for _, vs := range b.vss {
		if !visible(&vs.Metadata, vs.Spec.ExportTo, b.proxy.Namespace) || !slices.Contains(boundGateways(vs, vs.Spec.Gateways), mesh) {
			continue
		}
		for _, h := range vs.Spec.Hosts {
			host := config.FQDN(h, vs.Metadata.Namespace)
			m := exact
			if strings.HasPrefix(host, "*") {
				m = wild
			}
			if m[host] == nil {
				m[host] = vs
			}
		}
	}
	return exact, wild
}

// mostSpecific returns the wildcard VirtualService with the longest pattern
// covering host.
func mostSpecific(wild map[string]*api.VirtualService, host string) *api.VirtualService {
	best := ""
	for p := range wild {
		if config.HostMatches(p, host) && (len(p) > len(best) || len(p) == len(best) && p < best) {
			best = p
		}
	}
	return wild[best]
}

// defaultPort is the index of the port that also answers to the bare host
// name (no ":port"): port 80 if the service has it, else its first port.
func defaultPort(svc *config.Service) int {
	for i, p := range svc.Ports {
		if p.Port == 80 {
			return i
		}
	}
	return 0
}

// domains lists the names a caller may use for a service port: the FQDN and,
// for a Kubernetes service, "name.ns.svc", "name.ns" and (from its own
// namespace) "name" — each with ":port", and bare on the default port.
func (b *builder) domains(svc *config.Service, port uint32, bare bool) []string {
	names := []string{svc.Host}
	if short, ok := strings.CutSuffix(svc.Host, "."+config.ClusterDomain); ok {
		name, ns, _ := strings.Cut(short, ".")
		names = append(names, short+".svc", short)
		if ns == b.proxy.Namespace {
			names = append(names, name)
		}
	}
	var out []string
	for _, n := range names {
		out = append(out, fmt.Sprintf("%s:%d", n, port))
		if bare {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
