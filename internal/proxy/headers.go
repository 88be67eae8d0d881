package proxy

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/lanemesh/lanemesh/internal/arena"
)

// isHopByHop reports whether a canonical header key is hop-by-hop by RFC
// 9110 §7.6.1 (plus Proxy-*, which a client addresses to this proxy).
func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return strings.HasPrefix(k, "Proxy-")
}

// removeHopByHop deletes hop-by-hop headers and every header Connection
// names. It runs before the proxy adds its own headers, so naming one of
// them (Connection: x-forwarded-for) removes only the client's copy.
func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			// "close" and "keep-alive" are the usual tokens; neither names
			// a header the loop below keeps, and skipping them saves
			// canonicalising.
			if tok != "" && !strings.EqualFold(tok, "close") && !strings.EqualFold(tok, "keep-alive") {
				delete(h, http.CanonicalHeaderKey(tok))
			}
		}
	}
	for k := range h {
		if isHopByHop(k) {
			delete(h, k)
		}
	}
}

// refused reports requests the proxy will not forward: CONNECT tunnels and
// h2c upgrades (a client asking to switch protocols past the proxy, the
// classic h2c smuggling vector).
func refused(r *http.Request) bool {
	if r.Method == http.MethodConnect {
		return true
	}
	for _, v := range r.Header["Upgrade"] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "h2c") {
				return true
			}
		}
	}
	return r.Header["Http2-Settings"] != nil
}

// requestTarget is the path and query the request is routed on: the
// request-target as received for origin-form, and its path part for the
// absolute form an HTTP-proxy client sends. It does not allocate in either
// common case.
func requestTarget(r *http.Request) string {
	t := r.RequestURI
	switch {
	case t == "":
		return "/"
	case t[0] == '/' || t == "*":
		return t
	}
	i := strings.Index(t, "://")
	if i < 0 {
		return t
	}
	rest := t[i+3:]
	j := strings.IndexAny(rest, "/?")
	switch {
	case j < 0:
		return "/"
	case rest[j] == '?':
		return "/" + rest[j:]
	}
	return rest[j:]
}

// clientIP is the address part of a RemoteAddr.
func clientIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}

// rewritePath applies a prefix rewrite to u: the matched prefix (or the
// whole path when the route did not match on a prefix) becomes rw.to; or
// a regex rewrite: every match in the path is replaced. Envoy rewrites the
// path as received (after normalization), so the escaped form is used; the
// query string is left as it is.
func rewritePath(u *url.URL, rw rewrite) {
	p := u.EscapedPath()
	if rw.re != nil {
		setEscapedPath(u, rw.re.ReplaceAllString(p, rw.to))
		return
	}
	rest := ""
	if rw.prefix != "" && len(p) >= len(rw.prefix) {
		rest = p[len(rw.prefix):]
	}
	raw := rw.to + rest
	if raw == "" || raw[0] != '/' {
		raw = "/" + raw
	}
	setEscapedPath(u, raw)
}

// setEscapedPath makes raw, an escaped path, the path of u.
func setEscapedPath(u *url.URL, raw string) {
	if dec, err := url.PathUnescape(raw); err == nil {
		u.Path, u.RawPath = dec, raw
	} else {
		u.Path, u.RawPath = raw, ""
	}
}

// copyResponseHeader copies an upstream response's end-to-end headers.
// Values are shared, not copied: the upstream response is done with them.
func copyResponseHeader(dst, src http.Header) {
	conn := src["Connection"]
	for k, vv := range src {
		if isHopByHop(k) || (conn != nil && namedIn(conn, k)) {
			continue
		}
		dst[k] = vv
	}
}

// namedIn reports whether Connection header values name key.
func namedIn(conn []string, key string) bool {
	for _, v := range conn {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), key) {
				return true
			}
		}
	}
	return false
}

// hexDigits renders request ids.
const hexDigits = "0123456789abcdef"

// newRequestID returns a random RFC 4122 version 4 UUID drawn from the
// proxy's random source, its text from ids (see package arena).
func (p *Proxy) newRequestID(ids *arena.Strings) string {
	var raw [16]byte
	for i := 0; i < 16; i += 4 {
		v := p.rand()
		raw[i], raw[i+1], raw[i+2], raw[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	raw[6] = raw[6]&0x0f | 0x40
	raw[8] = raw[8]&0x3f | 0x80
	var out [36]byte
	j := 0
	for i, b := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexDigits[b>>4], hexDigits[b&0x0f]
		j += 2
	}
	return ids.String(out[:])
}
