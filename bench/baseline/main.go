// Command baseline is the benchmark's tuned Go reverse proxy: the standard
// library's httputil.ReverseProxy doing the same header routing as the
// nginx and HAProxy configurations, so that lanemesh can be compared with
// what plain net/http achieves on one core.
//
// A request for path /mock with header x-asm-prefer-tag naming a known
// lane goes to that lane's upstream; anything else gets 404, as nginx and
// HAProxy answer it.
//
//	GOMAXPROCS=1 baseline -listen 127.0.0.1:20010 \
//	    -upstreams v1=127.0.0.1:20001,v2=127.0.0.1:20002,v3=127.0.0.1:20003
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// laneHeader is the header that picks the lane, as in the tutorial.
const laneHeader = "X-Asm-Prefer-Tag"

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	upstreams := flag.String("upstreams", "", "comma-separated LANE=HOST:PORT upstreams (required)")
	flag.Parse()
	if err := run(*listen, *upstreams); err != nil {
		log.Fatalf("baseline: %v", err)
	}
}

func run(listen, upstreams string) error {
	lanes, err := parseUpstreams(upstreams)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newRouter(lanes), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		return err
	case <-sig:
		return nil
	}
}

func parseUpstreams(s string) (map[string]*url.URL, error) {
	if s == "" {
		return nil, errors.New("-upstreams is required")
	}
	lanes := make(map[string]*url.URL)
	for _, kv := range strings.Split(s, ",") {
		lane, addr, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("bad upstream %q: want LANE=HOST:PORT", kv)
		}
		lanes[lane] = &url.URL{Scheme: "http", Host: addr}
	}
	return lanes, nil
}

// newRouter returns a handler that 404s requests outside the routes and
// hands the rest to one ReverseProxy whose Rewrite picks the upstream by
// the lane header. The transport keeps up to 256 idle connections per
// upstream, so that 32 concurrent clients never open new ones.
func newRouter(lanes map[string]*url.URL) http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(lanes[pr.In.Header.Get(laneHeader)])
		},
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mock" || lanes[r.Header.Get(laneHeader)] == nil {
			http.NotFound(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	})
}
