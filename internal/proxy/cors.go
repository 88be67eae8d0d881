package proxy

import (
	"net/http"

	"github.com/lanemesh/lanemesh/internal/route"
)

// corsDecode is the CORS filter's request side (route.CORS.Check): it
// answers a preflight itself and reports that the request is done, or
// remembers an allowed origin for corsEncode.
func (x *exchange) corsDecode(c *route.CORS) bool {
	rq := route.Request{Method: x.r.Method, Header: x.r.Header}
	switch c.Check(&rq, x.p.rand()) {
	case route.CORSPreflight:
		x.answerPreflight(c, true)
		return true
	case route.CORSRefusePreflight:
		x.answerPreflight(c, false)
		return true
	case route.CORSActual:
		x.cors, x.origin = c, x.r.Header["Origin"][0]
	}
	return false
}

// answerPreflight answers a preflight with 200 and Envoy's preflight
// headers; Access-Control-Allow-Origin only when the origin is allowed.
// "*" in allow methods or headers echoes what the browser asked for.
func (x *exchange) answerPreflight(c *route.CORS, allowed bool) {
	h := x.w.Header()
	for k := range h {
		delete(h, k)
	}
	req := x.r.Header
	if allowed {
		h["Access-Control-Allow-Origin"] = []string{req["Origin"][0]}
	}
	if c.AllowCredentials {
		h["Access-Control-Allow-Credentials"] = []string{"true"}
	}
	echo := func(key, value, asked string) {
		switch {
		case value == "*" && asked != "":
			h[key] = []string{asked}
		case value != "" && value != "*":
			h[key] = []string{value}
		}
	}
	echo("Access-Control-Allow-Methods", c.AllowMethods, firstValue(req["Access-Control-Request-Method"]))
	echo("Access-Control-Allow-Headers", c.AllowHeaders, firstValue(req["Access-Control-Request-Headers"]))
	if c.MaxAge != "" {
		h["Access-Control-Max-Age"] = []string{c.MaxAge}
	}
	if c.AllowPrivateNetwork && firstValue(req["Access-Control-Request-Private-Network"]) == "true" {
		h["Access-Control-Allow-Private-Network"] = []string{"true"}
	}
	h["Content-Length"] = []string{"0"}
	x.status = http.StatusOK
	x.w.WriteHeader(http.StatusOK)
}

func firstValue(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	return vals[0]
}

// decorate adds what filters and the router put on every response of a
// forwarded request, after the route's own header operations: the
// cookie a hash policy made up, and the CORS headers of an allowed
// origin (Envoy's CorsFilter::encodeHeaders, which replaces what the
// upstream sent).
func (x *exchange) decorate(h http.Header) {
	if x.hash.SetCookie != "" {
		h["Set-Cookie"] = append(h["Set-Cookie"], x.hash.SetCookie)
	}
	if x.cors == nil {
		return
	}
	h["Access-Control-Allow-Origin"] = []string{x.origin}
	if x.cors.AllowCredentials {
		h["Access-Control-Allow-Credentials"] = []string{"true"}
	}
	if x.cors.ExposeHeaders != "" {
		h["Access-Control-Expose-Headers"] = []string{x.cors.ExposeHeaders}
	}
}
