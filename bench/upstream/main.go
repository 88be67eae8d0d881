// Command upstream is the benchmark's fake backend: one process serving
// several listeners, each answering every request with a fixed small body
// that names its version ("mocka-v1\n"), so a client can tell which upstream
// a proxy routed it to.
//
// By default it speaks just enough HTTP/1.1 to answer keep-alive and
// pipelined requests with a preformatted response (see raw.go). It shares a
// core with the load generator, and net/http costs about twice as much
// CPU per request, which would make the upstream, not the proxy under test,
// the bottleneck of a saturation run. -stdlib serves with net/http instead,
// to cross-check the raw server.
//
//	upstream -listen v1=127.0.0.1:20001,v2=127.0.0.1:20002,v3=127.0.0.1:20003
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "", "comma-separated VERSION=HOST:PORT listeners (required)")
	app := flag.String("app", "mocka", "app name put in front of the version in the body")
	stdlib := flag.Bool("stdlib", false, "serve with net/http instead of the raw HTTP/1.1 responder")
	flag.Parse()
	if err := run(*listen, *app, *stdlib); err != nil {
		log.Fatalf("upstream: %v", err)
	}
}

func run(listen, app string, stdlib bool) error {
	if listen == "" {
		return errors.New("-listen is required")
	}
	errc := make(chan error, 1)
	for _, kv := range strings.Split(listen, ",") {
		version, addr, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("bad listener %q: want VERSION=HOST:PORT", kv)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		body := app + "-" + version + "\n"
		if stdlib {
			srv := &http.Server{Handler: fixedBody(body), ReadHeaderTimeout: 10 * time.Second}
			go func() { errc <- srv.Serve(ln) }()
		} else {
			go func() { errc <- serveRaw(ln, body) }()
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		return err
	case <-sig:
		return nil
	}
}

// fixedBody answers every request with body through net/http. The header
// values are built once and assigned directly, which avoids the
// canonicalisation and allocation that Header.Set would do per request.
func fixedBody(body string) http.Handler {
	b := []byte(body)
	ct := []string{"text/plain; charset=utf-8"}
	cl := []string{fmt.Sprint(len(b))}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = ct
		h["Content-Length"] = cl
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	})
}
