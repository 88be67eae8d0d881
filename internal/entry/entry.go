// Package entry decides who may enter a lane at a gateway: the pure core of
// LaneEntryPolicy, shared by the compiler, which delivers policies to the
// gateways they select, and the proxy, which enforces them before routing.
//
// A Policy is built once per snapshot from its Config (New) and then only
// read (but for a memo of verified tokens): Decide looks at a request's lane headers and, only when one asks
// for a lane outside the baseline, at its client address and tokens. It
// does no I/O and reads no clock: the time comes in the Request, and keys
// fetched from a URI or read from a file come from a Keys the caller
// provides. A request without a lane header costs a few map lookups and
// no allocation.
package entry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// TypeURL names the filter configuration lanemesh delivers over xDS (in a
// TypedStruct; see internal/compile).
const TypeURL = "type.googleapis.com/lanemesh.entry.v1alpha1.LaneEntry"

// FilterName is the HTTP filter that carries the policies.
const FilterName = "lanemesh.filters.http.lane_entry"

// Defaults, Istio's and Envoy's where they have one.
const (
	DefaultLaneHeader    = "x-asm-prefer-tag"
	DefaultLaneClaim     = "lane"
	DefaultClockSkew     = 60 * time.Second
	DefaultCacheDuration = 5 * time.Minute
	// RootNamespace is where a policy applies to gateways of every
	// namespace, as Istio's root namespace does.
	RootNamespace = "istio-system"
)

// Filter is the configuration of the lane-entry filter: the policies that
// select one gateway, in namespace/name order. A request must pass each.
type Filter struct {
	Policies []Config `json:"policies"`
}

// Config is one LaneEntryPolicy as delivered: its name, for logs and
// metrics, and its spec exactly as the user wrote it.
type Config struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Spec      Spec   `json:"spec"`
}

// Decode reads the filter's configuration (the Value of its TypedStruct)
// strictly and compiles its policies, in order. The proxy and `lanemesh
// explain` both read it here, so they judge requests alike.
func Decode(v *structpb.Struct, keys func(Source) Keys) ([]*Policy, error) {
	raw, err := protojson.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var f Filter
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	out := make([]*Policy, 0, len(f.Policies))
	for _, c := range f.Policies {
		p, err := New(c, keys)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Source is a key set that lives outside the configuration: a URI or a
// file, to be fetched or read and kept for CacheDuration.
type Source struct {
	URI, File     string
	CacheDuration time.Duration
}

// Keys returns the current key set of a Source: nil and an error while it
// cannot be had. It is called on the request path, so it must not block
// for long; the proxy's implementation caches.
type Keys interface {
	Keys() (*KeySet, error)
}

// staticKeys is an inline key set.
type staticKeys struct{ ks *KeySet }

func (s staticKeys) Keys() (*KeySet, error) { return s.ks, nil }

// Policy is one compiled LaneEntryPolicy. It is immutable but for each
// token rule's memo of verified tokens (tokenCache), and safe for
// concurrent use.
type Policy struct {
	Name     string // "namespace/name"
	headers  []string
	baggage  []string // guarded names, lower case, as baggage keys
	baseline []string
	trusted  int
	rules    []rule
}

type rule struct {
	lanes []string
	cidrs []netip.Prefix
	jwt   *jwtRule
}

type jwtRule struct {
	issuer    string
	audiences []string
	headers   []JWTHeader // names canonical
	params    []string
	claim     string
	skew      time.Duration
	keys      Keys
	cache     *tokenCache
}

// ErrConfig is wrapped by every error New returns: a policy the loader
// should have refused.
var ErrConfig = errors.New("invalid lane entry policy")

// New compiles a policy. keys returns the Keys of a URI or file source; it
// is called once per such rule.
func New(c Config, keys func(Source) Keys) (*Policy, error) {
	s := c.Spec
	p := &Policy{Name: c.Namespace + "/" + c.Name, baseline: s.BaselineLanes, trusted: int(s.NumTrustedProxies)}
	hs := s.LaneHeaders
	if len(hs) == 0 {
		hs = []string{DefaultLaneHeader}
	}
	for _, h := range hs {
		p.headers = append(p.headers, textproto.CanonicalMIMEHeaderKey(h))
		p.baggage = append(p.baggage, strings.ToLower(h))
	}
	for i, r := range s.Rules {
		cr, err := newRule(r, keys)
		if err != nil {
			return nil, fmt.Errorf("%w %s: spec.rules[%d]: %w", ErrConfig, p.Name, i, err)
		}
		p.rules = append(p.rules, cr)
	}
	return p, nil
}

func newRule(r Rule, keys func(Source) Keys) (rule, error) {
	out := rule{lanes: r.Lanes}
	for _, s := range r.SourceCIDRs {
		pfx, err := ParseCIDR(s)
		if err != nil {
			return rule{}, err
		}
		out.cidrs = append(out.cidrs, pfx)
	}
	if r.JWT == nil {
		return out, nil
	}
	j := r.JWT
	jr := &jwtRule{issuer: j.Issuer, audiences: j.Audiences, params: j.FromParams, claim: j.LaneClaim, skew: DefaultClockSkew, cache: &tokenCache{}}
	if jr.claim == "" {
		jr.claim = DefaultLaneClaim
	}
	if j.ClockSkew != nil {
		jr.skew = j.ClockSkew.Duration
	}
	for _, h := range j.FromHeaders {
		jr.headers = append(jr.headers, JWTHeader{Name: textproto.CanonicalMIMEHeaderKey(h.Name), Prefix: h.Prefix})
	}
	if len(jr.headers) == 0 && len(jr.params) == 0 {
		jr.headers = []JWTHeader{{Name: "Authorization", Prefix: "Bearer "}}
		jr.params = []string{"access_token"}
	}
	switch {
	case j.Jwks != "":
		ks, err := ParseJWKS([]byte(j.Jwks))
		if err != nil {
			return rule{}, fmt.Errorf("jwt.jwks: %w", err)
		}
		jr.keys = staticKeys{ks}
	case j.JwksURI != "" || j.JwksFile != "":
		src := Source{URI: j.JwksURI, File: j.JwksFile, CacheDuration: DefaultCacheDuration}
		if j.JwksCacheDuration != nil && j.JwksCacheDuration.Duration > 0 {
			src.CacheDuration = j.JwksCacheDuration.Duration
		}
		jr.keys = keys(src)
	default:
		return rule{}, errors.New("jwt: no key set: set jwks, jwksUri or jwksFile")
	}
	out.jwt = jr
	return out, nil
}

// ParseCIDR reads a CIDR or a single address (a /32 or /128), as Istio's
// ipBlocks do. IPv4-mapped IPv6 addresses are taken as IPv4.
func ParseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR: write it like 10.0.0.0/8 or 2001:db8::/32", s)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or a CIDR: write it like 192.0.2.7 or 10.0.0.0/8", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Request is what Decide looks at.
type Request struct {
	Header http.Header // after the gateway's own header sanitizing
	Query  string      // the raw query, for tokens in parameters
	Peer   netip.Addr  // the connection's peer address
	// ForwardedFor is X-Forwarded-For as the gateway received it, before
	// it appended the peer.
	ForwardedFor []string
	Now          time.Time
}

// Verdict is Decide's answer.
type Verdict struct {
	// Lane is the first lane asked for outside the baseline, or "" when
	// the request asks for none: then it passes untouched.
	Lane string
	// Denied is set when the request may not enter Lane; Reason says why.
	Denied bool
	Reason error
}

// Decide judges a request. It allocates only when the request asks for a
// lane outside the baseline.
func (p *Policy) Decide(r *Request) Verdict {
	var v Verdict
	for _, name := range p.headers {
		for _, lane := range r.Header[name] {
			if v = p.judge(r, lane); v.Denied {
				return v
			}
		}
	}
	for _, b := range r.Header["Baggage"] {
		if !p.mentions(b) {
			continue
		}
		for _, lane := range baggageLanes(b, p.baggage) {
			if v = p.judge(r, lane); v.Denied {
				return v
			}
		}
	}
	return v
}

// judge decides one requested lane.
func (p *Policy) judge(r *Request, lane string) Verdict {
	if slices.Contains(p.baseline, lane) {
		return Verdict{}
	}
	reason := error(ErrNoRule)
	var client netip.Addr
	for i := range p.rules {
		ru := &p.rules[i]
		if len(ru.lanes) > 0 && !slices.Contains(ru.lanes, lane) {
			continue
		}
		if len(ru.cidrs) > 0 {
			if !client.IsValid() {
				client = ClientAddr(r.Peer, r.ForwardedFor, p.trusted)
			}
			if !slices.ContainsFunc(ru.cidrs, func(c netip.Prefix) bool { return c.Contains(client) }) {
				reason = telling(reason, fmt.Errorf("%w: %s", ErrSource, addrString(client)))
				continue
			}
		}
		if ru.jwt != nil {
			if err := ru.jwt.allows(r, lane); err != nil {
				reason = telling(reason, err)
				continue
			}
		}
		return Verdict{Lane: lane}
	}
	return Verdict{Lane: lane, Denied: true, Reason: reason}
}

// telling returns the more telling of two reasons a lane was refused: a
// token that was sent and failed says most, then the source address, then
// a missing token.
func telling(a, b error) error {
	rank := func(err error) int {
		switch {
		case errors.Is(err, ErrNoRule):
			return 0
		case errors.Is(err, ErrNoToken):
			return 1
		case errors.Is(err, ErrSource):
			return 2
		}
		return 3
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// Reasons besides a token's.
var (
	ErrNoRule = errors.New("no rule admits the lane")
	ErrSource = errors.New("source address not allowed")
)

// allows reports why no token of the request lets it into lane, or nil.
// Every token found is tried, as Envoy tries each location.
func (j *jwtRule) allows(r *Request, lane string) error {
	toks := j.tokens(r)
	if len(toks) == 0 {
		return ErrNoToken
	}
	ks, err := j.keys.Keys()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoKeys, err)
	}
	var last error
	for _, t := range toks {
		c, ok := j.cache.get(ks, t)
		if !ok {
			if c, err = verify(t, ks); err == nil {
				j.cache.put(ks, t, c)
			}
		}
		if err == nil {
			err = c.check(j, r.Now)
		}
		if err == nil {
			err = c.laneAllowed(j.claim, lane)
		}
		if err == nil {
			return nil
		}
		last = err
	}
	return last
}

// tokens are the request's candidate tokens, from the configured headers
// (after their prefix) and query parameters.
func (j *jwtRule) tokens(r *Request) []string {
	var out []string
	for _, h := range j.headers {
		for _, v := range r.Header[h.Name] {
			if t, ok := cutPrefixFold(v, h.Prefix); ok && t != "" {
				out = append(out, strings.TrimSpace(t))
			}
		}
	}
	for _, name := range j.params {
		out = append(out, queryValues(r.Query, name)...)
	}
	return out
}

// cutPrefixFold cuts prefix from s, ignoring the case of its letters, as
// Envoy compares the "Bearer " scheme.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

// Strip removes every header the policy guards, and their members from
// baggage, so that the request is routed as the baseline.
func (p *Policy) Strip(h http.Header) {
	for _, name := range p.headers {
		delete(h, name)
	}
	bs := h["Baggage"]
	if len(bs) == 0 {
		return
	}
	var kept []string
	for _, b := range bs {
		if rest := dropMembers(b, p.baggage); rest != "" {
			kept = append(kept, rest)
		}
	}
	if len(kept) == 0 {
		delete(h, "Baggage")
		return
	}
	h["Baggage"] = kept
}

// addrString names an address in a reason; an unknown one (explain without
// --client) is said to be unknown.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	return a.String()
}
