package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestRouterRoutesByLaneHeader(t *testing.T) {
	lanes := map[string]*url.URL{}
	for _, v := range []string{"v1", "v2"} {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "mocka-"+v)
		}))
		t.Cleanup(up.Close)
		lanes[v], _ = url.Parse(up.URL)
	}
	proxy := httptest.NewServer(newRouter(lanes))
	t.Cleanup(proxy.Close)

	for _, tc := range []struct {
		name, path, lane string
		status           int
		body             string
	}{
		{"v1", "/mock", "v1", 200, "mocka-v1"},
		{"v2", "/mock", "v2", 200, "mocka-v2"},
		{"unknown lane", "/mock", "v9", 404, ""},
		{"no header", "/mock", "", 404, ""},
		{"other path", "/other", "v1", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", proxy.URL+tc.path, nil)
			if tc.lane != "" {
				req.Header.Set(laneHeader, tc.lane)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || (tc.body != "" && string(b) != tc.body) {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, b, tc.status, tc.body)
			}
		})
	}
}
