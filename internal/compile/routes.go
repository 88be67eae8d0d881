package compile

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
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

// gatewayRoutes compiles the route configuration of one gateway port: a
// virtual host per VirtualService host the port's servers admit.
func (b *builder) gatewayRoutes(port uint32, servers []gatewayServer) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: GatewayRouteName(port), IgnorePortInHostMatching: true}
	taken := map[string]bool{}
	for _, vs := range b.cfg.VirtualServices {
		if !visible(&vs.Metadata, vs.Spec.ExportTo, b.proxy.Namespace) {
			continue
		}
		for _, gw := range boundGateways(vs, vs.Spec.Gateways) {
			for _, srv := range servers {
				if srv.gateway != gw {
					continue
				}
				for _, h := range vs.Spec.Hosts {
					host := config.FQDN(h, vs.Metadata.Namespace)
					if taken[host] || !admits(srv.hosts, host) {
						continue // a second VirtualService for one host: the first wins (IST0109)
					}
					taken[host] = true
					rc.VirtualHosts = append(rc.VirtualHosts, &routev3.VirtualHost{
						Name:    fmt.Sprintf("%s:%d", host, port),
						Domains: []string{host},
						Routes:  b.translate(vs, scope{gateway: gw, port: port}),
					})
				}
			}
		}
	}
	return rc
}

// admits reports whether a server with these hosts serves host.
func admits(serverHosts []string, host string) bool {
	for _, s := range serverHosts {
		if config.HostMatches(s, host) || config.HostMatches(host, s) {
			return true
		}
	}
	return false
}

// sidecarRoutes compiles the sidecar's route configuration: a virtual host
// per visible service port, with the rules of the VirtualService bound to
// mesh for that host, or a default route to all its endpoints.
func (b *builder) sidecarRoutes() *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: SidecarRoutes}
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
				vh.Routes = []*routev3.Route{{
					Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_Route{Route: b.defaultAction(ClusterName(p.Port, "", svc.Host))},
				}}
			}
			rc.VirtualHosts = append(rc.VirtualHosts, vh)
		}
	}
	return rc
}

// meshVirtualServices indexes the VirtualServices bound to mesh and visible
// to this proxy: by exact host, and the wildcard ones. The first in
// namespace/name order wins a host.
func (b *builder) meshVirtualServices() (map[string]*api.VirtualService, map[string]*api.VirtualService) {
	exact, wild := map[string]*api.VirtualService{}, map[string]*api.VirtualService{}
	for _, vs := range b.cfg.VirtualServices {
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
