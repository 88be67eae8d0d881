package route

import (
	"net"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// RedirectURL is the Location of a redirect, as Envoy builds it
// (RouteEntryImplBase::newUri): the request's URL (scheme, host as the
// client sent it, target path and query) with what the action sets
// replaced. A host redirect drops the request's port; a port that is the
// final scheme's default is left out. prefix is the route's matched path
// prefix, which a prefix rewrite replaces.
func RedirectURL(a *routev3.RedirectAction, scheme, host, target, prefix string) string {
	fromScheme := scheme
	if s := a.GetSchemeRedirect(); s != "" {
		scheme = s
	} else if a.GetHttpsRedirect() {
		scheme = "https"
	}
	name, port := host, ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		name, port = h, p
		if strings.Contains(h, ":") {
			name = "[" + h + "]"
		}
	}
	if scheme != fromScheme {
		port = ""
	}
	if h := a.GetHostRedirect(); h != "" {
		name, port = h, ""
	}
	if p := a.GetPortRedirect(); p != 0 {
		port = strconv.FormatUint(uint64(p), 10)
	}
	if port == "80" && scheme == "http" || port == "443" && scheme == "https" {
		port = ""
	}
	path, query, hasQuery := strings.Cut(target, "?")
	switch {
	case a.GetPathRedirect() != "":
		path = a.GetPathRedirect()
		if strings.Contains(path, "?") {
			hasQuery = false // the redirect's own query replaces the request's
		}
	case a.GetPrefixRewrite() != "":
		path = a.GetPrefixRewrite() + strings.TrimPrefix(path, prefix)
	}
	u := scheme + "://" + name
	if port != "" {
		u += ":" + port
	}
	u += path
	if hasQuery {
		u += "?" + query
	}
	return u
}
