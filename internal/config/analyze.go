package config

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lanemesh/lanemesh/api"
)

// Analyze judges the meaning of a configuration that has decoded cleanly:
// what `lanemesh analyze` reports beyond Parse. It checks that every
// reference resolves (subsets, gateways, hosts, fallback targets), that
// values Istio or Kubernetes would reject are caught here first (weights,
// string matches, fault statuses, Deployment selectors, Service ports), and
// that no two VirtualServices claim one host on one gateway.
//
// Analyze is pure: it reads only c, does no I/O, and does not change c. Its
// result is deterministic and sorted by file, line, code and field, so that
// the CLI, `lanemesh apply` and the control plane's reload print the same
// findings in the same order. References to things lanemesh cannot see
// (a host outside the configuration, a subset that selects no workload) are
// Warnings, because they may live in a cluster lanemesh does not know;
// everything that cannot work whatever the cluster holds is an Error.
func Analyze(c *Config) Diagnostics {
	a := newAnalyzer(c)
	for _, vs := range c.VirtualServices {
		a.virtualService(vs)
	}
	a.conflictingHosts()
	for _, dr := range c.DestinationRules {
		a.destinationRule(dr)
	}
	for _, gw := range c.Gateways {
		a.gateway(gw)
	}
	a.duplicateTLSHosts()
	for _, se := range c.ServiceEntries {
		a.serviceEntry(se)
	}
	for _, s := range c.Services {
		a.service(s)
	}
	for _, d := range c.Deployments {
		a.deployment(d)
	}
	for _, p := range c.LaneEntryPolicies {
		a.laneEntryPolicy(p)
	}
	a.values()
	a.dropConsequences()
	sortDiagnostics(a.diags)
	return a.diags
}

// referenceCodes are the codes of findings about a reference that does not
// resolve: the ones an object rejected for another error can cause.
var referenceCodes = []string{CodeNotFound, CodeSubsetNoWorkload, CodeFallback, CodeVSHostNotInGateway}

// AnalyzeLoaded is Analyze for a configuration that Parse or Load built
// with findings loaded: a reference is reported missing only if it is
// missing even when the objects they rejected (a DestinationRule with a
// misspelt field, say) are counted, since fixing that one error is all it
// takes. And an object rejected only for fields lanemesh does not
// implement (LM0003) is analyzed too, as written less those fields, so
// that they do not hide its other mistakes until they are removed; a
// finding at (or under, or above) such a field is left out. An object with
// a misspelt or mistyped field is not: what it would have said there is
// unknown, and findings about it would be guesses. `lanemesh analyze`
// reports both sets of findings this way.
func AnalyzeLoaded(c *Config, loaded Diagnostics) Diagnostics {
	diags := Analyze(c)
	with := c.Clone()
	unsupported := map[string][]string{} // object key → its LM0003 fields; nil if it has other decode errors
	added := false
	for _, d := range loaded {
		if d.rejected == nil {
			continue
		}
		fields, seen := unsupported[d.objectKey()]
		switch {
		case d.Code != CodeUnsupported || seen && fields == nil:
			unsupported[d.objectKey()] = nil
		default:
			unsupported[d.objectKey()] = append(fields, d.Field)
		}
		if with.Find(d.rejected) == nil {
			with.add(d.rejected)
			added = true
		}
	}
	if !added {
		return diags
	}
	still := map[string]bool{}
	var hidden Diagnostics
	for _, d := range Analyze(with) {
		still[d.referenceKey()] = true
		if fields := unsupported[d.objectKey()]; fields != nil && !slices.ContainsFunc(fields, func(f string) bool { return fieldsOverlap(f, d.Field) }) {
			hidden = append(hidden, d)
		}
	}
	out := diags[:0]
	for _, d := range diags {
		if !slices.Contains(referenceCodes, d.Code) || still[d.referenceKey()] {
			out = append(out, d)
		}
	}
	out = append(out, hidden...)
	sortDiagnostics(out)
	return out
}

func (d Diagnostic) objectKey() string {
	return strings.Join([]string{d.Kind, d.Namespace, d.Name}, "\x00")
}

// fieldsOverlap reports whether one field path is the other or lies
// within it ("" is the whole object).
func fieldsOverlap(a, b string) bool {
	within := func(inner, outer string) bool {
		return outer == "" || inner == outer || strings.HasPrefix(inner, outer+".") || strings.HasPrefix(inner, outer+"[")
	}
	return within(a, b) || within(b, a)
}

func (d Diagnostic) referenceKey() string {
	return strings.Join([]string{d.Code, d.Kind, d.Namespace, d.Name, d.Field}, "\x00")
}

// analyzer holds what every check looks things up in, computed once from
// the configuration, and the findings so far. It lives for one Analyze call.
type analyzer struct {
	c         *Config
	hosts     map[string]*Service     // c.Hosts(), by FQDN
	workloads []Workload              // c.Workloads()
	gateways  map[string]*api.Gateway // by "namespace/name"
	drs       *DestinationRules
	diags     Diagnostics
	bad       map[string]bool       // "kind namespace/name field" of invalid values (analyze_values.go)
	byLabel   map[string][]Workload // by "namespace\x00key=value" and "\x00key=value" (candidates)
}

func newAnalyzer(c *Config) *analyzer {
	a := &analyzer{c: c, hosts: c.Hosts(), workloads: c.Workloads(), gateways: map[string]*api.Gateway{}, drs: NewDestinationRules(c)}
	for _, gw := range c.Gateways {
		a.gateways[gw.Metadata.Key()] = gw
	}
	return a
}

// object is the object a finding is about: its kind and its metadata, which
// carries the namespace, the name and the lines of its fields.
type object struct {
	kind string
	meta *api.ObjectMeta
}

// has reports whether the field at path was written in the object's YAML,
// even with an empty value (exact: ""), which the decoded struct cannot
// tell from an absent field.
func (o object) has(path string) bool {
	_, ok := o.meta.Source.Fields[path]
	return ok
}

// report records a finding about field of o. hint says what to do, in
// lower case like the loader's hints; Diagnostic.String capitalises it.
func (a *analyzer) report(lvl Level, o object, code, field, msg, hint string) {
	a.diags = append(a.diags, Diagnostic{
		Level: lvl, Code: code, File: o.meta.Source.File, Line: o.meta.Source.LineOf(field),
		Kind: o.kind, Namespace: o.meta.Namespace, Name: o.meta.Name,
		Field: field, Message: msg, Hint: hint,
	})
}

func (a *analyzer) errorf(o object, code, field, msg, hint string) {
	a.report(Error, o, code, field, msg, hint)
}

func (a *analyzer) warnf(o object, code, field, msg, hint string) {
	a.report(Warning, o, code, field, msg, hint)
}

// sortDiagnostics orders findings by file, line, code and field. The
// remaining keys only make ties deterministic.
func sortDiagnostics(ds Diagnostics) {
	slices.SortStableFunc(ds, func(x, y Diagnostic) int {
		return cmp.Or(
			cmp.Compare(x.File, y.File),
			cmp.Compare(x.Line, y.Line),
			cmp.Compare(x.Code, y.Code),
			cmp.Compare(x.Field, y.Field),
			cmp.Compare(x.Level, y.Level),
			cmp.Compare(x.Namespace+"/"+x.Name, y.Namespace+"/"+y.Name),
			cmp.Compare(x.Message, y.Message),
		)
	})
}

// isWildcard reports whether host is a pattern ("*", "*.example.com")
// rather than one service; wildcards name no single registry entry, so
// "is it known" checks skip them.
func isWildcard(host string) bool { return strings.Contains(host, "*") }

// serviceNamespace returns the namespace of the service behind host: the
// registry's when the host is known, else the one an FQDN spells
// ("mockb.<ns>.svc.cluster.local"), else "".
func (a *analyzer) serviceNamespace(host string) string {
	if svc := a.hosts[host]; svc != nil {
		return svc.Namespace
	}
	if name, ok := strings.CutSuffix(host, "."+ClusterDomain); ok {
		if _, ns, ok := strings.Cut(name, "."); ok && !strings.Contains(ns, ".") {
			return ns
		}
	}
	return ""
}

// formatLabels renders labels as "{k1: v1, k2: v2}", sorted, the way they
// are written in YAML.
func formatLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + labels[k]
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// unknownHost warns that host, referenced at field, is no Service or
// ServiceEntry the configuration defines. It is a Warning, as the service
// may live in a cluster lanemesh does not see; wildcards are skipped.
func (a *analyzer) unknownHost(o object, host, field string) {
	if isWildcard(host) || a.hosts[host] != nil {
		return
	}
	a.warnf(o, CodeHostNotFound, field, "Referenced host not found: "+strconv.Quote(host), a.hostHint(host, o.meta.Namespace))
}

// hostHint says what to do about an unknown host. The usual slip is a short
// name ("mockb") in an object of another namespace than the service's
// (the tutorial keeps its rules in istio-system): short names resolve in
// the object's own namespace, so the hint names the FQDN that exists.
func (a *analyzer) hostHint(host, ns string) string {
	if short, ok := strings.CutSuffix(host, "."+ns+"."+ClusterDomain); ok {
		var found []string
		for h := range a.hosts {
			if strings.HasPrefix(h, short+".") && strings.HasSuffix(h, "."+ClusterDomain) {
				found = append(found, h)
			}
		}
		if len(found) > 0 {
			sort.Strings(found)
			return fmt.Sprintf("write the full name, e.g. %s: a short name resolves in the object's namespace, %s", found[0], ns)
		}
	}
	if short, _, ok := strings.Cut(host, "."); ok && strings.HasSuffix(host, "."+ClusterDomain) && a.hosts[short] != nil {
		return fmt.Sprintf("a ServiceEntry's host %q is kept as written, as in Istio, while a short host here means %s, so nothing can name it: give the ServiceEntry a host with a dot", short, host)
	}
	return "define a Service or ServiceEntry for " + host + ", or fix the host name"
}
