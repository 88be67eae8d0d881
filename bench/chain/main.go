// Command chain runs the tutorial's three sample apps, mocka → mockb →
// mockc, in one process, each on its own loopback port and calling the next
// one directly (no proxy). It is scenario B's second zero line: `lanemesh up`
// runs its apps and proxies as goroutines of one process, so this chain,
// with the same apps (internal/mock) in the same process structure, leaves
// only the proxies as the difference, where three `lanemesh mock` processes
// also pay for switching between processes on the one core.
//
//	chain -listen 127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3 -version v1
//
// It serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/lanemesh/lanemesh/internal/mock"
)

func main() {
	listen := flag.String("listen", "", "three addresses, for mocka, mockb and mockc (required)")
	version := flag.String("version", "v1", "the version every app reports")
	flag.Parse()
	addrs := strings.Split(*listen, ",")
	if len(addrs) != 3 {
		fmt.Fprintln(os.Stderr, "chain: -listen takes three comma-separated addresses")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, addrs, *version); err != nil {
		fmt.Fprintln(os.Stderr, "chain:", err)
		os.Exit(1)
	}
}

// run listens on all three addresses first, so that a port in use fails
// at once, then serves the chain until ctx is done.
func run(ctx context.Context, addrs []string, version string) error {
	apps := []string{"mocka", "mockb", "mockc"}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return err
		}
		lns = append(lns, ln)
	}
	errs := make(chan error, len(apps))
	var wg sync.WaitGroup
	for i, app := range apps {
		cfg := mock.Config{App: app, Version: version, Bind: addrs[i]}
		if i+1 < len(apps) {
			cfg.UpstreamURL = "http://" + addrs[i+1] + "/"
		}
		wg.Go(func() { errs <- mock.Serve(ctx, lns[i], cfg) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
