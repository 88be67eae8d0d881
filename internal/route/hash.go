package route

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// HashPolicy is a route's compiled hash_policy list, the request half of
// consistent hashing (the cluster's RING_HASH or MAGLEV is the other). It
// is read-only after New.
type HashPolicy struct {
	methods []hashMethod
}

type hashKind uint8

const (
	hashHeader hashKind = iota
	hashCookie
	hashSourceIP
	hashQuery
)

// hashMethod is one compiled RouteAction.HashPolicy.
type hashMethod struct {
	kind     hashKind
	terminal bool
	// header: the canonical key, or the pseudo-header source; cookie and
	// query parameter: the name.
	name   string
	source headerSource
	// cookie: what a made-up cookie is set with. generate is true when
	// the policy has a ttl (zero included: a session cookie).
	generate  bool
	path      string
	ttl       time.Duration
	attribute string // "; name=value" for each attribute, precomputed
}

// Hash is the outcome of HashPolicy.Compute.
type Hash struct {
	Value uint64
	OK    bool // false: the request has none of the keys; the load balancer picks at random
	// SetCookie is the Set-Cookie value the response must carry when a
	// cookie policy made its cookie up ("" otherwise).
	SetCookie string
}

// compileHashPolicy compiles a RouteAction's hash_policy; nil for none.
func compileHashPolicy(policies []*routev3.RouteAction_HashPolicy) (*HashPolicy, error) {
	if len(policies) == 0 {
		return nil, nil
	}
	hp := &HashPolicy{}
	for i, p := range policies {
		m := hashMethod{terminal: p.GetTerminal()}
		switch s := p.GetPolicySpecifier().(type) {
		case *routev3.RouteAction_HashPolicy_Header_:
			if s.Header.GetRegexRewrite() != nil {
				return nil, fmt.Errorf("%w: hash policy %d: header regex_rewrite is not supported", ErrUnsupported, i)
			}
			name := s.Header.GetHeaderName()
			if name == "" {
				return nil, fmt.Errorf("%w: hash policy %d: header_name is empty", ErrInvalid, i)
			}
			m.kind, m.name = hashHeader, http.CanonicalHeaderKey(name)
			switch strings.ToLower(name) {
			case ":authority", "host":
				m.source = fromAuthority
			case ":path":
				m.source = fromPath
			case ":method":
				m.source = fromMethod
			}
		case *routev3.RouteAction_HashPolicy_Cookie_:
			c := s.Cookie
			if c.GetName() == "" {
				return nil, fmt.Errorf("%w: hash policy %d: cookie name is empty", ErrInvalid, i)
			}
			m.kind, m.name, m.path = hashCookie, c.GetName(), c.GetPath()
			if c.GetTtl() != nil {
				m.generate, m.ttl = true, c.GetTtl().AsDuration()
			}
			for _, a := range c.GetAttributes() {
				m.attribute += "; " + a.GetName()
				if a.GetValue() != "" {
					m.attribute += "=" + a.GetValue()
				}
			}
		case *routev3.RouteAction_HashPolicy_ConnectionProperties_:
			if !s.ConnectionProperties.GetSourceIp() {
				continue // Envoy makes no hash method of it
			}
			m.kind = hashSourceIP
		case *routev3.RouteAction_HashPolicy_QueryParameter_:
			if s.QueryParameter.GetName() == "" {
				return nil, fmt.Errorf("%w: hash policy %d: query parameter name is empty", ErrInvalid, i)
			}
			m.kind, m.name = hashQuery, s.QueryParameter.GetName()
		default:
			return nil, fmt.Errorf("%w: hash policy %d: %T is not supported; use header, cookie, connection_properties or query_parameter", ErrUnsupported, i, s)
		}
		hp.methods = append(hp.methods, m)
	}
	if len(hp.methods) == 0 {
		return nil, nil
	}
	return hp, nil
}

// Compute is Envoy's HashPolicyImpl::generateHash: each method that finds
// its key contributes xxHash64 of it, combined with the hash so far
// rotated left by one bit (so that two equal keys do not cancel out); a
// terminal method that found its key ends the list. It does not allocate
// unless a cookie is made up.
func (h *HashPolicy) Compute(r *Request) Hash {
	var out Hash
	for i := range h.methods {
		m := &h.methods[i]
		v, ok := m.evaluate(r, &out)
		if ok {
			old := uint64(0)
			if out.OK {
				old = out.Value<<1 | out.Value>>63
			}
			out.Value, out.OK = old^v, true
		}
		if m.terminal && out.OK {
			break
		}
	}
	return out
}

func (m *hashMethod) evaluate(r *Request, out *Hash) (uint64, bool) {
	switch m.kind {
	case hashHeader:
		return m.headerHash(r)
	case hashCookie:
		if v, ok := CookieValue(r.Header, m.name); ok && v != "" {
			return xxhash.Sum64String(v), true
		}
		if !m.generate {
			return 0, false
		}
		v := m.makeCookie(r)
		out.SetCookie = m.setCookie(v)
		return xxhash.Sum64String(v), true
	case hashSourceIP:
		ip := hostOf(r.RemoteAddr)
		if ip == "" {
			return 0, false
		}
		return xxhash.Sum64String(ip), true
	case hashQuery:
		_, query := splitTarget(r.Path)
		if v, ok := rawQueryValue(query, m.name); ok {
			return xxhash.Sum64String(v), true
		}
	}
	return 0, false
}

// headerHash hashes a header's values, sorted so that their order does
// not matter, as one stream (Envoy's HeaderHashMethod).
func (m *hashMethod) headerHash(r *Request) (uint64, bool) {
	switch m.source {
	case fromAuthority:
		return xxhash.Sum64String(r.Authority), r.Authority != ""
	case fromPath:
		return xxhash.Sum64String(r.Path), r.Path != ""
	case fromMethod:
		return xxhash.Sum64String(r.Method), r.Method != ""
	}
	vals := r.Header[m.name]
	switch len(vals) {
	case 0:
		return 0, false
	case 1:
		return xxhash.Sum64String(vals[0]), true
	}
	// Selection order instead of sorting a copy: header lists are short,
	// and this keeps the hot path free of allocations.
	var d xxhash.Digest
	d.Reset()
	prev, havePrev := "", false
	for range vals {
		next, found := "", false
		for _, v := range vals {
			if (!havePrev || v > prev) && (!found || v < next) {
				next, found = v, true
			}
		}
		if !found {
			break
		}
		for _, v := range vals { // equal values each contribute, as in a sort
			if v == next {
				_, _ = d.WriteString(v)
			}
		}
		prev, havePrev = next, true
	}
	return d.Sum64(), true
}

// makeCookie is the value Envoy's router makes up for a missing cookie:
// xxHash64 of the downstream connection's remote and local addresses, in
// 16 hex digits, so that requests racing on one connection get the same.
func (m *hashMethod) makeCookie(r *Request) string {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(r.RemoteAddr)
	_, _ = d.WriteString(r.LocalAddr)
	s := strconv.FormatUint(d.Sum64(), 16)
	return strings.Repeat("0", 16-len(s)) + s
}

// setCookie is Envoy's makeSetCookieValue with httponly.
func (m *hashMethod) setCookie(value string) string {
	var b strings.Builder
	b.WriteString(m.name)
	b.WriteString(`="`)
	b.WriteString(value)
	b.WriteByte('"')
	if secs := int64(m.ttl / time.Second); secs != 0 {
		b.WriteString("; Max-Age=")
		b.WriteString(strconv.FormatInt(secs, 10))
	}
	if m.path != "" {
		b.WriteString("; Path=")
		b.WriteString(m.path)
	}
	b.WriteString(m.attribute)
	b.WriteString("; HttpOnly")
	return b.String()
}

// CookieValue returns the value of the first cookie called name in the
// Cookie headers, without surrounding quotes, as Envoy's
// Utility::parseCookieValue does. It does not allocate.
func CookieValue(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for line != "" {
			part := line
			if i := strings.IndexByte(line, ';'); i >= 0 {
				part, line = line[:i], line[i+1:]
			} else {
				line = ""
			}
			part = strings.TrimLeft(part, " \t")
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return "", false
}

// rawQueryValue returns the first value of parameter name as written, not
// decoded: Envoy's query parameter hash reads parseQueryString, which does
// not decode. A parameter without '=' has the empty value.
func rawQueryValue(query, name string) (string, bool) {
	for query != "" {
		param := query
		if i := strings.IndexByte(query, '&'); i >= 0 {
			param, query = query[:i], query[i+1:]
		} else {
			query = ""
		}
		if k, v, _ := strings.Cut(param, "="); k == name {
			return v, true
		}
	}
	return "", false
}

// hostOf is the IP of a "host:port" address, without brackets for IPv6,
// as Envoy's addressAsString writes it; the address itself if it has no
// port.
func hostOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 || strings.IndexByte(addr, ']') > i {
		return addr
	}
	h := addr[:i]
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	return h
}
