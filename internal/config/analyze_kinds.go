package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lanemesh/lanemesh/api"
)

// destinationRule checks one DestinationRule: its host, its subsets' names,
// their traffic policies and whether each subset selects a workload.
func (a *analyzer) destinationRule(dr *api.DestinationRule) {
	o := object{"DestinationRule", &dr.Metadata}
	host := ""
	if dr.Spec.Host == "" {
		a.errorf(o, CodeSchema, "spec.host", "DestinationRule has no host",
			"set spec.host to the service the subsets belong to, e.g. mockb.default.svc.cluster.local")
	} else {
		host = FQDN(dr.Spec.Host, dr.Metadata.Namespace)
		a.unknownHost(o, host, "spec.host")
	}
	a.trafficPolicy(o, dr.Spec.TrafficPolicy, "spec.trafficPolicy")
	seen := map[string]int{}
	for i, s := range dr.Spec.Subsets {
		path := fmt.Sprintf("spec.subsets[%d]", i)
		if s.Name == "" {
			a.errorf(o, CodeSchema, path+".name", "subset has no name", "name the subset, e.g. name: v1")
		} else if first, dup := seen[s.Name]; dup {
			a.errorf(o, CodeSchema, path+".name", fmt.Sprintf("duplicate subset name %q (also spec.subsets[%d])", s.Name, first),
				"give each subset its own name; routes could not tell them apart")
		} else {
			seen[s.Name] = i
		}
		a.trafficPolicy(o, s.TrafficPolicy, path+".trafficPolicy")
		if svc := a.hosts[host]; svc != nil && !a.selectsAny(svc, s.Labels) {
			a.warnf(o, CodeSubsetNoWorkload, path+".labels",
				fmt.Sprintf("The Subset %s defined in the DestinationRule does not select any pods, which may lead to 503 UH (NoHealthyUpstream)", s.Name),
				fmt.Sprintf("run a workload of %s labelled %s, or fix the subset's labels", host, formatLabels(s.Labels)))
		}
	}
}

// selectsAny reports whether some workload behind svc has labels. A
// ServiceEntry's inline endpoints are always known, as they are part of
// the configuration; otherwise the workloads are those in the service's
// namespace that its selector picks, and a configuration with no workload
// at all (rules applied on their own) gives no grounds to warn. A replica
// count of 0 still counts: the workload exists, it is just scaled down.
func (a *analyzer) selectsAny(svc *Service, labels map[string]string) bool {
	if svc.Selector == nil {
		for _, e := range svc.Endpoints {
			if SubsetOf(labels, e.Labels) {
				return true
			}
		}
		return len(svc.Endpoints) == 0 // no selector, no endpoints: resolved by DNS, nothing to judge
	}
	if len(a.workloads) == 0 {
		return true
	}
	for _, w := range a.candidates(svc.Namespace, svc.Selector, labels) {
		if w.Namespace == svc.Namespace && SubsetOf(svc.Selector, w.Labels) && SubsetOf(labels, w.Labels) {
			return true
		}
	}
	return false
}

// candidates returns the workloads that may carry every label of sets in
// namespace ns ("" for any): those with the rarest one of those labels,
// from an index built on first use, so that checking every subset of a
// large mesh does not compare each with every workload.
func (a *analyzer) candidates(ns string, sets ...map[string]string) []Workload {
	if a.byLabel == nil {
		a.byLabel = map[string][]Workload{}
		for _, w := range a.workloads {
			for k, v := range w.Labels {
				a.byLabel[w.Namespace+"\x00"+k+"="+v] = append(a.byLabel[w.Namespace+"\x00"+k+"="+v], w)
				a.byLabel["\x00"+k+"="+v] = append(a.byLabel["\x00"+k+"="+v], w)
			}
		}
	}
	best, found := a.workloads, false
	for _, set := range sets {
		for k, v := range set {
			if ws := a.byLabel[ns+"\x00"+k+"="+v]; !found || len(ws) < len(best) {
				best, found = ws, true
			}
		}
	}
	return best
}

// loadBalancers are the simple algorithms Istio accepts.
var loadBalancers = []string{"UNSPECIFIED", "ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN", "RANDOM", "PASSTHROUGH"}

// trafficPolicy checks the enumerations and percentages of a policy at path.
func (a *analyzer) trafficPolicy(o object, tp *api.TrafficPolicy, path string) {
	if tp == nil {
		return
	}
	switch lb := tp.LoadBalancer; {
	case lb == nil:
	case lb.Simple != "" && !slices.Contains(loadBalancers, lb.Simple):
		a.errorf(o, CodeSchema, path+".loadBalancer.simple", fmt.Sprintf("unknown load balancer %q", lb.Simple),
			"use one of "+strings.Join(loadBalancers, ", "))
	case lb.Simple == "PASSTHROUGH":
		// Istio makes it an ORIGINAL_DST cluster: each connection goes to
		// the address the client dialled, which lanemesh does not track.
		a.errorf(o, CodeUnsupported, path+".loadBalancer.simple",
			"load balancer PASSTHROUGH is valid Istio but lanemesh does not implement it: it sends each connection to the address the client dialled",
			"use ROUND_ROBIN, LEAST_REQUEST or RANDOM, or leave simple unset")
	}
	a.loadBalancer(o, tp.LoadBalancer, path+".loadBalancer")
	if od := tp.OutlierDetection; od != nil {
		for _, f := range []struct {
			name  string
			value int32
		}{{"maxEjectionPercent", od.MaxEjectionPercent}, {"minHealthPercent", od.MinHealthPercent}} {
			if f.value < 0 || f.value > 100 {
				a.errorf(o, CodeSchema, path+".outlierDetection."+f.name, fmt.Sprintf("%s %d is not in range 0-100", f.name, f.value),
					"use a percentage from 0 to 100")
			}
		}
	}
	a.portLevelSettings(o, tp.PortLevelSettings, path+".portLevelSettings")
}

// portLevelSettings applies Istio's checks to port-level policies: each
// names a port and sets something, and its settings are checked as a
// policy's.
func (a *analyzer) portLevelSettings(o object, pls []api.PortTrafficPolicy, path string) {
	for i, pl := range pls {
		p := fmt.Sprintf("%s[%d]", path, i)
		if pl.Port == nil {
			a.errorf(o, CodeSchema, p+".port", "portTrafficPolicy must have valid port", "name the service port it applies to: port: {number: 80}")
		}
		if pl.LoadBalancer == nil && pl.ConnectionPool == nil && pl.OutlierDetection == nil && pl.TLS == nil {
			a.errorf(o, CodeSchema, p, "port traffic policy must have at least one field",
				"set loadBalancer, connectionPool, outlierDetection or tls for the port, or remove the entry")
			continue
		}
		entry := &api.TrafficPolicy{LoadBalancer: pl.LoadBalancer, ConnectionPool: pl.ConnectionPool, OutlierDetection: pl.OutlierDetection, TLS: pl.TLS}
		a.trafficPolicy(o, entry, p)
		a.policyValues(o, entry, p)
	}
}

// gateway checks that a Gateway has servers, and each a port and hosts.
func (a *analyzer) gateway(gw *api.Gateway) {
	o := object{"Gateway", &gw.Metadata}
	if len(gw.Spec.Servers) == 0 {
		a.errorf(o, CodeSchema, "spec.servers", "Gateway has no servers",
			"add a server with a port and hosts, e.g. servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]")
	}
	for i, s := range gw.Spec.Servers {
		path := fmt.Sprintf("spec.servers[%d]", i)
		if s.Port.Number == 0 || s.Port.Number > 65535 {
			a.errorf(o, CodeSchema, path+".port.number", fmt.Sprintf("port number %d is not in range 1-65535", s.Port.Number),
				"set port.number, e.g. number: 80")
		}
		if len(s.Hosts) == 0 {
			a.errorf(o, CodeSchema, path+".hosts", "server has no hosts", "list the hosts it serves, e.g. hosts: ['*']")
		}
		for j, h := range s.Hosts {
			if h == "" {
				a.errorf(o, CodeSchema, fmt.Sprintf("%s.hosts[%d]", path, j), "host is empty", "write a host name or remove the entry")
			}
		}
	}
}

// duplicateTLSHosts warns of a server with TLS settings that names a host
// an earlier server on the same port of a Gateway with the same selector
// named: Istio (CheckDuplicates) leaves such a server out whole, and so
// does lanemesh's compiler, which would otherwise be silent about it.
func (a *analyzer) duplicateTLSHosts() {
	type seen struct{ gateway, field string }
	known := map[string]seen{} // by selector, port and host
	for _, gw := range a.c.Gateways {
		o := object{"Gateway", &gw.Metadata}
		sel := fmt.Sprint(gw.Spec.Selector)
		for i, s := range gw.Spec.Servers {
			if s.TLS == nil {
				continue
			}
			path := fmt.Sprintf("spec.servers[%d]", i)
			i := slices.IndexFunc(s.Hosts, func(h string) bool { _, ok := known[fmt.Sprint(sel, s.Port.Number, h)]; return ok })
			if i >= 0 {
				first := known[fmt.Sprint(sel, s.Port.Number, s.Hosts[i])]
				a.warnf(o, CodeConflictingGateways, path+".hosts", fmt.Sprintf("host %q on port %d is already served by %s %s; this server is left out whole, as Istio leaves it out",
					s.Hosts[i], s.Port.Number, first.gateway, first.field), "serve each host on a port from one server")
				continue
			}
			for _, h := range s.Hosts {
				known[fmt.Sprint(sel, s.Port.Number, h)] = seen{"Gateway " + gw.Metadata.Key(), path}
			}
		}
	}
}

// serviceEntry checks that a ServiceEntry names at least one host.
func (a *analyzer) serviceEntry(se *api.ServiceEntry) {
	o := object{"ServiceEntry", &se.Metadata}
	if len(se.Spec.Hosts) == 0 {
		a.errorf(o, CodeSchema, "spec.hosts", "ServiceEntry has no hosts", "list the hosts it defines under spec.hosts")
	}
	for i, h := range se.Spec.Hosts {
		if h == "" {
			a.errorf(o, CodeSchema, fmt.Sprintf("spec.hosts[%d]", i), "host is empty", "write a host name or remove the entry")
		}
	}
}

// service checks that a Kubernetes Service has ports, each a valid number,
// and no two the same (port, protocol), as the API server would.
func (a *analyzer) service(s *api.Service) {
	o := object{"Service", &s.Metadata}
	if len(s.Spec.Ports) == 0 {
		a.errorf(o, CodeSchema, "spec.ports", "Service has no ports",
			"list the ports it serves, e.g. ports: [{name: http, port: 8000}]")
	}
	seen := map[string]int{}
	for i, p := range s.Spec.Ports {
		field := fmt.Sprintf("spec.ports[%d].port", i)
		if p.Port == 0 || p.Port > 65535 {
			a.errorf(o, CodeSchema, field, fmt.Sprintf("port %d is not in range 1-65535", p.Port), "set port to the number clients call")
			continue
		}
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		k := strconv.Itoa(int(p.Port)) + "/" + proto
		if first, dup := seen[k]; dup {
			a.errorf(o, CodeSchema, field, fmt.Sprintf("duplicate port %d/%s (also spec.ports[%d])", p.Port, proto, first),
				"give each port its own number, or remove one")
			continue
		}
		seen[k] = i
	}
}

// deployment checks what the API server would reject in a Deployment and
// what local mode needs to start its pods.
func (a *analyzer) deployment(d *api.Deployment) {
	o := object{"Deployment", &d.Metadata}
	if r := d.Spec.Replicas; r != nil && *r < 0 {
		a.errorf(o, CodeSchema, "spec.replicas", fmt.Sprintf("replicas %d is negative", *r), "set replicas to 0 or more")
	}
	tmpl := d.Spec.Template.Metadata.Labels
	switch sel := d.Spec.Selector; {
	case sel == nil || len(sel.MatchLabels) == 0:
		a.errorf(o, CodeSchema, "spec.selector", "selector.matchLabels is required",
			"set spec.selector.matchLabels to labels of the pod template, e.g. "+formatLabels(tmpl))
	case !SubsetOf(sel.MatchLabels, tmpl):
		a.errorf(o, CodeSchema, "spec.selector.matchLabels",
			fmt.Sprintf("selector %s does not match template labels %s", formatLabels(sel.MatchLabels), formatLabels(tmpl)),
			"make every selector label a label of spec.template.metadata.labels")
	}
	cs := d.Spec.Template.Spec.Containers
	if len(cs) == 0 {
		a.errorf(o, CodeSchema, "spec.template.spec.containers", "pod template has no containers",
			"add a container with an image (lanemesh/mock) or a command")
	}
	for i, c := range cs {
		path := fmt.Sprintf("spec.template.spec.containers[%d]", i)
		if c.Name == "" {
			a.errorf(o, CodeSchema, path+".name", "container has no name", "name the container, e.g. name: app")
		}
		if c.Image == "" && len(c.Command) == 0 {
			a.errorf(o, CodeSchema, path+".image", fmt.Sprintf("container %q has neither image nor command", c.Name),
				"set image: lanemesh/mock for the built-in mock app, or command to run a local process")
		}
	}
}
