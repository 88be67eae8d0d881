package mock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
)

// maxUpstreamBody bounds how much of the upstream's answer is appended. A
// chain of mocks answers a few hundred bytes; the bound only keeps a
// misconfigured upstream from filling memory.
const maxUpstreamBody = 1 << 20

// Handler returns the mock's HTTP handler. It answers every method and path
// with the mock's line, then, when cfg.UpstreamURL is set, GETs the upstream
// with client and appends its body as-is, answering with the upstream's
// status so that a failure anywhere in the chain reaches the caller. When the
// upstream call itself fails, the line is followed by "upstream error: …",
// so the failed hop is visible in the chain text, and the status is the one
// Envoy answers in the same place: 503 when no response came (connect
// failure, or reset before a response: Envoy's UF and UC), 504 when none came
// in time (UT), 502 when the response was cut short. So a sidecar that dies
// under the mock is retried by Istio's default retry policy (503) on the
// caller's side, as a dead Envoy in a pod would be.
// A nil client calls the upstream directly, with NewClient's settings.
func Handler(cfg Config, client *http.Client) http.Handler {
	if client == nil {
		client, _ = NewClient("") // cannot fail without a proxy URL
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &handler{cfg: cfg, client: client, log: log}
}

type handler struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out := fmt.Appendf(nil, "-> %s(version: %s, ip: %s)", h.cfg.App, h.cfg.Version, h.podIP(r))
	status := http.StatusOK
	if h.cfg.UpstreamURL != "" {
		var body []byte
		var err error
		status, body, err = h.callUpstream(r)
		out = append(out, body...)
		if err != nil {
			h.log.Warn("upstream call failed", "upstream", h.cfg.UpstreamURL, "err", err)
			status = failedStatus(status, err)
			out = append(out, "upstream error: "+err.Error()...)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	// A failed write means the caller went away; there is no one to tell.
	_, _ = w.Write(out)
}

// failedStatus is the status of an upstream call that failed with err
// after answering status (0 when no response came).
func failedStatus(status int, err error) int {
	var ne net.Error
	switch {
	case status != 0:
		return http.StatusBadGateway
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return http.StatusGatewayTimeout
	default:
		return http.StatusServiceUnavailable
	}
}

// podIP is the configured pod IP or, failing that, the address the request
// was accepted on, which is the pod's own address when each pod binds its own.
func (h *handler) podIP(r *http.Request) string {
	if h.cfg.PodIP != "" {
		return h.cfg.PodIP
	}
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// callUpstream GETs the upstream, forwarding only the headers the mock
// propagates, and returns its status and body. A body cut short returns what
// was read and the error.
func (h *handler) callUpstream(in *http.Request) (int, []byte, error) {
	req, err := http.NewRequestWithContext(in.Context(), http.MethodGet, h.cfg.UpstreamURL, nil)
	if err != nil {
		return 0, nil, err
	}
	propagate := h.cfg.Propagate
	if propagate == nil {
		propagate = DefaultPropagate
	}
	for _, name := range propagate {
		if vs := in.Header.Values(name); len(vs) > 0 {
			req.Header[textproto.CanonicalMIMEHeaderKey(name)] = vs
		}
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	return resp.StatusCode, body, err
}
