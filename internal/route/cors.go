package route

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/lanemesh/lanemesh/internal/xdsrules"
)

// CorsFilterName is Envoy's CORS filter; its per-route and per-virtual-host
// configuration sits under this key in typed_per_filter_config.
const CorsFilterName = "envoy.filters.http.cors"

// CORS is the CORS policy in force for a route: the route's own
// envoy.filters.http.cors CorsPolicy with what it leaves empty taken from
// its virtual host's, attribute by attribute, as Envoy's CORS filter reads
// them. It is read-only after New.
type CORS struct {
	origins []stringMatcher
	// The header values, as Envoy writes them.
	AllowMethods, AllowHeaders, ExposeHeaders, MaxAge string
	AllowCredentials                                  bool
	AllowPrivateNetwork                               bool
	// ForwardUnmatched sends a preflight whose origin is not allowed to the
	// upstream (Envoy's default); otherwise the proxy answers it with 200
	// and no CORS header.
	ForwardUnmatched bool
	enabled          fraction
}

// CORSVerdict is what the CORS filter does with a request.
type CORSVerdict uint8

const (
	// CORSNone: not a CORS request (no Origin, or the filter is off for it),
	// or an origin that is not allowed: forward it, add nothing.
	CORSNone CORSVerdict = iota
	// CORSPreflight: answer 200 with the preflight headers; forward nothing.
	CORSPreflight
	// CORSRefusePreflight: a preflight from an origin that is not allowed,
	// with ForwardUnmatched off: answer 200 with the preflight headers but
	// no Access-Control-Allow-Origin, so that the browser refuses.
	CORSRefusePreflight
	// CORSActual: forward it; its response gets Access-Control-Allow-Origin
	// (the request's Origin), -Allow-Credentials and -Expose-Headers.
	CORSActual
)

// Check is Envoy's CorsFilter::decodeHeaders (Envoy runs it only on routes
// that forward, never on redirects or direct responses). rnd decides filter_enabled
// when it is less than 100%. It does not allocate.
func (c *CORS) Check(r *Request, rnd uint32) CORSVerdict {
	if c == nil || !c.enabled.fires(rnd) {
		return CORSNone
	}
	origin := headerValue(r, "Origin")
	if origin == "" {
		return CORSNone
	}
	preflight := r.Method == "OPTIONS" && headerValue(r, "Access-Control-Request-Method") != ""
	if !c.Allows(origin) {
		if preflight && !c.ForwardUnmatched {
			return CORSRefusePreflight
		}
		return CORSNone
	}
	if preflight {
		return CORSPreflight
	}
	return CORSActual
}

// Allows is Envoy's isOriginAllowed: some allowed origin matches "*" or
// the origin.
func (c *CORS) Allows(origin string) bool {
	for i := range c.origins {
		if c.origins[i].match("*") || c.origins[i].match(origin) {
			return true
		}
	}
	return false
}

func headerValue(r *Request, key string) string {
	if v := r.Header[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// compileCORS merges the route's and the virtual host's CORS policies;
// nil when neither has one.
func compileCORS(route, vhost map[string]*anypb.Any) (*CORS, error) {
	var policies []*corsv3.CorsPolicy
	for _, cfg := range []map[string]*anypb.Any{route, vhost} {
		a := cfg[CorsFilterName]
		if a == nil {
			continue
		}
		var p corsv3.CorsPolicy
		if err := a.UnmarshalTo(&p); err != nil {
			return nil, fmt.Errorf("%w: typed_per_filter_config %q is not a CorsPolicy: %w", ErrInvalid, CorsFilterName, err)
		}
		if err := xdsrules.CorsPolicy(&p); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, CorsFilterName, err)
		}
		if p.GetShadowEnabled() != nil {
			return nil, fmt.Errorf("%w: %s: shadow_enabled is not supported", ErrUnsupported, CorsFilterName)
		}
		policies = append(policies, &p)
	}
	if len(policies) == 0 {
		return nil, nil
	}
	// Envoy reads each attribute from the most specific policy that sets
	// it; whether the filter is enabled comes from the most specific
	// policy.
	c := &CORS{enabled: newFraction(policies[0].GetFilterEnabled().GetDefaultValue())}
	var origins []stringMatcher
	for _, p := range policies {
		if origins == nil && len(p.GetAllowOriginStringMatch()) > 0 {
			for _, m := range p.GetAllowOriginStringMatch() {
				sm, err := compileString(m)
				if err != nil {
					return nil, fmt.Errorf("%s allow_origin_string_match: %w", CorsFilterName, err)
				}
				origins = append(origins, sm)
			}
		}
		first(&c.AllowMethods, p.GetAllowMethods())
		first(&c.AllowHeaders, p.GetAllowHeaders())
		first(&c.ExposeHeaders, p.GetExposeHeaders())
		first(&c.MaxAge, p.GetMaxAge())
	}
	c.origins = origins
	c.AllowCredentials = firstBool(policies, (*corsv3.CorsPolicy).GetAllowCredentials, false)
	c.AllowPrivateNetwork = firstBool(policies, (*corsv3.CorsPolicy).GetAllowPrivateNetworkAccess, false)
	c.ForwardUnmatched = firstBool(policies, (*corsv3.CorsPolicy).GetForwardNotMatchingPreflights, true)
	return c, nil
}

func first(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

type boolValue interface{ GetValue() bool }

// firstBool is the value of the most specific policy that sets the field.
func firstBool[T interface {
	boolValue
	comparable
}](policies []*corsv3.CorsPolicy, get func(*corsv3.CorsPolicy) T, def bool) bool {
	var zero T
	for _, p := range policies {
		if v := get(p); v != zero {
			return v.GetValue()
		}
	}
	return def
}

// fraction is a FractionalPercent compiled to a test on a random number:
// rnd modulo the denominator below the numerator, as Envoy's
// featureEnabled does. The zero value always fires (unset means 100%).
type fraction struct {
	set              bool
	numerator, denom uint32
}

func newFraction(p *typev3.FractionalPercent) fraction {
	if p == nil {
		return fraction{}
	}
	d := uint32(100)
	switch p.GetDenominator() {
	case typev3.FractionalPercent_TEN_THOUSAND:
		d = 10_000
	case typev3.FractionalPercent_MILLION:
		d = 1_000_000
	}
	return fraction{set: true, numerator: min(p.GetNumerator(), d), denom: d}
}

func runtimeFraction(p *corev3.RuntimeFractionalPercent) fraction {
	if p == nil {
		return fraction{}
	}
	if p.GetDefaultValue() == nil {
		return fraction{set: true, numerator: 0, denom: 100} // Envoy: an unset default is 0%
	}
	return newFraction(p.GetDefaultValue())
}

func (f fraction) fires(rnd uint32) bool {
	return !f.set || rnd%f.denom < f.numerator
}

// Percent is the fraction as a percentage, for explain.
func (f fraction) Percent() float64 {
	if !f.set {
		return 100
	}
	return 100 * float64(f.numerator) / float64(f.denom)
}
