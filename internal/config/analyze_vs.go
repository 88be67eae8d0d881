package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lanemesh/lanemesh/api"
)

// meshGateway is Istio's reserved gateway name for "every sidecar".
const meshGateway = "mesh"

// virtualService checks one VirtualService: its hosts, the gateways it
// binds to, and every HTTP route.
func (a *analyzer) virtualService(vs *api.VirtualService) {
	o := object{"VirtualService", &vs.Metadata}
	ns := vs.Metadata.Namespace
	bound := bindings(vs.Spec.Gateways, ns)
	a.vsHosts(o, vs, bound)
	for i, gw := range vs.Spec.Gateways {
		a.gatewayRef(o, gw, fmt.Sprintf("spec.gateways[%d]", i))
	}
	for i := range vs.Spec.HTTP {
		a.httpRoute(o, &vs.Spec.HTTP[i], fmt.Sprintf("spec.http[%d]", i), bound)
	}
	a.unreachableRules(o, vs.Spec.HTTP)
}

// bindings resolves the gateways a VirtualService (or one of its matches)
// applies to: "name" is a Gateway in namespace ns, "ns/name" is explicit,
// "mesh" stays as it is, and an empty list means mesh only.
func bindings(gateways []string, ns string) []string {
	if len(gateways) == 0 {
		return []string{meshGateway}
	}
	out := make([]string, 0, len(gateways))
	for _, gw := range gateways {
		if gw := resolveGateway(gw, ns); !slices.Contains(out, gw) {
			out = append(out, gw)
		}
	}
	return out
}

func resolveGateway(gw, ns string) string {
	if gw == meshGateway || strings.Contains(gw, "/") {
		return gw
	}
	return ns + "/" + gw
}

// vsHosts checks spec.hosts. A wildcard "*" host bound to mesh is rejected
// as Istio rejects it: it would capture every call every sidecar makes.
func (a *analyzer) vsHosts(o object, vs *api.VirtualService, bound []string) {
	if len(vs.Spec.Hosts) == 0 {
		a.delegateVS(o, vs) // no hosts: a delegate
		return
	}
	for i, h := range vs.Spec.Hosts {
		field := fmt.Sprintf("spec.hosts[%d]", i)
		switch {
		case h == "":
			a.errorf(o, CodeSchema, field, "host is empty", "write a host name or remove the entry")
		case h == "*" && slices.Contains(bound, meshGateway):
			a.errorf(o, CodeSchema, field, "wildcard host * is not allowed for virtual services bound to the mesh gateway",
				"name the service hosts, or bind the VirtualService to a Gateway with spec.gateways")
		default:
			a.hostInGateways(o, FQDN(h, o.meta.Namespace), field, bound)
		}
	}
}

// hostInGateways warns when a host of a gateway-bound VirtualService is not
// served by that Gateway (Istio's IST0132): the gateway would never route
// it. Missing Gateways are reported by gatewayRef instead.
func (a *analyzer) hostInGateways(o object, host, field string, bound []string) {
	for _, name := range bound {
		gw := a.gateways[name]
		if gw == nil || gatewayServes(gw, host, o.meta.Namespace) {
			continue
		}
		a.warnf(o, CodeVSHostNotInGateway, field,
			fmt.Sprintf("one or more host [%s] defined in VirtualService %s not found in Gateway %s", host, o.meta.Key(), name),
			"add "+host+" (or a wildcard covering it) to the Gateway's servers[].hosts, or remove the host")
	}
}

// gatewayServes reports whether a server of gw lists host for VirtualServices
// of namespace vsNS. Gateway hosts are "[namespace/]dnsName", where the
// namespace is "*" (any), "." (the Gateway's own) or a name.
func gatewayServes(gw *api.Gateway, host, vsNS string) bool {
	for _, s := range gw.Spec.Servers {
		for _, h := range s.Hosts {
			ns, name, ok := strings.Cut(h, "/")
			if !ok {
				ns, name = "*", h
			}
			if ns == "." {
				ns = gw.Metadata.Namespace
			}
			if ns != "*" && ns != vsNS {
				continue
			}
			name = strings.ToLower(name)
			if HostMatches(name, host) || HostMatches(host, name) {
				return true
			}
		}
	}
	return false
}

// gatewayRef checks that a gateway name, as written at field, names a
// Gateway of the configuration or is "mesh".
func (a *analyzer) gatewayRef(o object, gw, field string) {
	name := resolveGateway(gw, o.meta.Namespace)
	if name == meshGateway || a.gateways[name] != nil {
		return
	}
	a.errorf(o, CodeNotFound, field, "Referenced gateway not found: "+strconv.Quote(name),
		fmt.Sprintf("define Gateway %s, or fix the name (a bare name means namespace %s; write \"namespace/name\" for another)",
			name, o.meta.Namespace))
}

// httpRoute checks one HTTP rule at path: its matches, its destinations and
// their weights, fallbacks, fault injection and retries.
func (a *analyzer) httpRoute(o object, r *api.HTTPRoute, path string, bound []string) {
	for j := range r.Match {
		a.match(o, &r.Match[j], fmt.Sprintf("%s.match[%d]", path, j), bound)
	}
	switch {
	case r.Delegate != nil:
		a.delegateRef(o, r, path)
	case r.Redirect != nil || r.DirectResponse != nil:
		a.localAnswer(o, r, path)
	case len(r.Route) == 0:
		a.errorf(o, CodeSchema, path+".route", "HTTP route has no destination",
			"add a route entry with a destination, e.g. route: [{destination: {host: mockb, subset: v1}}]")
	}
	a.weights(o, r.Route, path)
	for j := range r.Route {
		a.routeDestination(o, &r.Route[j], fmt.Sprintf("%s.route[%d]", path, j))
	}
	a.fault(o, r.Fault, path+".fault")
	a.corsPolicy(o, r.CorsPolicy, path+".corsPolicy")
	a.mirrors(o, r, path)
	if r.Retries != nil && r.Retries.Attempts < 0 {
		a.errorf(o, CodeSchema, path+".retries.attempts", "attempts cannot be negative",
			"set attempts to 0 (no retries) or more")
	}
}

// weights applies Istio's rule: no weight is negative, and with more than
// one destination they are not all zero; traffic is split in proportion
// to them, whatever they add up to (30 and 30 is half each). A single
// destination takes
// all traffic whatever its weight.
func (a *analyzer) weights(o object, routes []api.HTTPRouteDestination, path string) {
	var sum int64
	negative := false
	for j, rd := range routes {
		if rd.Weight < 0 {
			negative = true
			a.errorf(o, CodeSchema, fmt.Sprintf("%s.route[%d].weight", path, j),
				fmt.Sprintf("weight %d < 0", rd.Weight), "use a weight from 0 to 100")
		}
		sum += int64(rd.Weight)
	}
	if len(routes) > 1 && !negative && sum == 0 {
		a.errorf(o, CodeSchema, path+".route", "total destination weight = 0",
			fmt.Sprintf("give at least one of the %d destinations a weight; traffic is split in proportion to them", len(routes)))
	}
}

// routeDestination checks one weighted destination at path and its
// fallback.
func (a *analyzer) routeDestination(o object, rd *api.HTTPRouteDestination, path string) {
	d := rd.Destination
	if d.Host == "" {
		a.errorf(o, CodeSchema, path+".destination.host", "destination host is required",
			"name the service to route to, e.g. host: mockb.default.svc.cluster.local")
	} else {
		host := FQDN(d.Host, o.meta.Namespace)
		a.unknownHost(o, host, path+".destination.host")
		a.subsetRef(o, host, d.Subset, path+".destination.subset")
		a.portRef(o, host, d.Port, path+".destination.port.number")
	}
	if rd.Fallback != nil {
		a.fallback(o, rd, path+".fallback")
	}
}

// subsetRef checks that subset of host, referenced at field, is defined by
// the DestinationRule a client in the VirtualService's namespace would use
// (DestinationRules.For, the same lookup routes compile with). An
// undefined subset is an error: at run time the route would answer 503 NC.
func (a *analyzer) subsetRef(o object, host, subset, field string) {
	if subset == "" {
		return
	}
	dr := a.drs.For(host, o.meta.Namespace, a.serviceNamespace(host))
	if Subset(dr, subset) != nil || a.anyRuleDefines(host, subset) {
		return
	}
	var hint string
	switch {
	case dr == nil:
		hint = fmt.Sprintf("define a DestinationRule for host %s with subset %q, or remove the subset", host, subset)
	case len(dr.Spec.Subsets) == 0:
		hint = fmt.Sprintf("add subset %q to DestinationRule %s, which defines none yet", subset, dr.Metadata.Key())
	default:
		hint = fmt.Sprintf("add subset %q to DestinationRule %s, or use one it defines (%s)",
			subset, dr.Metadata.Key(), subsetNames(dr))
	}
	a.errorf(o, CodeNotFound, field,
		"Referenced host+subset in destinationrule not found: "+strconv.Quote(host+"+"+subset), hint)
}

// anyRuleDefines reports whether some DestinationRule, in any namespace,
// whose host covers host defines subset. Istio's analyzer asks no more: a
// VirtualService in the root namespace may route callers of several
// namespaces, each seeing its own namespace's rule.
func (a *analyzer) anyRuleDefines(host, subset string) bool {
	for _, dr := range a.c.DestinationRules {
		if HostMatches(FQDN(dr.Spec.Host, dr.Metadata.Namespace), host) && Subset(dr, subset) != nil {
			return true
		}
	}
	return false
}

func subsetNames(dr *api.DestinationRule) string {
	var names []string
	for _, s := range dr.Spec.Subsets {
		names = append(names, strconv.Quote(s.Name))
	}
	return strings.Join(names, ", ")
}

// portRef warns when a destination names a port the (known) service does
// not have; the route would reach no cluster.
func (a *analyzer) portRef(o object, host string, port *api.PortSelector, field string) {
	svc := a.hosts[host]
	if port == nil || svc == nil || len(svc.Ports) == 0 {
		return
	}
	var have []string
	for _, p := range svc.Ports {
		if p.Port == port.Number {
			return
		}
		have = append(have, strconv.Itoa(int(p.Port)))
	}
	a.warnf(o, CodeNotFound, field, fmt.Sprintf("Referenced port not found: %d on host %s", port.Number, host),
		"use one of the service's ports: "+strings.Join(have, ", "))
}

// fallback checks ASM's fallback target at path: it must name a service
// lanemesh knows (a fallback fires on that service's endpoint health, which
// only a known service has), a defined subset, and something other than
// the destination itself.
func (a *analyzer) fallback(o object, rd *api.HTTPRouteDestination, path string) {
	t := rd.Fallback.Target
	tp := path + ".target"
	if t.Host == "" {
		a.errorf(o, CodeSchema, tp+".host", "fallback target host is required",
			"name the service to fall back to, e.g. target: {host: mockb.default.svc.cluster.local, subset: v1}")
		return
	}
	host := FQDN(t.Host, o.meta.Namespace)
	switch {
	case isWildcard(host):
		a.errorf(o, CodeFallback, tp+".host", fmt.Sprintf("fallback target host %q is a wildcard", host),
			"name one service as the fallback target")
		return
	case a.hosts[host] == nil:
		a.errorf(o, CodeNotFound, tp+".host", "Referenced host not found: "+strconv.Quote(host),
			a.hostHint(host, o.meta.Namespace))
	}
	a.subsetRef(o, host, t.Subset, tp+".subset")
	a.portRef(o, host, t.Port, tp+".port.number")
	d := rd.Destination
	if d.Host != "" && FQDN(d.Host, o.meta.Namespace) == host && d.Subset == t.Subset {
		a.errorf(o, CodeFallback, tp, "fallback target "+target(host, t.Subset)+" is the same as its destination",
			"point the fallback at another subset (usually v1) or remove it; falling back to the destination itself never helps")
	}
}

// target renders host and subset as istioctl does: "host+subset".
func target(host, subset string) string {
	if subset == "" {
		return host
	}
	return host + "+" + subset
}

// fault checks fault injection as Istio's validateHTTPFaultInjection
// does: at least one of delay and abort, percentages that are 0 or within
// 0.0001–100, an abort status a client can receive; a delay without
// fixedDelay and an abort without httpStatus are accepted with a warning,
// since Istio accepts them and they then do nothing.
func (a *analyzer) fault(o object, f *api.HTTPFaultInjection, path string) {
	if f == nil {
		return
	}
	if f.Delay == nil && f.Abort == nil {
		a.errorf(o, CodeSchema, path, "fault must have at least delay or abort", "add delay or abort, or remove fault")
	}
	if d := f.Delay; d != nil {
		if d.FixedDelay == nil {
			a.warnf(o, CodeSchema, path+".delay.fixedDelay", "delay has no fixedDelay, so it delays nothing", "add fixedDelay, e.g. fixedDelay: 5s")
		}
		a.percent(o, d.Percentage, path+".delay.percentage.value")
		if d.Percent < 0 || d.Percent > 100 {
			a.errorf(o, CodeSchema, path+".delay.percent", fmt.Sprintf("percent %d is not in range 0-100", d.Percent),
				"use a percentage from 0 to 100")
		}
		if d.FixedDelay != nil && d.Percentage == nil && d.Percent == 0 {
			a.warnf(o, CodeSchema, path+".delay.percentage", "delay has no percentage, so it delays no request",
				"add percentage, e.g. percentage: {value: 100} to delay every request")
		}
	}
	if ab := f.Abort; ab != nil {
		switch {
		case ab.HTTPStatus == nil:
			a.warnf(o, CodeSchema, path+".abort.httpStatus", "abort has no httpStatus, so it aborts nothing",
				"add httpStatus, e.g. httpStatus: 503")
		case *ab.HTTPStatus < 200 || *ab.HTTPStatus > 599:
			a.errorf(o, CodeSchema, path+".abort.httpStatus", fmt.Sprintf("HTTP status %d is not in range 200-599", *ab.HTTPStatus),
				"use an HTTP status from 200 to 599, e.g. httpStatus: 503")
		case ab.Percentage == nil:
			a.warnf(o, CodeSchema, path+".abort.percentage", "abort has no percentage, so it aborts no request",
				"add percentage, e.g. percentage: {value: 100} to abort every request")
		}
		a.percent(o, ab.Percentage, path+".abort.percentage.value")
	}
}

// percent is Istio's validatePercentage: 0, or from 0.0001 (one request
// in a million, the finest share Envoy draws) to 100.
func (a *analyzer) percent(o object, p *api.Percent, field string) {
	if p != nil && !(p.Value == 0 || p.Value >= 0.0001 && p.Value <= 100) { // written so that NaN fails too
		a.errorf(o, CodeSchema, field, fmt.Sprintf("percentage %g is neither 0 nor in range 0.0001-100", p.Value),
			"use 0, or a percentage from 0.0001 to 100")
	}
}
