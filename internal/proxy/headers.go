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

// What a request's Upgrade asks for, as Envoy's connection manager sees it
// with Istio's upgrade_configs (websocket only).
const (
	upgradeNone      = iota // no upgrade: an ordinary request
	upgradeWebSocket        // tunnelled once the upstream accepts (see tunnel)
	upgradeRefused          // CONNECT: 400, as a proxy without CONNECT support
	upgradeUnknown          // any other protocol: 403, as Envoy's "upgrade_failed"
)

// upgrade classifies r. A request is an upgrade when its Connection names
// upgrade and it has an Upgrade header, as in Envoy; otherwise, and for an
// h2c upgrade, it is served as HTTP/1.1, as Envoy's HTTP/1 codec does:
// HTTP2-Settings is dropped here, and Upgrade with the hop-by-hop headers
// after (the classic h2c smuggling needs the proxy to pass them on).
func upgrade(r *http.Request) int {
	if r.Method == http.MethodConnect {
		return upgradeRefused
	}
	delete(r.Header, "Http2-Settings")
	vv := r.Header["Upgrade"]
	if vv == nil || !namedIn(r.Header["Connection"], "upgrade") {
		return upgradeNone
	}
	websocket, other := false, false
	for _, v := range vv {
		for tok := range strings.SplitSeq(v, ",") {
			switch tok = strings.TrimSpace(tok); {
			case strings.EqualFold(tok, "h2c"):
			case strings.EqualFold(tok, "websocket"):
				websocket = true
			case tok != "":
				other = true
			}
		}
	}
	switch {
	case other:
		return upgradeUnknown
	case websocket && r.Method == http.MethodGet:
		return upgradeWebSocket
	}
	return upgradeNone // h2c, or websocket on another method than GET
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
