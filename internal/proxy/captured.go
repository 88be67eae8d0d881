package proxy

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/lanemesh/lanemesh/internal/capture"
)

// A sidecar's outbound listener takes connections redirected to it by
// transparent capture (lanemesh iptables) as well as those of an app that
// names it in HTTP_PROXY. For a redirected connection, the port the app
// was calling is known only to the kernel (SO_ORIGINAL_DST), and it picks
// the service port when the request's Host names none, as Istio's
// per-port outbound listeners do: "mockb" called on port 8000 routes as
// "mockb:8000", not as mockb's default port.

// origDstKey carries a redirected connection's original destination in
// the context of its requests.
type origDstKey struct{}

// withOriginalDst returns ctx carrying nc's original destination when nc
// was redirected to the listener (its original destination is not the
// address it was accepted on), else ctx itself. It costs one getsockopt
// per connection, on a sidecar's outbound listener only.
func withOriginalDst(ctx context.Context, nc net.Conn) context.Context {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return ctx
	}
	dst, err := capture.OriginalDst(sc)
	if err != nil || !dst.IsValid() {
		return ctx // no conntrack entry: not redirected
	}
	if local, ok := nc.LocalAddr().(*net.TCPAddr); ok && local.AddrPort() == dst {
		return ctx
	}
	return context.WithValue(ctx, origDstKey{}, dst)
}

// routeAuthority is the authority a request is routed by: its Host, with
// the original destination's port added when the request came through
// transparent capture and its Host names no port (or the address itself
// when it has no Host at all).
func routeAuthority(r *http.Request) string {
	dst, ok := r.Context().Value(origDstKey{}).(netip.AddrPort)
	switch {
	case !ok:
		return r.Host
	case r.Host == "":
		return dst.String()
	case hasPort(r.Host):
		return r.Host
	}
	return r.Host + ":" + strconv.Itoa(int(dst.Port()))
}

// hasPort reports whether an authority ends in ":port" (an IPv6 literal's
// colons are inside its brackets).
func hasPort(host string) bool {
	for i := len(host) - 1; i >= 0; i-- {
		switch c := host[i]; {
		case c == ':':
			return i < len(host)-1
		case c < '0' || c > '9':
			return false
		}
	}
	return false
}
