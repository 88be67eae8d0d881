package proxy

import (
	"net/http"
	"strconv"

	"github.com/lanemesh/lanemesh/internal/route"
)

// answerLocally answers a request whose route redirects it or answers it
// directly, as Envoy's router does for such routes: nothing is forwarded.
func (x *exchange) answerLocally(rt *route.Route) {
	h := x.w.Header()
	for k := range h {
		delete(h, k)
	}
	var body []byte
	switch a := rt.Redirect; {
	case rt.SSLRedirect:
		// Envoy's SslRedirector: the host and target as the client sent
		// them, port included.
		x.status = route.RedirectStatus(a.GetResponseCode())
		h["Location"] = []string{"https://" + x.authority + x.path}
	case a != nil:
		x.status = route.RedirectStatus(a.GetResponseCode())
		m := rt.Envoy.GetMatch()
		scheme := "http"
		if x.r.TLS != nil {
			scheme = "https"
		}
		h["Location"] = []string{route.RedirectURL(a, scheme, x.authority, x.path, m.GetPrefix()+m.GetPathSeparatedPrefix())}
	default:
		d := rt.DirectResponse
		x.status = int(d.GetStatus())
		if b := d.GetBody(); b != nil {
			body = b.GetInlineBytes()
			if s := b.GetInlineString(); s != "" {
				body = []byte(s)
			}
			h["Content-Type"] = []string{"text/plain"}
		}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	x.server.apply(h)
	x.w.WriteHeader(x.status)
	if x.method != http.MethodHead {
		n, _ := x.w.Write(body)
		x.sent = int64(n)
	}
}
