package config

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lanemesh/lanemesh/api"
)

// ServiceEntry and WorkloadEntry values, and the references every Istio
// kind shares (exportTo, gateway names), checked as Istio's
// ValidateServiceEntry, validateWorkloadEntry, validateExportTo and
// validateGatewayNames do.

var (
	resolutions = []string{"NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"}
	locations   = []string{"MESH_EXTERNAL", "MESH_INTERNAL"}
)

// unixPrefix marks a Unix domain socket address, as Istio writes it.
const unixPrefix = "unix://"

func (a *analyzer) seValues(se *api.ServiceEntry) {
	o := object{"ServiceEntry", &se.Metadata}
	for i, h := range se.Spec.Hosts {
		field := fmt.Sprintf("spec.hosts[%d]", i)
		if h == "*" {
			a.badValue(o, field, `host "*" is not valid in a ServiceEntry`, "name the hosts the entry defines")
		} else {
			a.host(o, h, field, false)
			a.seHostResolution(o, se, h, field)
		}
	}
	for i, addr := range se.Spec.Addresses {
		if !isIP(addr) {
			if _, err := netip.ParsePrefix(addr); err != nil {
				a.badValue(o, fmt.Sprintf("spec.addresses[%d]", i), fmt.Sprintf("%q is not an IP address or CIDR block", addr), "write an address like 10.0.0.1 or a block like 10.0.0.0/24")
			}
		}
	}
	a.enum(o, se.Spec.Resolution, resolutions, "spec.resolution")
	a.enum(o, se.Spec.Location, locations, "spec.location")
	ports := a.sePorts(o, se.Spec.Ports, func(port uint32) bool {
		for _, h := range se.Spec.Hosts {
			if originatesTLS(a.drs.For(h, o.meta.Namespace, o.meta.Namespace), port) {
				return true
			}
		}
		return false
	})
	if ws := se.Spec.WorkloadSelector; ws != nil {
		a.labels(o, ws.Labels, "spec.workloadSelector.labels")
		if len(se.Spec.Endpoints) > 0 {
			a.badValue(o, "spec.endpoints", "only one of workloadSelector or endpoints is allowed", "keep the endpoints, or the selector and WorkloadEntries")
		}
	}
	a.seResolution(o, se)
	fqdnOK := se.Spec.Resolution == "DNS" || se.Spec.Resolution == "DNS_ROUND_ROBIN"
	for i, e := range se.Spec.Endpoints {
		a.endpointValues(o, e, fmt.Sprintf("spec.endpoints[%d]", i), ports, fqdnOK)
	}
	a.exportTo(o, se.Spec.ExportTo, true)
}

// seResolution applies the rules of Istio's ValidateServiceEntry that tie
// addresses, endpoints and hosts to the resolution: CIDR blocks only for
// NONE and STATIC, no endpoints for NONE, at most one for DNS_ROUND_ROBIN,
// and for DYNAMIC_DNS wildcard hosts with neither addresses nor endpoints.
func (a *analyzer) seResolution(o object, se *api.ServiceEntry) {
	r, spec := se.Spec.Resolution, &se.Spec
	if r != "NONE" && r != "STATIC" && slices.ContainsFunc(spec.Addresses, func(addr string) bool { return strings.Contains(addr, "/") }) {
		a.badValue(o, "spec.addresses", "CIDR addresses are allowed only for NONE/STATIC resolution types", "list single IP addresses, or use resolution NONE or STATIC")
	}
	switch r {
	case "NONE":
		if len(spec.Endpoints) > 0 {
			a.badValue(o, "spec.endpoints", "no endpoints should be provided for resolution type NONE", "remove the endpoints, or use resolution STATIC or DNS")
		}
	case "DNS_ROUND_ROBIN":
		if len(spec.Endpoints) > 1 {
			a.badValue(o, "spec.endpoints", "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN", "keep one endpoint, or use resolution DNS")
		}
	case "DYNAMIC_DNS":
		for i, h := range spec.Hosts {
			if !strings.HasPrefix(h, "*") {
				a.badValue(o, fmt.Sprintf("spec.hosts[%d]", i), fmt.Sprintf("host %q must be wildcarded for resolution mode DYNAMIC_DNS", h), "write a wildcard host like *.example.com")
			}
		}
		if len(spec.Addresses) > 0 {
			a.badValue(o, "spec.addresses", "addresses cannot be set for resolution type DYNAMIC_DNS", "remove the addresses: routes come from the hosts")
		}
		if len(spec.Endpoints) > 0 {
			a.badValue(o, "spec.endpoints", "endpoints cannot be set for resolution type DYNAMIC_DNS", "remove the endpoints: the destination comes from the host")
		}
	}
}

// seHostResolution applies the rules a host's resolution adds: with DNS
// and no endpoints each host is looked up, so it must be an FQDN; outside
// DYNAMIC_DNS a partial wildcard ("*foo.example.com") is a Warning.
func (a *analyzer) seHostResolution(o object, se *api.ServiceEntry, h, field string) {
	if wildcardDomainProblem(h) != "" {
		return // reported by host()
	}
	dns := se.Spec.Resolution == "DNS" || se.Spec.Resolution == "DNS_ROUND_ROBIN"
	if dns && len(se.Spec.Endpoints) == 0 && fqdnProblem(h) != "" {
		a.badValue(o, field, fmt.Sprintf("host %q cannot be resolved by DNS: with resolution %s and no endpoints, hosts must be FQDNs", h, se.Spec.Resolution),
			"name one host per entry, add endpoints, or use resolution DYNAMIC_DNS or NONE for a wildcard")
	}
	if se.Spec.Resolution != "DYNAMIC_DNS" && strings.Contains(h, "*") && !strings.HasPrefix(h, "*.") {
		a.warnf(o, CodeSchema, field, fmt.Sprintf("partial wildcard %q not allowed", h), "use a leading '*.' or resolution DYNAMIC_DNS")
	}
}

// sePorts checks a ServiceEntry's ports and returns their names.
// originated says whether a DestinationRule originates TLS to a port,
// so that the app sends it plain HTTP.
func (a *analyzer) sePorts(o object, ports []api.Port, originated func(port uint32) bool) map[string]bool {
	names := map[string]bool{}
	numbers := map[uint32]bool{}
	for i, p := range ports {
		path := fmt.Sprintf("spec.ports[%d]", i)
		a.port(o, p.Number, path+".number")
		if p.TargetPort != 0 {
			a.port(o, p.TargetPort, path+".targetPort")
		}
		switch {
		case names[p.Name]:
			a.badValue(o, path+".name", fmt.Sprintf("port name %q is already defined", p.Name), "give each port its own name")
		case len(p.Name) > 63 || !dnsLabelRE.MatchString(p.Name):
			a.badValue(o, path+".name", fmt.Sprintf("port name %q is not valid", p.Name), "name the port with letters, digits and '-', e.g. name: http")
		}
		if numbers[p.Number] && p.Number != 0 {
			a.badValue(o, path+".number", fmt.Sprintf("port %d is already defined", p.Number), "give each port its own number")
		}
		switch {
		case p.Protocol != "" && !containsFold(protocols, p.Protocol):
			a.badValue(o, path+".protocol", fmt.Sprintf("protocol %q is not supported", p.Protocol), "use one of "+strings.Join(protocols, ", "))
		case !IsHTTPProtocol(p.Protocol) && !originated(p.Number):
			// Istio's sidecar would pass TLS by SNI, or TCP as it is;
			// lanemesh's answers HTTP only, so the app's own TLS (an
			// https:// call) or TCP to this port fails through it.
			a.warnf(o, CodeUnsupported, path+".protocol", fmt.Sprintf("port %d is %s, but lanemesh's sidecars carry HTTP only: an app's %s traffic to it through its sidecar fails",
				p.Number, strings.ToUpper(p.Protocol), strings.ToUpper(p.Protocol)),
				"exclude the port from the pod's capture (annotation traffic.sidecar.istio.io/excludeOutboundPorts) so the app reaches it directly, or call it over plain HTTP")
		}
		names[p.Name], numbers[p.Number] = true, true
	}
	return names
}

// endpointValues checks a WorkloadEntry's spec, or a ServiceEntry's inline
// endpoint, at path: its address, labels and port map. ports are the
// ServiceEntry's port names (nil for a WorkloadEntry, whose ServiceEntry is
// not known here); fqdnOK allows a host name as the address.
func (a *analyzer) endpointValues(o object, e api.WorkloadEntrySpec, path string, ports map[string]bool, fqdnOK bool) {
	switch addr := e.Address; {
	case addr == "":
		a.badValue(o, path+".address", "address is required", "set the workload's IP address")
	case strings.HasPrefix(addr, unixPrefix):
		if len(e.Ports) != 0 {
			a.badValue(o, path+".ports", fmt.Sprintf("unix endpoint %s must not include ports", addr), "remove ports")
		}
	case isIP(addr):
	case !fqdnOK:
		a.badValue(o, path+".address", fmt.Sprintf("endpoint address %q is not a valid IP address", addr), "write an IP address, or use resolution: DNS for a host name")
	case fqdnProblem(addr) != "":
		a.badValue(o, path+".address", fmt.Sprintf("endpoint address %q is not a valid FQDN or an IP address", addr), hostRules)
	}
	a.labels(o, e.Labels, path+".labels")
	names := make([]string, 0, len(e.Ports))
	for n := range e.Ports {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		field := path + ".ports[" + strconv.Quote(n) + "]"
		switch {
		case ports != nil && !ports[n]:
			a.badValue(o, field, fmt.Sprintf("endpoint port %q is not defined by the service entry", n), "use the name of one of spec.ports")
		case len(n) > 63 || !dnsLabelRE.MatchString(n):
			a.badValue(o, field, fmt.Sprintf("port name %q is not valid", n), "key the port map by the service port's name")
		default:
			a.port(o, e.Ports[n], field)
		}
	}
}

func (a *analyzer) weValues(we *api.WorkloadEntry) {
	a.endpointValues(object{"WorkloadEntry", &we.Metadata}, we.Spec, "spec", nil, true)
}

// enum checks that v, if set, is one of values (case as written: Istio's
// enums are upper case).
func (a *analyzer) enum(o object, v string, values []string, field string) {
	if v != "" && !slices.Contains(values, v) {
		a.badValue(o, field, fmt.Sprintf("%q is not a valid value", v), "use one of "+strings.Join(values, ", "))
	}
}

// exportTo is validateExportTo: ".", "*" or namespaces (a ServiceEntry may
// also say "~"), no duplicates, and "*" alone.
func (a *analyzer) exportTo(o object, list []string, serviceEntry bool) {
	seen := map[string]bool{}
	for i, e := range list {
		field := fmt.Sprintf("spec.exportTo[%d]", i)
		key := e
		if e == "." {
			key = o.meta.Namespace
		}
		switch {
		case seen[key]:
			a.badValue(o, field, fmt.Sprintf("duplicate exportTo entry %q", e), "list each namespace once ('.' is the object's own, "+o.meta.Namespace+")")
		case e == "~" && !serviceEntry:
			a.badValue(o, field, "exportTo ~ (none) is only allowed on a ServiceEntry", "remove it, or use '.' for the object's own namespace")
		case e != "." && e != "*" && e != "~" && (len(e) > 63 || !dnsLabelRE.MatchString(e)):
			a.badValue(o, field, fmt.Sprintf("exportTo entry %q is not '.', '*' or a namespace", e), "write '.', '*' or a namespace name")
		}
		seen[key] = true
	}
	if seen["*"] && len(list) > 1 {
		a.badValue(o, "spec.exportTo", "cannot have both public (*) and non-public exportTo values", "use '*' alone, or list the namespaces")
	}
}

// gatewayNames is validateGatewayNames: "mesh", "name" (a DNS name) or
// "namespace/name" with both DNS labels.
func (a *analyzer) gatewayNames(o object, names []string, path string) {
	for i, gw := range names {
		field := fmt.Sprintf("%s[%d]", path, i)
		ns, name, ok := strings.Cut(gw, "/")
		switch {
		case !ok:
			if p := fqdnProblem(gw); p != "" {
				a.badValue(o, field, fmt.Sprintf("gateway name %q is not valid", gw), "write namespace/name, e.g. istio-system/ingressgateway")
			}
		case ns == "" || name == "" || len(ns) > 63 || !dnsLabelRE.MatchString(ns) || len(name) > 63 || !dnsLabelRE.MatchString(name):
			a.badValue(o, field, fmt.Sprintf("gateway %q is not namespace/name with both DNS labels", gw), "write namespace/name, e.g. istio-system/ingressgateway")
		}
	}
}

// originatesTLS reports whether dr originates TLS (SIMPLE or MUTUAL) to
// port for any of its clusters, the host's or a subset's, each resolved as
// the compiler resolves it (PortPolicy, MergePolicy).
func originatesTLS(dr *api.DestinationRule, port uint32) bool {
	if dr == nil {
		return false
	}
	base, _ := PortPolicy(dr.Spec.TrafficPolicy, port)
	policies := []*api.TrafficPolicy{base}
	for _, s := range dr.Spec.Subsets {
		sub, wholesale := PortPolicy(s.TrafficPolicy, port)
		policies = append(policies, MergePolicy(base, sub, wholesale))
	}
	return slices.ContainsFunc(policies, func(p *api.TrafficPolicy) bool {
		if p == nil {
			return false
		}
		m := ClientTLSMode(p.TLS)
		return m == "SIMPLE" || m == "MUTUAL"
	})
}
