package proxy

import (
	"context"
	"net/http"
)

// send makes one attempt's exchange with endpoint e on the calling
// goroutine (see h1.ClientConn.RoundTrip), over a connection of e's pool.
// A reused connection that fails before any response byte was probably
// closed by the upstream while idle; the request then goes once more on a
// fresh connection if it can be replayed, as net/http's transport does.
func (x *exchange) send(ctx context.Context, e *endpoint) (*http.Response, error) {
	conns := e.conns
	if p := conns.pool; p.settings.autoSNI && p.tls != nil {
		conns = p.hostFor(e.addr, &autoName{sni: hostOf(x.r.Host), san: p.settings.autoSAN}) // the host as forwarded, after any rewrite
	}
	fresh := false
	for {
		c, err := conns.get(ctx, fresh, x.now)
		if err != nil {
			return nil, err
		}
		resp, stale, err := c.RoundTrip(ctx, x.r, x.body, x.replayable, &x.resp)
		if err == nil || fresh || !stale || ctx.Err() != nil {
			return resp, err
		}
		fresh = true
	}
}
