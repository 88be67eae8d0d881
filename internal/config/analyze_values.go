package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/re2sub"
)

// This file applies rules.go to every field lanemesh reads, where Istio's
// validation applies each rule. A value that breaks a rule is an Error at
// its field, and the field is remembered as bad (analyzer.bad), so that
// findings of other checks on the same field, which would only be
// consequences ("host not found" for "mockb:8000"), are dropped.

// values checks every object's values against Istio's rules.
func (a *analyzer) values() {
	for _, vs := range a.c.VirtualServices {
		a.vsValues(vs)
	}
	for _, dr := range a.c.DestinationRules {
		a.drValues(dr)
	}
	for _, gw := range a.c.Gateways {
		a.gwValues(gw)
	}
	for _, se := range a.c.ServiceEntries {
		a.seValues(se)
	}
	for _, we := range a.c.WorkloadEntries {
		a.weValues(we)
	}
	a.k8sValues()
}

// badValue records that field of o holds an invalid value.
func (a *analyzer) badValue(o object, field, msg, hint string) {
	a.errorf(o, CodeSchema, field, msg, hint)
	if a.bad == nil {
		a.bad = map[string]bool{}
	}
	a.bad[o.kind+" "+o.meta.Key()+" "+field] = true
}

// labels checks a label map at field (keys are reported at their own
// path, field["key"]).
func (a *analyzer) labels(o object, m map[string]string, field string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kf := field + "[" + strconv.Quote(k) + "]"
		if p := labelKeyProblem(k); p != "" {
			a.badValue(o, kf, p, labelRules)
		} else if p := labelValueProblem(m[k]); p != "" {
			a.badValue(o, kf, p, labelRules)
		}
	}
}

func (a *analyzer) port(o object, n uint32, field string) {
	if p := portProblem(int64(n)); p != "" {
		a.badValue(o, field, p, "use the port number the service listens on, from 1 to 65535")
	}
}

func (a *analyzer) duration(o object, d *api.Duration, field string) {
	if d == nil {
		return
	}
	if p := durationProblem(d.Duration); p != "" {
		a.badValue(o, field, p, "write a whole number of milliseconds or more, e.g. \"500ms\" or \"2s\"")
	}
}

// host checks a host with ValidateWildcardDomain; IP addresses are
// accepted where Istio accepts them (ipOK).
func (a *analyzer) host(o object, h, field string, ipOK bool) {
	if h == "" || (ipOK && isIP(h)) {
		return // an empty host is reported by the check that requires it
	}
	if p := wildcardDomainProblem(h); p != "" {
		a.badValue(o, field, p, hostRules)
	}
}

// destination checks a route's or fallback's destination at path.
func (a *analyzer) destinationValues(o object, d api.Destination, path string) {
	if d.Host == "*" {
		a.badValue(o, path+".host", `destination host "*" is not valid`, "name one service")
	} else {
		a.host(o, d.Host, path+".host", false)
	}
	if d.Subset != "" && !ValidSubsetName(d.Subset) {
		a.badValue(o, path+".subset", fmt.Sprintf("subset name %q is not valid", d.Subset), "subset names are DNS labels: letters, digits and '-'")
	}
	if d.Port != nil {
		a.port(o, d.Port.Number, path+".port.number")
	}
}

func (a *analyzer) vsValues(vs *api.VirtualService) {
	o := object{"VirtualService", &vs.Metadata}
	for i, h := range vs.Spec.Hosts {
		a.host(o, h, fmt.Sprintf("spec.hosts[%d]", i), true)
	}
	a.duplicateHosts(o, vs.Spec.Hosts)
	a.gatewayNames(o, vs.Spec.Gateways, "spec.gateways")
	a.exportTo(o, vs.Spec.ExportTo, false)
	if len(vs.Spec.HTTP) == 0 && !o.has("spec.tcp") && !o.has("spec.tls") {
		a.badValue(o, "spec.http", "http, tcp or tls must be provided in virtual service", "add an http route, e.g. http: [{route: [{destination: {host: mockb}}]}]")
	}
	for i := range vs.Spec.HTTP {
		r := &vs.Spec.HTTP[i]
		path := fmt.Sprintf("spec.http[%d]", i)
		for j := range r.Match {
			mp := fmt.Sprintf("%s.match[%d]", path, j)
			a.matchValues(o, &r.Match[j], mp)
		}
		a.headerValues(o, r.Headers, path+".headers")
		a.rewriteValues(o, r.Rewrite, path+".rewrite")
		for j, rd := range r.Route {
			rp := fmt.Sprintf("%s.route[%d]", path, j)
			a.destinationValues(o, rd.Destination, rp+".destination")
			a.headerValues(o, rd.Headers, rp+".headers")
			if rd.Fallback != nil {
				a.destinationValues(o, rd.Fallback.Target, rp+".fallback.target")
			}
		}
		a.duration(o, r.Timeout, path+".timeout")
		if f := r.Fault; f != nil && f.Delay != nil {
			a.duration(o, f.Delay.FixedDelay, path+".fault.delay.fixedDelay")
		}
		a.retryValues(o, r.Retries, path+".retries")
	}
}

// rewriteValues is validateHTTPRewrite: uri or uriRegexRewrite, not both,
// or authority; a regex rewrite with both its match (RE2) and its rewrite.
// lanemesh also refuses a rewrite that Envoy's RE2 cannot apply (a group
// the match lacks, a stray backslash), which Istio accepts and Envoy then
// leaves the path alone for.
func (a *analyzer) rewriteValues(o object, rw *api.HTTPRewrite, path string) {
	switch {
	case rw == nil:
		return
	case rw.URI != "" && rw.URIRegexRewrite != nil:
		a.badValue(o, path, "rewrite may only contain one of uri or uriRegexRewrite", "keep one of the two")
	case rw.URI == "" && rw.URIRegexRewrite == nil && rw.Authority == "":
		a.badValue(o, path, "rewrite must specify uri, uriRegexRewrite or authority", "set one of them, or remove rewrite")
	}
	rr := rw.URIRegexRewrite
	if rr == nil {
		return
	}
	if rr.Match == "" || rr.Rewrite == "" {
		a.badValue(o, path+".uriRegexRewrite", "uriRegexRewrite requires both rewrite and match", "set match (an RE2 expression) and rewrite")
		return
	}
	re, problem := re2Problem(rr.Match)
	if problem != "" {
		a.badValue(o, path+".uriRegexRewrite.match", problem, re2Hint)
		return
	}
	if _, err := re2sub.Template(re, rr.Rewrite); err != nil {
		a.badValue(o, path+".uriRegexRewrite.rewrite", err.Error(), `refer to the match's groups as \1 to \9 (\0 is the whole match)`)
	}
}

// retryValues is validateHTTPRetry: a known retryOn, a valid perTryTimeout
// and backoff, and nothing configured when attempts is 0 (retries
// disabled).
func (a *analyzer) retryValues(o object, r *api.HTTPRetry, path string) {
	if r == nil {
		return
	}
	a.duration(o, r.PerTryTimeout, path+".perTryTimeout")
	a.duration(o, r.Backoff, path+".backoff")
	if r.RetryOn != "" {
		problems, hints := retryOnProblems(r.RetryOn)
		for i := range problems {
			a.badValue(o, path+".retryOn", problems[i], hints[i])
		}
	}
	if r.Attempts == 0 && (r.PerTryTimeout != nil || r.RetryOn != "") {
		a.badValue(o, path+".attempts", "retry policy configured while attempts is 0 (retries disabled)",
			"set attempts to the number of retries, or remove perTryTimeout and retryOn")
	}
}

func (a *analyzer) drValues(dr *api.DestinationRule) {
	o := object{"DestinationRule", &dr.Metadata}
	a.host(o, dr.Spec.Host, "spec.host", false)
	a.exportTo(o, dr.Spec.ExportTo, false)
	a.policyValues(o, dr.Spec.TrafficPolicy, "spec.trafficPolicy")
	for i, s := range dr.Spec.Subsets {
		path := fmt.Sprintf("spec.subsets[%d]", i)
		if s.Name != "" && !ValidSubsetName(s.Name) {
			a.badValue(o, path+".name", fmt.Sprintf("subset name %q is not valid", s.Name), "subset names are DNS labels: letters, digits and '-'")
		}
		a.labels(o, s.Labels, path+".labels")
		a.policyValues(o, s.TrafficPolicy, path+".trafficPolicy")
	}
}

// policyValues checks a traffic policy's durations, as
// validateConnectionPool and validateOutlierDetection do.
func (a *analyzer) policyValues(o object, tp *api.TrafficPolicy, path string) {
	if tp == nil {
		return
	}
	if tp.LoadBalancer == nil && tp.ConnectionPool == nil && tp.OutlierDetection == nil && len(tp.PortLevelSettings) == 0 && tp.TLS == nil {
		a.badValue(o, path, "traffic policy must have at least one field",
			"set loadBalancer, connectionPool, outlierDetection, tls or portLevelSettings, or remove trafficPolicy")
	}
	a.clientTLS(o, tp.TLS, path)
	if cp := tp.ConnectionPool; cp != nil {
		a.connectionPool(o, cp, path+".connectionPool")
	}
	if od := tp.OutlierDetection; od != nil {
		a.duration(o, od.Interval, path+".outlierDetection.interval")
		a.duration(o, od.BaseEjectionTime, path+".outlierDetection.baseEjectionTime")
		if !od.SplitExternalLocalOriginErrors && od.ConsecutiveLocalOriginFailures != nil && *od.ConsecutiveLocalOriginFailures > 0 {
			a.badValue(o, path+".outlierDetection.consecutiveLocalOriginFailures",
				"consecutiveLocalOriginFailures is set, but splitExternalLocalOriginErrors is false", "set splitExternalLocalOriginErrors: true, or remove it")
		}
	}
}

// k8sValues checks the labels of the Kubernetes kinds, as the API server
// would: a Service's selector, a Deployment's selector and pod labels.
func (a *analyzer) k8sValues() {
	for _, s := range a.c.Services {
		a.labels(object{"Service", &s.Metadata}, s.Spec.Selector, "spec.selector")
	}
	for _, d := range a.c.Deployments {
		o := object{"Deployment", &d.Metadata}
		if d.Spec.Selector != nil {
			a.labels(o, d.Spec.Selector.MatchLabels, "spec.selector.matchLabels")
		}
		a.labels(o, d.Spec.Template.Metadata.Labels, "spec.template.metadata.labels")
	}
}

// h2UpgradePolicies are Istio's ConnectionPoolSettings.HTTPSettings
// H2UpgradePolicy values.
var h2UpgradePolicies = []string{"DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"}

// connectionPool is validateConnectionPool: some setting, no negative
// limit, durations as everywhere, useClientProtocol not with UPGRADE.
func (a *analyzer) connectionPool(o object, cp *api.ConnectionPool, path string) {
	if cp.TCP == nil && cp.HTTP == nil {
		a.badValue(o, path, "connection pool must have at least one field", "set tcp or http limits, or remove connectionPool")
		return
	}
	type limit struct {
		name  string
		value int32
	}
	var limits []limit
	if t := cp.TCP; t != nil {
		a.duration(o, t.ConnectTimeout, path+".tcp.connectTimeout")
		a.duration(o, t.MaxConnectionDuration, path+".tcp.maxConnectionDuration")
		if ka := t.TCPKeepalive; ka != nil {
			a.duration(o, ka.Time, path+".tcp.tcpKeepalive.time")
			a.duration(o, ka.Interval, path+".tcp.tcpKeepalive.interval")
		}
		limits = append(limits, limit{"tcp.maxConnections", t.MaxConnections})
	}
	if h := cp.HTTP; h != nil {
		a.duration(o, h.IdleTimeout, path+".http.idleTimeout")
		a.enum(o, h.H2UpgradePolicy, h2UpgradePolicies, path+".http.h2UpgradePolicy")
		if h.H2UpgradePolicy == "UPGRADE" && h.UseClientProtocol {
			a.badValue(o, path+".http.useClientProtocol", "use client protocol must not be true when h2UpgradePolicy is UPGRADE",
				"set one of the two")
		}
		limits = append(limits, limit{"http.http1MaxPendingRequests", h.HTTP1MaxPendingRequests}, limit{"http.http2MaxRequests", h.HTTP2MaxRequests},
			limit{"http.maxRequestsPerConnection", h.MaxRequestsPerConnection}, limit{"http.maxRetries", h.MaxRetries},
			limit{"http.maxConcurrentStreams", h.MaxConcurrentStreams})
	}
	for _, l := range limits {
		if l.value < 0 {
			a.badValue(o, path+"."+l.name, fmt.Sprintf("%s %d is negative", l.name, l.value), "set 0 (no limit) or more")
		}
	}
}

// GatewayLabels are the labels of the gateway lanemesh up runs, the one
// workload a Gateway's selector can pick besides the configuration's own.
var GatewayLabels = map[string]string{"istio": "ingressgateway"}

func (a *analyzer) gwValues(gw *api.Gateway) {
	o := object{"Gateway", &gw.Metadata}
	a.labels(o, gw.Spec.Selector, "spec.selector")
	a.gatewaySelector(o, gw.Spec.Selector)
	names := map[string]int{}
	for i, s := range gw.Spec.Servers {
		path := fmt.Sprintf("spec.servers[%d]", i)
		for j, h := range s.Hosts {
			if h == "" {
				continue // reported by gateway()
			}
			if p := gatewayHostProblem(h); p != "" {
				a.badValue(o, fmt.Sprintf("%s.hosts[%d]", path, j), p, hostRules+"; optionally namespace/ before it")
			}
		}
		a.serverPort(o, s, path, names)
		if s.Bind != "" && !strings.HasPrefix(s.Bind, unixPrefix) && !isIP(s.Bind) {
			a.badValue(o, path+".bind", fmt.Sprintf("bind %q is not an IP address", s.Bind), "write the IP address to listen on, or remove bind")
		}
	}
}

// serverPort is validateServerPort and validateServer's TLS rules: a known
// protocol, a port name unique in the Gateway, and TLS settings as
// serverTLS checks them.
func (a *analyzer) serverPort(o object, s api.Server, path string, names map[string]int) {
	p := s.Port // its number's range is gateway()'s check
	switch {
	case p.Protocol != "" && !containsFold(protocols, p.Protocol):
		a.badValue(o, path+".port.protocol", fmt.Sprintf("protocol %q is not supported", p.Protocol), "use one of "+strings.Join(protocols, ", "))
	case !IsHTTPProtocol(p.Protocol) && !isTLSProtocol(p.Protocol):
		// lanemesh's gateway serves HTTP and HTTPS; refused rather than
		// left without a listener.
		a.errorf(o, CodeUnsupported, path+".port.protocol", fmt.Sprintf("a %s server is valid Istio but lanemesh does not implement it: its gateway routes HTTP only, and would open no listener for it", strings.ToUpper(p.Protocol)),
			"serve the port as HTTP (or HTTPS with tls) if it carries HTTP; otherwise leave it out of lanemesh's gateway")
	}
	if p.TargetPort != 0 {
		a.badValue(o, path+".port.targetPort", "targetPort has no effect on a Gateway", "remove it")
	}
	switch first, dup := names[p.Name]; {
	case p.Name == "":
		a.badValue(o, path+".port.name", "port name must be set", "name the port, e.g. name: http")
	case dup:
		a.badValue(o, path+".port.name", fmt.Sprintf("port name %q is already used by spec.servers[%d]", p.Name, first), "give each server's port its own name")
	default:
		names[p.Name] = len(names)
	}
	a.serverTLS(o, s, path)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// gatewaySelector reports, as istioctl analyze's IngressGatewayPortAnalyzer
// does (IST0101, Error), a selector that picks no workload: neither
// lanemesh's own gateway nor any Deployment or WorkloadEntry of the
// configuration, in any namespace.
func (a *analyzer) gatewaySelector(o object, sel map[string]string) {
	if SubsetOf(sel, GatewayLabels) {
		return
	}
	for _, w := range a.candidates("", sel) {
		if SubsetOf(sel, w.Labels) {
			return
		}
	}
	a.errorf(o, CodeNotFound, "spec.selector", "Referenced selector not found: "+strconv.Quote(selectorString(sel)),
		fmt.Sprintf("select the gateway with %s (lanemesh up's own and lanemesh proxy --role gateway's default), or describe the gateway workload with these labels (a Deployment or a WorkloadEntry)", formatLabels(GatewayLabels)))
}

// selectorString renders labels as Kubernetes prints a selector, "k=v,k=v".
func selectorString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// dropConsequences removes findings on a field already reported as holding
// an invalid value (or on the map or object around it, or inside it): they
// follow from that value and would only bury the one thing to fix.
func (a *analyzer) dropConsequences() {
	if len(a.bad) == 0 {
		return
	}
	out := a.diags[:0]
	for _, d := range a.diags {
		if d.Code == CodeSchema && a.bad[d.Kind+" "+d.Namespace+"/"+d.Name+" "+d.Field] || !a.consequence(d) {
			out = append(out, d)
		}
	}
	a.diags = out
}

func (a *analyzer) consequence(d Diagnostic) bool {
	prefix := d.Kind + " " + d.Namespace + "/" + d.Name + " "
	for bad := range a.bad {
		f, ok := strings.CutPrefix(bad, prefix)
		if !ok {
			continue
		}
		if d.Field == f || strings.HasPrefix(f, d.Field+"[") || strings.HasPrefix(d.Field, f+".") {
			return true
		}
	}
	return false
}
