package up

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestScrapeMergesProxies checks that one scrape serves every proxy's
// series, each labelled with its proxy, the process's metrics once, and
// that a stopped proxy's series go.
func TestScrapeMergesProxies(t *testing.T) {
	s := newScrape()
	counter := func(r prometheus.Registerer, n float64) {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "istio_requests_total", Help: "h"}, []string{"reporter"})
		r.MustRegister(c)
		c.WithLabelValues("source").Add(n)
	}
	a, _ := s.add("default", "mocka-v1-0")
	b, removeB := s.add("istio-system", "ingressgateway")
	counter(a, 2)
	counter(b, 3)
	srv, addr, err := s.serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	get := func() string {
		resp, err := http.Get("http://" + addr.String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
		}
		return string(body)
	}
	body := get()
	for _, want := range []string{
		`istio_requests_total{namespace="default",pod="mocka-v1-0",reporter="source"} 2`,
		`istio_requests_total{namespace="istio-system",pod="ingressgateway",reporter="source"} 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s:\n%s", want, body)
		}
	}
	if n := strings.Count(body, "\ngo_goroutines "); n != 1 {
		t.Errorf("go_goroutines appears %d times without labels, want once", n)
	}
	removeB()
	if body := get(); strings.Contains(body, `pod="ingressgateway"`) {
		t.Errorf("a removed proxy's series are still served:\n%s", body)
	}
}
