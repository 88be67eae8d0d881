// Command profile runs lanemesh's gateway the way `lanemesh proxy --role
// gateway --static` does, with net/http/pprof on a separate loopback port,
// so that the data plane can be profiled under bench/run.sh's load without
// putting pprof in the product. It is a measuring tool, not part of the
// benchmark.
//
//	profile -f DIR -listen 127.0.0.1:8080 -pprof 127.0.0.1:6060
//	go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=10
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof" // the point of this command
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/proxy"
)

func main() {
	dir := flag.String("f", "", "configuration directory, as for lanemesh proxy --static -f (required)")
	listen := flag.String("listen", "127.0.0.1:8080", "where the gateway's port 80 listener binds")
	pprofAddr := flag.String("pprof", "127.0.0.1:6060", "net/http/pprof listener")
	memRate := flag.Int("memprofilerate", runtime.MemProfileRate, "runtime.MemProfileRate: bytes per sampled allocation")
	flag.Parse()
	runtime.MemProfileRate = *memRate
	identity := meshxds.Proxy{Role: meshxds.Gateway, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}
	p, err := proxy.New(proxy.Options{Role: meshxds.Gateway, PortMap: map[uint32]string{80: *listen},
		Source: proxy.SourceInfo{Namespace: identity.Namespace, Labels: identity.Labels}})
	if err != nil {
		log.Fatal(err)
	}
	c, diags := config.Load([]string{*dir}, nil)
	if diags.HasErrors() {
		log.Fatal(diags.Err())
	}
	instances := local.Predict(&config.Config{WorkloadEntries: c.WorkloadEntries})
	if err := p.Apply(compile.Compile(c, instances, identity)); err != nil {
		log.Fatal(err)
	}
	go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := p.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
