package config

import (
	"slices"
	"strings"

	"github.com/lanemesh/lanemesh/api"
)

// RootNamespace is Istio's default meshConfig.rootNamespace: configuration
// there applies to every namespace that has none of its own.
const RootNamespace = "istio-system"

// DestinationRules resolves which DestinationRule applies to a host as
// seen from a client, by Istio's rules (pilot's PushContext.destinationRule):
//
//  1. the rules in the client's namespace, whatever their exportTo (for a
//     client in the root namespace, its private rules);
//  2. else the rules of the service's namespace exported to the client;
//  3. else the rules of the root namespace exported to the client.
//
// Rules in any other namespace never apply. Within one of those sets, an
// exact host beats a wildcard, and a longer wildcard a shorter one
// ("*.prod.svc.cluster.local" before "*"). Several rules of one namespace
// for one host with the same exportTo are merged, as Istio merges them:
// every subset, the first of a name winning, and the top-level traffic
// policy of the first rule that has one, in Istio's order (name, then
// namespace). Rules whose exportTo differ stay apart; the last visible one
// applies.
//
// The zero value resolves nothing; build one with NewDestinationRules. It
// is immutable once built, and never changes the rules it was given: a
// merged rule is a copy.
type DestinationRules struct {
	local     map[string]*drSet // by namespace: every rule visible in its own namespace
	exported  map[string]*drSet // by namespace: the rules not private to it
	rootLocal *drSet            // the root namespace's private rules
}

// drSet is one namespace's rules by host, exact and wildcard apart.
type drSet struct {
	exact, wildcard map[string][]*mergedDR
}

// mergedDR is one or more rules of a namespace for one host, merged.
type mergedDR struct {
	rule     *api.DestinationRule
	exportTo []string // sorted, deduplicated; empty means every namespace
}

// NewDestinationRules indexes c's DestinationRules.
func NewDestinationRules(c *Config) *DestinationRules {
	drs := slices.Clone(c.DestinationRules)
	slices.SortStableFunc(drs, func(a, b *api.DestinationRule) int {
		if r := strings.Compare(a.Metadata.Name, b.Metadata.Name); r != 0 {
			return r
		}
		return strings.Compare(a.Metadata.Namespace, b.Metadata.Namespace)
	})
	d := &DestinationRules{local: map[string]*drSet{}, exported: map[string]*drSet{}, rootLocal: newDRSet()}
	for _, dr := range drs {
		ns := dr.Metadata.Namespace
		export := exportSet(dr.Spec.ExportTo)
		if len(export) == 0 || slices.Contains(export, "*") || slices.Contains(export, ".") || slices.Contains(export, ns) {
			setIn(d.local, ns).merge(dr, export)
		}
		private := len(export) == 1 && (export[0] == "." || export[0] == ns)
		switch {
		case !private:
			setIn(d.exported, ns).merge(dr, export)
		case ns == RootNamespace:
			d.rootLocal.merge(dr, export)
		}
	}
	return d
}

// For returns the rule for host (an FQDN) as a client in namespace
// clientNS sees it, for a service in namespace serviceNS ("" if unknown),
// or nil.
func (d *DestinationRules) For(host, clientNS, serviceNS string) *api.DestinationRule {
	if d == nil {
		return nil
	}
	if clientNS != RootNamespace {
		if m := d.local[clientNS].lookup(host); len(m) > 0 {
			return m[len(m)-1].rule
		}
	} else if m := d.rootLocal.lookup(host); len(m) > 0 {
		return m[len(m)-1].rule
	}
	for _, ns := range []string{serviceNS, RootNamespace} {
		if ns == "" {
			continue
		}
		var visible *mergedDR
		for _, m := range d.exported[ns].lookup(host) {
			if len(m.exportTo) == 0 || slices.Contains(m.exportTo, "*") || slices.Contains(m.exportTo, clientNS) {
				visible = m
			}
		}
		if visible != nil {
			return visible.rule
		}
	}
	return nil
}

func newDRSet() *drSet {
	return &drSet{exact: map[string][]*mergedDR{}, wildcard: map[string][]*mergedDR{}}
}

func setIn(m map[string]*drSet, ns string) *drSet {
	if m[ns] == nil {
		m[ns] = newDRSet()
	}
	return m[ns]
}

// exportSet is exportTo sorted and deduplicated.
func exportSet(exportTo []string) []string {
	out := slices.Clone(exportTo)
	slices.Sort(out)
	return slices.Compact(out)
}

// merge adds dr to the set: into the rule already there for its host with
// the same exportTo, or as a rule of its own.
func (s *drSet) merge(dr *api.DestinationRule, export []string) {
	host := FQDN(dr.Spec.Host, dr.Metadata.Namespace)
	byHost := s.exact
	if strings.HasPrefix(host, "*") {
		byHost = s.wildcard
	}
	for _, m := range byHost[host] {
		if !slices.Equal(m.exportTo, export) {
			continue
		}
		merged := *m.rule
		merged.Spec.Subsets = slices.Clone(m.rule.Spec.Subsets)
		for _, sub := range dr.Spec.Subsets {
			if Subset(&merged, sub.Name) == nil {
				merged.Spec.Subsets = append(merged.Spec.Subsets, sub)
			}
		}
		if merged.Spec.TrafficPolicy == nil {
			merged.Spec.TrafficPolicy = dr.Spec.TrafficPolicy
		}
		m.rule = &merged
		return
	}
	byHost[host] = append(byHost[host], &mergedDR{rule: dr, exportTo: export})
}

// lookup returns the rules for host: those for exactly host, else those of
// the most specific wildcard that covers it. A nil set has none.
func (s *drSet) lookup(host string) []*mergedDR {
	if s == nil {
		return nil
	}
	if m, ok := s.exact[host]; ok && !strings.HasPrefix(host, "*") {
		return m
	}
	if m, ok := s.wildcard[host]; ok {
		return m
	}
	best := ""
	for w := range s.wildcard {
		if HostMatches(w, host) && (best == "" || moreSpecific(w, best)) {
			best = w
		}
	}
	return s.wildcard[best]
}

// moreSpecific orders wildcard hosts as Istio does: longer first, then
// alphabetically.
func moreSpecific(a, b string) bool {
	if len(a) == len(b) {
		return a < b
	}
	return len(a) > len(b)
}

// PortPolicy is the policy for one service port (Istio's
// GetPortLevelTrafficPolicy): the entry of PortLevelSettings for that
// port, as a whole, if there is one (wholesale true), else the policy.
func PortPolicy(p *api.TrafficPolicy, port uint32) (policy *api.TrafficPolicy, wholesale bool) {
	if p == nil {
		return nil, false
	}
	for _, pl := range p.PortLevelSettings {
		if pl.Port != nil && pl.Port.Number == port {
			return &api.TrafficPolicy{LoadBalancer: pl.LoadBalancer, ConnectionPool: pl.ConnectionPool, OutlierDetection: pl.OutlierDetection, TLS: pl.TLS}, true
		}
	}
	return p, false
}

// MergePolicy returns base with what a subset's policy sets replaced, as
// Istio merges subset and DestinationRule policies (MergeTrafficPolicy):
// a subset's port-level entry (wholesale) replaces every field, set or not.
func MergePolicy(base, over *api.TrafficPolicy, wholesale bool) *api.TrafficPolicy {
	switch {
	case over == nil:
		return base
	case base == nil:
		return over
	}
	m := api.TrafficPolicy{LoadBalancer: base.LoadBalancer, ConnectionPool: base.ConnectionPool, OutlierDetection: base.OutlierDetection, TLS: base.TLS}
	if over.LoadBalancer != nil || wholesale {
		m.LoadBalancer = over.LoadBalancer
	}
	if over.ConnectionPool != nil || wholesale {
		m.ConnectionPool = over.ConnectionPool
	}
	if over.OutlierDetection != nil || wholesale {
		m.OutlierDetection = over.OutlierDetection
	}
	if over.TLS != nil || wholesale {
		m.TLS = over.TLS
	}
	return &m
}
