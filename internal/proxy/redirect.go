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
	if a := rt.Redirect; a != nil {
		x.status = route.RedirectStatus(a.GetResponseCode())
		m := rt.Envoy.GetMatch()
		h["Location"] = []string{route.RedirectURL(a, "http", x.authority, x.path, m.GetPrefix()+m.GetPathSeparatedPrefix())}
	} else {
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
	x.w.WriteHeader(x.status)
	if x.method != http.MethodHead {
		_, _ = x.w.Write(body)
	}
}
