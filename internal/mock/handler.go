package mock

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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
// upstream call itself fails, the line is followed by "upstream error: …"
// and the status is 502, so the failed hop is visible in the chain text.
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
			status = http.StatusBadGateway
			out = append(out, "upstream error: "+err.Error()...)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	// A failed write means the caller went away; there is no one to tell.
	_, _ = w.Write(out)
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

// callUpstream GETs the upstream, forwarding only x-request-id, and returns
// its status and body. A body cut short returns what was read and the error.
func (h *handler) callUpstream(in *http.Request) (int, []byte, error) {
	req, err := http.NewRequestWithContext(in.Context(), http.MethodGet, h.cfg.UpstreamURL, nil)
	if err != nil {
		return 0, nil, err
	}
	if id := in.Header.Get("X-Request-Id"); id != "" {
		req.Header.Set("X-Request-Id", id)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	return resp.StatusCode, body, err
}
