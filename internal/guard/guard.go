// Package guard keeps lanemesh's local control surfaces (the admin API of
// `up` and `controlplane`, a proxy's admin listener) for their owner alone.
//
// A server on 127.0.0.1 is reachable by every web page the user opens: a
// page can POST to it (a "simple" cross-origin request needs no preflight),
// and a page whose DNS name is rebound to 127.0.0.1 can even read the
// answers. Three checks close that, each with a message that says why:
//
//   - Browser refuses what only a browser sends: a Host that names neither
//     an IP address nor localhost nor the name the server was bound to (DNS
//     rebinding), an Origin other than the server's own, a cross-site
//     Sec-Fetch-Site, CORS preflights, and request bodies of any media type
//     but JSON or YAML (text/plain and forms are what a page can send
//     without a preflight).
//   - Bearer requires a per-instance secret, so another user's process on
//     the same machine cannot drive the API either; the secret lives in a
//     file only its owner can read (see Token).
package guard

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/netutil"
)

// Browser wraps next so that it answers only requests that come from a
// program, not from a web page. addr is the address the server was bound
// to, as the user wrote it ("127.0.0.1:15000", "localhost:0", ":15000"); a
// host name in it is accepted in the Host header too.
func Browser(addr string, next http.Handler) http.Handler {
	name, _, _ := net.SplitHostPort(addr)
	if net.ParseIP(name) != nil {
		name = ""
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msg := refuse(r, name); msg != "" {
			status := http.StatusForbidden
			if strings.HasPrefix(msg, "unsupported media type") {
				status = http.StatusUnsupportedMediaType
			}
			writeError(w, status, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuse says why r looks like it came from a web page, or "".
func refuse(r *http.Request, boundName string) string {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if !(net.ParseIP(strings.Trim(host, "[]")) != nil || host == "localhost" || (boundName != "" && host == strings.ToLower(boundName))) {
		return fmt.Sprintf("Host %q is not this server's address; use an IP address or localhost (a DNS name pointed at this machine is how a web page would reach it)", r.Host)
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
		return fmt.Sprintf("cross-origin request from %q refused: this API serves only its own command-line client", o)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return "cross-site browser request refused: this API serves only its own command-line client"
	}
	if r.Method == http.MethodOptions {
		return "CORS preflight refused: this API serves only its own command-line client"
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch mt {
		case "application/json", "application/yaml", "application/x-yaml":
		default:
			return fmt.Sprintf("unsupported media type %q: send application/json or application/yaml", r.Header.Get("Content-Type"))
		}
	}
	return ""
}

// Bearer wraps next so that it answers only requests that carry
// "Authorization: Bearer token". hint says where the owner finds the token
// (a file name), for the error message. An empty token is a programming
// error: Bearer panics rather than serve an open API.
func Bearer(token, hint string, next http.Handler) http.Handler {
	if token == "" {
		panic("guard.Bearer: empty token")
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			msg := "missing or wrong token"
			if len(got) == 0 {
				msg = "no token given"
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="lanemesh"`)
			writeError(w, http.StatusUnauthorized, msg+": lanemesh's commands read it from "+hint+", which only the user who started the server can read (or pass --token-file)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeError answers {"error": msg}, as every lanemesh API error does.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}

// MaxConns bounds the connections a control surface serves at once; more
// wait in the listen queue until one closes.
const MaxConns = 128

// Server is an http.Server for a control surface on ln: at most MaxConns
// connections at once, a request head within headerTimeout (10 s when
// zero), and a keep-alive connection closed after a minute without a
// request. Without these, connections opened and left idle by anyone who
// can reach the port hold it, and the process's file descriptors, for
// ever: the owner's own requests, and the proxy beside the surface, then
// starve.
func Server(h http.Handler, headerTimeout time.Duration) *http.Server {
	if headerTimeout <= 0 {
		headerTimeout = 10 * time.Second
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: headerTimeout, IdleTimeout: time.Minute}
}

// Listener bounds ln to MaxConns connections at once (see Server).
func Listener(ln net.Listener) net.Listener { return netutil.LimitListener(ln, MaxConns) }
