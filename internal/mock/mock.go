// Package mock is the tutorial's sample app: a service that answers any path
// with "-> <app>(version: <version>, ip: <pod ip>)" followed by the body of
// its own upstream call, so that one request through mocka → mockb → mockc
// prints the whole call chain and shows which version served each hop.
//
// It behaves like the image the Alibaba Cloud Service Mesh tutorial deploys:
// it is configured by the environment (app, version, upstream_url, bind), it
// forwards x-request-id and nothing else (unless env propagate names other
// headers, as an instrumented app would), and it appends the upstream body
// whatever the upstream's status. lanemesh's local runner runs it in-process
// for the image lanemesh/mock; it reaches other services through its sidecar,
// named by HTTP_PROXY, exactly as a process would.
package mock

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// DefaultBind is the listen address when the environment names none.
const DefaultBind = ":8000"

// Config is one mock's identity and wiring. The zero value answers with
// empty names, calls no upstream and listens nowhere until Bind is set.
type Config struct {
	App         string // env app
	Version     string // env version
	UpstreamURL string // env upstream_url; "" means this is the end of the chain
	Bind        string // env bind, default DefaultBind
	// Propagate are the headers copied from the request the mock received
	// to its upstream call (env propagate, comma-separated, e.g.
	// "x-request-id,baggage" for an OpenTelemetry-instrumented app, or
	// the lane's route header for an app that carries it itself). Nil
	// means DefaultPropagate, the tutorial image's behaviour.
	Propagate []string
	// PodIP is the "ip:" the mock reports (env POD_IP). Empty means the
	// local address of the connection each request arrived on.
	PodIP string
	// HTTPProxy is the URL of the sidecar every upstream call goes through
	// (env HTTP_PROXY or http_proxy); "" means call the upstream directly.
	HTTPProxy string
	// Logger receives upstream failures and lifecycle messages; nil
	// discards them.
	Logger *slog.Logger
	// Grace bounds how long Run waits for requests in flight once its
	// context is done; zero means 10 seconds.
	Grace time.Duration
}

// DefaultPropagate is what the tutorial's image forwards.
var DefaultPropagate = []string{"X-Request-Id"}

// ParsePropagate reads env propagate: header names separated by commas,
// blanks ignored, canonicalized; "" gives nil.
func ParsePropagate(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, textproto.CanonicalMIMEHeaderKey(part))
		}
	}
	return out
}

// ConfigFromEnv reads a Config from environment variables through getenv
// (os.Getenv, or a lookup in a container's env), so that callers choose
// which environment the mock sees.
func ConfigFromEnv(getenv func(string) string) Config {
	c := Config{
		App:         getenv("app"),
		Version:     getenv("version"),
		UpstreamURL: getenv("upstream_url"),
		Bind:        getenv("bind"),
		PodIP:       getenv("POD_IP"),
		HTTPProxy:   getenv("HTTP_PROXY"),
		Propagate:   ParsePropagate(getenv("propagate")),
	}
	if c.Bind == "" {
		c.Bind = DefaultBind
	}
	if c.HTTPProxy == "" {
		c.HTTPProxy = getenv("http_proxy")
	}
	return c
}

// NewClient returns the client a mock makes its upstream calls with: through
// proxyURL when it is not empty, with bounded connect and response times, and
// with a keep-alive pool deep enough that a load test through the sidecar
// reuses connections instead of exhausting ephemeral ports. Redirects are not
// followed: the mock appends whatever its upstream answered.
func NewClient(proxyURL string) (*http.Client, error) {
	t := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 15 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if proxyURL != "" {
		u, err := url.Parse(proxyURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("invalid proxy URL %q: write it like http://127.0.0.1:15001", proxyURL)
		}
		t.Proxy = http.ProxyURL(u)
	}
	return &http.Client{
		Transport:     t,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}
