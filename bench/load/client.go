package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// laneHeader is the header that picks the lane, as in the tutorial.
const laneHeader = "x-asm-prefer-tag"

// newClient returns a keep-alive client with at most conns connections to
// the target, so that a run never opens more sockets than it says.
func newClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			DisableCompression:  true,
		},
	}
}

// get sends one GET with the lane header (none if lane is "") and returns
// the status and body.
func get(ctx context.Context, c httpDoer, url, lane string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if lane != "" {
		req.Header[http.CanonicalHeaderKey(laneHeader)] = []string{lane}
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b), err
}

// expectedBody is what bench/upstream answers for app and lane.
func expectedBody(app, lane string) string { return app + "-" + lane + "\n" }

func splitLanes(s string) ([]string, error) {
	lanes := strings.Split(s, ",")
	for _, l := range lanes {
		if l == "" {
			return nil, fmt.Errorf("empty lane in %q", s)
		}
	}
	return lanes, nil
}

// httpDoer is the part of *http.Client that get needs.
type httpDoer interface {
	Do(*http.Request) (*http.Response, error)
}
