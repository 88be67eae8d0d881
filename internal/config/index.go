package config

import (
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/lanemesh/lanemesh/api"
)

// ClusterDomain is the DNS suffix of Kubernetes service names.
const ClusterDomain = "svc.cluster.local"

// FQDN resolves a host as Istio does: a short name ("mockb") is a service in
// namespace ns ("mockb.<ns>.svc.cluster.local"); anything with a dot, and the
// wildcard "*", is taken as written. Hosts are lower-cased.
func FQDN(host, ns string) string {
	host = strings.ToLower(host)
	if host == "*" || strings.Contains(host, ".") {
		return host
	}
	return host + "." + ns + "." + ClusterDomain
}

// HostMatches reports whether the concrete host h is covered by pattern p,
// which may be "*" or start with "*." as in Istio.
func HostMatches(p, h string) bool {
	switch {
	case p == "*":
		return true
	case strings.HasPrefix(p, "*"):
		return strings.HasSuffix(h, p[1:])
	default:
		return p == h
	}
}

// HostSubsetOf reports whether every host n names is one that o names too
// (Istio's host.Name.SubsetOf): "a.foo.com" and "*.b.foo.com" are subsets
// of "*.foo.com"; a wildcard is never a subset of a concrete host.
func HostSubsetOf(n, o string) bool {
	nw, ow := strings.HasPrefix(n, "*"), strings.HasPrefix(o, "*")
	switch {
	case nw && ow:
		return len(n) >= len(o) && strings.HasSuffix(n[1:], o[1:])
	case nw:
		return false
	case ow:
		return strings.HasSuffix(n, o[1:])
	}
	return n == o
}

// IntersectHosts is Istio's host.Names.Intersection: for each pair, the
// narrower of the two when one covers the other, each once, in order.
func IntersectHosts(a, b []string) []string {
	var out []string
	add := func(h string) {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	for _, x := range a {
		for _, y := range b {
			if HostSubsetOf(x, y) {
				add(x)
			} else if HostSubsetOf(y, x) {
				add(y)
			}
		}
	}
	return out
}

// HostsForNamespace is Istio's host.NamesForNamespace: the Gateway server
// hosts open to objects of namespace ns, without their "namespace/"
// part. A bare host or "*/host" is open to every namespace.
func HostsForNamespace(hosts []string, ns string) []string {
	var out []string
	for _, h := range hosts {
		if n, name, ok := strings.Cut(h, "/"); ok {
			if n != ns && n != "*" {
				continue
			}
			h = name
		}
		out = append(out, h)
	}
	return out
}

// SubsetOf reports whether every label in sel is in labels with the same
// value. An empty selector selects everything.
func SubsetOf(sel, labels map[string]string) bool {
	for k, v := range sel {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Service is a host the mesh can route to, from a Kubernetes Service or a
// ServiceEntry.
type Service struct {
	Host      string // FQDN
	Namespace string
	Ports     []ServicePort
	// Selector picks the workloads behind the service; nil for a
	// ServiceEntry with inline endpoints.
	Selector map[string]string
	// Endpoints are a ServiceEntry's inline endpoints.
	Endpoints []api.WorkloadEntrySpec
	// ExportTo is the ServiceEntry's exportTo; nil (every namespace) for a
	// Kubernetes Service.
	ExportTo []string
	Source   *api.ObjectMeta
}

// ServicePort is one port of a Service: the port clients call and the port
// the workload listens on.
type ServicePort struct {
	Name       string
	Port       uint32
	TargetPort api.IntOrString
	Protocol   string
}

// Hosts returns every service host the configuration defines, from
// Kubernetes Services and ServiceEntries, keyed by FQDN. A ServiceEntry with
// several hosts yields one Service per host.
func (c *Config) Hosts() map[string]*Service {
	out := map[string]*Service{}
	for _, s := range c.Services {
		svc := &Service{Host: FQDN(s.Metadata.Name, s.Metadata.Namespace), Namespace: s.Metadata.Namespace,
			Selector: s.Spec.Selector, Source: &s.Metadata}
		if svc.Selector == nil {
			svc.Selector = map[string]string{}
		}
		for _, p := range s.Spec.Ports {
			tp := p.TargetPort
			if tp.IsZero() {
				tp = api.IntOrString{Int: int32(p.Port)}
			}
			svc.Ports = append(svc.Ports, ServicePort{Name: p.Name, Port: p.Port, TargetPort: tp, Protocol: p.Protocol})
		}
		out[svc.Host] = svc
	}
	for _, se := range c.ServiceEntries {
		for _, h := range se.Spec.Hosts {
			// Istio keeps a ServiceEntry's hosts as written (its
			// convertServices): a host without a dot is not expanded with
			// the entry's namespace as a VirtualService's short host is.
			svc := &Service{Host: strings.ToLower(h), Namespace: se.Metadata.Namespace,
				Endpoints: se.Spec.Endpoints, ExportTo: se.Spec.ExportTo, Source: &se.Metadata}
			if dnsSelf(se) {
				// Istio's convertEndpoints: the host, looked up by DNS when
				// connecting, is the entry's endpoint.
				svc.Endpoints = []api.WorkloadEntrySpec{{Address: h}}
			}
			if se.Spec.WorkloadSelector != nil {
				svc.Selector = se.Spec.WorkloadSelector.Labels
			}
			for _, p := range se.Spec.Ports {
				tp := api.IntOrString{Int: int32(p.Number)}
				if p.TargetPort != 0 {
					tp.Int = int32(p.TargetPort)
				}
				svc.Ports = append(svc.Ports, ServicePort{Name: p.Name, Port: p.Number, TargetPort: tp, Protocol: p.Protocol})
			}
			if _, dup := out[svc.Host]; !dup {
				out[svc.Host] = svc
			}
		}
	}
	return out
}

// dnsSelf reports whether a ServiceEntry's hosts are their own endpoints:
// resolution DNS (or DNS_ROUND_ROBIN) with neither endpoints nor a
// workloadSelector.
func dnsSelf(se *api.ServiceEntry) bool {
	r := se.Spec.Resolution
	return (r == "DNS" || r == "DNS_ROUND_ROBIN") && len(se.Spec.Endpoints) == 0 && se.Spec.WorkloadSelector == nil
}

// Workload is a workload the configuration describes: the pod template of a
// Deployment (with its replica count) or a WorkloadEntry.
type Workload struct {
	Kind      string // "Deployment" or "WorkloadEntry"
	Name      string
	Namespace string
	Labels    map[string]string
	Replicas  int32
	Source    *api.ObjectMeta
}

// Workloads returns the workloads the configuration describes.
func (c *Config) Workloads() []Workload {
	var out []Workload
	for _, d := range c.Deployments {
		out = append(out, Workload{Kind: "Deployment", Name: d.Metadata.Name, Namespace: d.Metadata.Namespace,
			Labels: d.Spec.Template.Metadata.Labels, Replicas: d.Spec.ReplicaCount(), Source: &d.Metadata})
	}
	for _, w := range c.WorkloadEntries {
		out = append(out, Workload{Kind: "WorkloadEntry", Name: w.Metadata.Name, Namespace: w.Metadata.Namespace,
			Labels: w.Spec.Labels, Replicas: 1, Source: &w.Metadata})
	}
	return out
}

// Subset returns the named subset of dr, or nil.
func Subset(dr *api.DestinationRule, name string) *api.Subset {
	if dr == nil {
		return nil
	}
	for i := range dr.Spec.Subsets {
		if dr.Spec.Subsets[i].Name == name {
			return &dr.Spec.Subsets[i]
		}
	}
	return nil
}

// Replace puts each object of other into c, replacing any object of the same
// kind, namespace and name, as `kubectl apply` does.
func (c *Config) Replace(other *Config) {
	for _, obj := range other.Objects() {
		c.Put(obj)
	}
}

// Put puts obj into c, replacing any object of the same kind, namespace
// and name.
func (c *Config) Put(obj any) {
	c.Remove(obj)
	c.add(obj)
}

// SameObject reports whether two objects of one kind say the same: equal
// specs, labels and annotations. Where each was read from does not count.
func SameObject(a, b any) bool {
	av, bv := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	am, bm := metaOf(a), metaOf(b)
	return av.Type() == bv.Type() && reflect.DeepEqual(av.FieldByName("Spec").Interface(), bv.FieldByName("Spec").Interface()) &&
		maps.Equal(am.Labels, bm.Labels) && maps.Equal(am.Annotations, bm.Annotations)
}

// Remove deletes the object of the same kind, namespace and name as obj, and
// reports whether there was one.
func (c *Config) Remove(obj any) bool {
	list := c.listOf(obj)
	i, found := find(list, metaOf(obj).Key())
	if found {
		list.Set(reflectDelete(list, i))
	}
	return found
}

// Clone returns a copy of c whose lists can be changed without touching c.
// The objects themselves are shared: treat them as immutable and replace
// an object to change it.
func (c *Config) Clone() *Config {
	out := &Config{}
	src, dst := reflect.ValueOf(c).Elem(), reflect.ValueOf(out).Elem()
	for i := range src.NumField() {
		dst.Field(i).Set(reflect.AppendSlice(reflect.Zero(src.Field(i).Type()), src.Field(i)))
	}
	return out
}

// Identify returns the kind, namespace and name of an object of c.
func Identify(obj any) (kind, namespace, name string) {
	m := metaOf(obj)
	return reflect.TypeOf(obj).Elem().Name(), m.Namespace, m.Name
}

// Find returns the object of c with the same kind, namespace and name as
// obj, or nil.
func (c *Config) Find(obj any) any {
	list := c.listOf(obj)
	if i, found := find(list, metaOf(obj).Key()); found {
		return list.Index(i).Interface()
	}
	return nil
}
