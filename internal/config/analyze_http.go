package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lanemesh/lanemesh/api"
)

// This file holds Istio's checks of consistent hashing, CORS policies and
// mirroring (pkg/config/validation: validateLoadBalancer,
// validateCORSPolicy, validateHTTPMirrors and the mirror rules of
// validateHTTPRoute), with the CRD schema's oneOf rules in front.

// maglevMaxTableSize is Istio's bound: a Maglev table must be smaller.
const maglevMaxTableSize = 5000011

// loadBalancer checks a policy's loadBalancer at path: simple or
// consistentHash (the CRD's oneOf), and the consistent hash itself.
func (a *analyzer) loadBalancer(o object, lb *api.LoadBalancer, path string) {
	if lb == nil {
		return
	}
	if lb.ConsistentHash != nil && (lb.Simple != "" || o.has(path+".simple")) {
		a.errorf(o, CodeSchema, path, "only one of simple or consistentHash may be set",
			"keep consistentHash for session affinity, or simple for an algorithm without it")
	}
	ch := lb.ConsistentHash
	if ch == nil {
		return
	}
	p := path + ".consistentHash"
	var keys []string
	for _, k := range []struct {
		name string
		set  bool
	}{{"httpHeaderName", ch.HTTPHeaderName != ""}, {"httpCookie", ch.HTTPCookie != nil},
		{"useSourceIp", ch.UseSourceIP}, {"httpQueryParameterName", ch.HTTPQueryParameterName != ""}} {
		if k.set || o.has(p+"."+k.name) {
			keys = append(keys, k.name)
		}
	}
	if len(keys) > 1 {
		a.errorf(o, CodeSchema, p, "only one hash key may be set, got "+strings.Join(keys, " and "),
			"keep one of "+strings.Join(keys, ", ")+"; a consistent hash reads one key")
	}
	if ch.RingHash != nil && ch.Maglev != nil {
		a.errorf(o, CodeSchema, p, "only one of ringHash or maglev may be set", "keep the algorithm you want, ringHash or maglev")
	}
	if c := ch.HTTPCookie; c != nil {
		if c.Name == "" {
			a.badValue(o, p+".httpCookie.name", "name required for HttpCookie", "name the cookie to hash, e.g. name: session")
		}
		seen := map[string]bool{}
		for i, attr := range c.Attributes {
			f := fmt.Sprintf("%s.httpCookie.attributes[%d].name", p, i)
			switch {
			case attr.Name == "":
				a.badValue(o, f, "cookie attribute name cannot be empty", "name the attribute, e.g. name: SameSite, value: Strict")
			case seen[attr.Name]:
				a.badValue(o, f, "duplicate cookie attribute name: "+attr.Name, "keep one entry per attribute")
			}
			seen[attr.Name] = true
		}
	}
	if ch.MinimumRingSize != 0 {
		a.warnf(o, CodeSchema, p+".minimumRingSize", "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead",
			"write ringHash: {minimumRingSize: N} instead")
		if ch.RingHash != nil || ch.Maglev != nil {
			a.errorf(o, CodeSchema, p+".minimumRingSize", "only one of MinimumRingSize or Maglev/Ringhash can be specified",
				"move the size into ringHash.minimumRingSize, or remove it")
		}
	}
	if m := ch.Maglev; m != nil {
		switch n := m.TableSize; {
		case n == 0:
			a.errorf(o, CodeSchema, p+".maglev.tableSize", "tableSize must be set for maglev", "set a prime table size, e.g. tableSize: 65537 (Envoy's default)")
		case n >= maglevMaxTableSize:
			a.errorf(o, CodeSchema, p+".maglev.tableSize", fmt.Sprintf("tableSize must be less than %d for maglev", maglevMaxTableSize), "use a smaller prime, e.g. 65537")
		case !isPrime(n):
			a.errorf(o, CodeSchema, p+".maglev.tableSize", fmt.Sprintf("tableSize %d must be a prime number for maglev", n), "use a prime, e.g. 65537 or 131071")
		}
	}
}

// isPrime is Istio's trial division; table sizes are below 5000011.
func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	for d := uint64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

// corsMethods are the methods Istio's validateCORSHTTPMethod accepts.
var corsMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*"}

// corsPolicy is validateCORSPolicy plus the CRD's enum and maxAge rule.
func (a *analyzer) corsPolicy(o object, c *api.CorsPolicy, path string) {
	if c == nil {
		return
	}
	for i := range c.AllowOrigins {
		sm := &c.AllowOrigins[i]
		f := fmt.Sprintf("%s.allowOrigins[%d]", path, i)
		a.stringMatch(o, sm, f, false)
		if _, v := sm.Kind(); v == "" {
			a.badValue(o, f, "'' is not a valid match type for CORS allow origins", "set exact, prefix or regex to a non-empty origin, e.g. exact: https://example.com")
		}
	}
	for i, m := range c.AllowMethods {
		if !slices.Contains(corsMethods, m) {
			a.badValue(o, fmt.Sprintf("%s.allowMethods[%d]", path, i), fmt.Sprintf("%q is not a supported HTTP method", m), "use one of "+strings.Join(corsMethods, ", ")+" (upper case)")
		}
	}
	for _, list := range []struct {
		name  string
		names []string
	}{{"allowHeaders", c.AllowHeaders}, {"exposeHeaders", c.ExposeHeaders}} {
		for i, h := range list.names {
			f := fmt.Sprintf("%s.%s[%d]", path, list.name, i)
			switch {
			case h == "":
				a.badValue(o, f, "header name cannot be empty", "name a header, or remove the entry")
			case h != "*" && !headerNameRE.MatchString(h):
				a.badValue(o, f, fmt.Sprintf("header name %s is not a valid header name", h), "header names are letters, digits and !#$%&'*+-.^_`|~")
			}
		}
	}
	if c.MaxAge != nil {
		a.duration(o, c.MaxAge, path+".maxAge")
		if c.MaxAge.Duration%time.Second != 0 {
			a.badValue(o, path+".maxAge", "max_age duration is accurate only to seconds precision", "write whole seconds, e.g. maxAge: 24h")
		}
	}
	switch c.UnmatchedPreflights {
	case "", "UNSPECIFIED", "FORWARD", "IGNORE":
	default:
		a.badValue(o, path+".unmatchedPreflights", fmt.Sprintf("unmatchedPreflights %q is not one of UNSPECIFIED, FORWARD, IGNORE", c.UnmatchedPreflights),
			"use FORWARD (send unmatched preflights to the service) or IGNORE (answer them without CORS headers)")
	}
}

// mirrors checks a rule's mirror, mirrorPercentage, mirrorPercent and
// mirrors: values as validateHTTPRoute does, and each destination's host
// and subset as route destinations are (istioctl analyze checks mirror
// destinations too).
func (a *analyzer) mirrors(o object, r *api.HTTPRoute, path string) {
	if r.Mirror != nil && len(r.Mirrors) > 0 {
		a.errorf(o, CodeSchema, path+".mirror", "HTTP route cannot contain both mirror and mirrors", "move mirror into mirrors, with its percentage")
	}
	if p := r.MirrorPercentage; p != nil && !(p.Value >= 0 && p.Value <= 100) {
		a.badValue(o, path+".mirrorPercentage.value", fmt.Sprintf("mirror_percentage %g is not in range 0-100", p.Value), "use a percentage from 0 to 100")
	}
	if r.MirrorPercent != nil {
		if *r.MirrorPercent > 100 {
			a.badValue(o, path+".mirrorPercent", fmt.Sprintf("mirror_percent must have a max value of 100 (it has %d)", *r.MirrorPercent), "use a percentage from 0 to 100")
		}
		a.warnf(o, CodeSchema, path+".mirrorPercent", `using deprecated setting "mirrorPercent", use "mirrorPercentage" instead`, "write mirrorPercentage: {value: N}")
	}
	if r.Mirror != nil {
		a.mirrorDestination(o, *r.Mirror, path+".mirror")
	}
	for i, m := range r.Mirrors {
		mp := fmt.Sprintf("%s.mirrors[%d]", path, i)
		if m.Destination == nil {
			a.errorf(o, CodeSchema, mp+".destination", "destination is required for mirrors", "name the service to copy requests to: destination: {host: ...}")
		} else {
			a.mirrorDestination(o, *m.Destination, mp+".destination")
		}
		if p := m.Percentage; p != nil && !(p.Value >= 0 && p.Value <= 100) {
			a.badValue(o, mp+".percentage.value", fmt.Sprintf("mirror percentage %g is not in range 0-100", p.Value), "use a percentage from 0 to 100")
		}
	}
}

// mirrorDestination checks one mirror destination's values and references.
func (a *analyzer) mirrorDestination(o object, d api.Destination, path string) {
	a.destinationValues(o, d, path)
	if d.Host == "" {
		a.errorf(o, CodeSchema, path+".host", "mirror destination host is required", "name the service to copy requests to")
		return
	}
	host := FQDN(d.Host, o.meta.Namespace)
	a.unknownHost(o, host, path+".host")
	a.subsetRef(o, host, d.Subset, path+".subset")
	a.portRef(o, host, d.Port, path+".port.number")
}
