package entry

import (
	"net/netip"
	"net/url"
	"strings"
)

// ClientAddr is the client's address as Envoy computes it for a gateway
// with use_remote_address and xff_num_trusted_hops = trusted (Istio's
// numTrustedProxies): with trusted = 0 the connection's peer; otherwise the
// trusted-th address from the right of the X-Forwarded-For the gateway
// received (xff, its lines in order), since each trusted proxy appended
// the address it saw. When the header holds fewer addresses, or that one
// does not parse, it is the peer: nothing further left can be believed.
func ClientAddr(peer netip.Addr, xff []string, trusted int) netip.Addr {
	peer = peer.Unmap()
	if trusted <= 0 {
		return peer
	}
	n := 0
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for line != "" {
			var elem string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				elem, line = line[j+1:], line[:j]
			} else {
				elem, line = line, ""
			}
			elem = strings.TrimSpace(elem)
			if elem == "" {
				continue
			}
			if n++; n == trusted {
				a, err := netip.ParseAddr(elem)
				if err != nil {
					return peer
				}
				return a.Unmap()
			}
		}
	}
	return peer
}

// member splits the first list-member off a baggage value (W3C Baggage:
// "key=value;property, key2=value2") and returns its key and value, with
// surrounding whitespace and properties removed, and the rest.
func member(s string) (key, value, rest string) {
	m, rest, _ := strings.Cut(s, ",")
	m, _, _ = strings.Cut(m, ";")
	k, v, _ := strings.Cut(m, "=")
	return strings.TrimSpace(k), strings.TrimSpace(v), rest
}

// guarded reports whether key names one of names (lower case), ignoring
// case as header names do.
func guarded(key string, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(key, n) {
			return true
		}
	}
	return false
}

// mentions reports whether a baggage value has a member the policy guards.
func (p *Policy) mentions(b string) bool {
	for rest := b; rest != ""; {
		var k string
		k, _, rest = member(rest)
		if guarded(k, p.baggage) {
			return true
		}
	}
	return false
}

// baggageLanes are the values of the members of b named in names,
// percent-decoded as W3C Baggage encodes them.
func baggageLanes(b string, names []string) []string {
	var out []string
	for rest := b; rest != ""; {
		var k, v string
		k, v, rest = member(rest)
		if !guarded(k, names) {
			continue
		}
		if d, err := url.PathUnescape(v); err == nil {
			v = d
		}
		out = append(out, v)
	}
	return out
}

// dropMembers returns b without its members named in names, the others
// as they were written.
func dropMembers(b string, names []string) string {
	var kept []string
	for _, m := range strings.Split(b, ",") {
		if k, _, _ := member(m); k == "" || guarded(k, names) {
			continue
		}
		kept = append(kept, strings.TrimSpace(m))
	}
	return strings.Join(kept, ",")
}

// queryValues returns the values of the query parameter name.
func queryValues(query, name string) []string {
	if query == "" {
		return nil
	}
	q, _ := url.ParseQuery(query) // what parsed is kept, as Envoy does
	return q[name]
}
