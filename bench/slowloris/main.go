// Command slowloris holds many slow connections against a proxy and
// reports, once a second, how many the proxy still keeps open and what
// they cost it (goroutines and resident memory, from its /metrics).
//
//	go run ./bench/slowloris -addr 127.0.0.1:8080 -metrics http://127.0.0.1:15021/metrics -n 5000 -mode body
//
// Modes: "header" trickles a request head a byte at a time; "body" sends
// a head with Content-Length: 1000000 and trickles the body a byte at a
// time; "idle" connects and sends nothing.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "the proxy listener")
	metrics := flag.String("metrics", "", "the proxy's /metrics URL, for its goroutines and RSS")
	n := flag.Int("n", 5000, "connections")
	mode := flag.String("mode", "body", "header, body or idle")
	gap := flag.Duration("gap", 2*time.Second, "time between two bytes on a connection")
	duration := flag.Duration("duration", 30*time.Second, "how long to report")
	target := flag.String("target", "/mock", "the request target")
	header := flag.String("header", "X-Asm-Prefer-Tag: v1", "a header line for the request, so that it is routed")
	flag.Parse()
	if err := run(*addr, *metrics, *target, *header, *n, *mode, *gap, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "slowloris:", err)
		os.Exit(1)
	}
}

func run(addr, metrics, target, header string, n int, mode string, gap, duration time.Duration) error {
	start := "POST " + target + " HTTP/1.1\r\nHost: x\r\n" + header + "\r\n"
	head := map[string]string{
		"header": start,
		"body":   start + "Content-Length: 1000000\r\n\r\n",
		"idle":   "",
	}[mode]
	var open atomic.Int64
	var refused atomic.Int64
	var mu sync.Mutex
	var conns []net.Conn
	began := time.Now()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			refused.Add(1)
			continue
		}
		if _, err := io.WriteString(c, head); err != nil {
			c.Close()
			continue
		}
		open.Add(1)
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		go func() { // counts the connection closed when the proxy ends it
			_, _ = io.Copy(io.Discard, c)
			open.Add(-1)
		}()
	}
	fmt.Printf("opened %d of %d in %v (%d refused)\n", len(conns), n, time.Since(began).Round(time.Millisecond), refused.Load())
	go func() {
		for range time.Tick(gap) {
			mu.Lock()
			for _, c := range conns {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = c.Write([]byte("x"))
			}
			mu.Unlock()
		}
	}()
	fmt.Println("t(s)  open  proxy_goroutines  proxy_rss_MiB  proxy_open_fds")
	for t := time.Duration(0); t <= duration; t += time.Second {
		g, rss, fds := scrape(metrics)
		fmt.Printf("%-5d %-5d %-17s %-14s %s\n", int(t.Seconds()), open.Load(), g, rss, fds)
		time.Sleep(time.Second)
	}
	return nil
}

// scrape reads go_goroutines, process_resident_memory_bytes and
// process_open_fds from a Prometheus text endpoint.
func scrape(url string) (goroutines, rssMiB, fds string) {
	goroutines, rssMiB, fds = "-", "-", "-"
	if url == "" {
		return
	}
	resp, err := http.Get(url)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "go_goroutines":
			goroutines = value
		case "process_open_fds":
			fds = value
		case "process_resident_memory_bytes":
			var b float64
			fmt.Sscan(value, &b)
			rssMiB = fmt.Sprintf("%.1f", b/(1<<20))
		}
	}
	return
}
