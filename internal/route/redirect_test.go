package route

import (
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// TestRedirectURL holds the Location of a redirect to Envoy's rules, for
// the redirects Istio compiles.
func TestRedirectURL(t *testing.T) {
	pathTo := func(p string) *routev3.RedirectAction {
		return &routev3.RedirectAction{PathRewriteSpecifier: &routev3.RedirectAction_PathRedirect{PathRedirect: p}}
	}
	for _, tc := range []struct {
		name                string
		action              *routev3.RedirectAction
		host, target, match string
		want                string
	}{
		{"path", pathTo("/new"), "shop.example.com", "/old?a=1", "/", "http://shop.example.com/new?a=1"},
		{"path with its own query", pathTo("/new?b=2"), "shop.example.com", "/old?a=1", "/", "http://shop.example.com/new?b=2"},
		{"request port kept", pathTo("/new"), "shop.example.com:8080", "/old", "/", "http://shop.example.com:8080/new"},
		{"host drops the port", &routev3.RedirectAction{HostRedirect: "www.example.com"}, "shop.example.com:8080", "/a", "/", "http://www.example.com/a"},
		{"https", &routev3.RedirectAction{SchemeRewriteSpecifier: &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: "https"}},
			"shop.example.com:8080", "/a?x", "/", "https://shop.example.com/a?x"},
		{"https, port 443 left out", &routev3.RedirectAction{PortRedirect: 443, SchemeRewriteSpecifier: &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: "https"}},
			"shop.example.com", "/", "/", "https://shop.example.com/"},
		{"port", &routev3.RedirectAction{PortRedirect: 9090}, "shop.example.com", "/a", "/", "http://shop.example.com:9090/a"},
		{"prefix rewrite", &routev3.RedirectAction{PathRewriteSpecifier: &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: "/v2/"}},
			"api.example.com", "/v1/users?id=7", "/v1/", "http://api.example.com/v2/users?id=7"},
		{"IPv6 host", pathTo("/b"), "[::1]:8080", "/a", "/", "http://[::1]:8080/b"},
	} {
		if got := RedirectURL(tc.action, "http", tc.host, tc.target, tc.match); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
