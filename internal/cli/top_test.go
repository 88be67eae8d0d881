package cli

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const scrapeA = `# TYPE istio_requests_total counter
istio_requests_total{destination_subset="v2",fallback="false",response_code="200",source_version=""} 10
istio_requests_total{destination_subset="v1",fallback="true",response_code="200",source_version="v2"} 5
istio_requests_total{destination_subset="v1",fallback="false",response_code="503",source_version=""} 1
# TYPE istio_request_duration_milliseconds histogram
istio_request_duration_milliseconds_bucket{destination_subset="v2",source_version="",le="1"} 0
istio_request_duration_milliseconds_bucket{destination_subset="v2",source_version="",le="10"} 10
istio_request_duration_milliseconds_bucket{destination_subset="v2",source_version="",le="+Inf"} 10
istio_request_duration_milliseconds_sum{destination_subset="v2",source_version=""} 50
istio_request_duration_milliseconds_count{destination_subset="v2",source_version=""} 10
`

const scrapeB = `# TYPE istio_requests_total counter
istio_requests_total{destination_subset="v2",fallback="false",response_code="200",source_version=""} 30
istio_requests_total{destination_subset="v1",fallback="true",response_code="200",source_version="v2"} 15
istio_requests_total{destination_subset="v1",fallback="false",response_code="503",source_version=""} 5
# TYPE istio_request_duration_milliseconds histogram
istio_request_duration_milliseconds_bucket{destination_subset="v2",source_version="",le="1"} 0
istio_request_duration_milliseconds_bucket{destination_subset="v2",source_version="",le="10"} 20
istio_request_duration_milliseconds_bucket{destination_subset="v2",source_version="",le="+Inf"} 30
istio_request_duration_milliseconds_sum{destination_subset="v2",source_version=""} 500
istio_request_duration_milliseconds_count{destination_subset="v2",source_version=""} 30
`

// parseScrape reads scrapes of proxies, one text each.
func parseScrape(t *testing.T, texts ...string) scraped {
	t.Helper()
	out := scraped{}
	for i, text := range texts {
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		out.add(fmt.Sprintf("http://proxy-%d/metrics", i), fams)
	}
	return out
}

// TestTopRates: rates per lane over an interval: the sidecar's fallback
// series counts for its caller's lane (v2), the gateway's for the subset.
func TestTopRates(t *testing.T) {
	rs := rates(parseScrape(t, scrapeA), parseScrape(t, scrapeB), 2*time.Second)
	if len(rs) != 2 || rs[0].lane != "v1" || rs[1].lane != "v2" {
		t.Fatalf("lanes %+v, want v1 and v2", rs)
	}
	v1, v2 := rs[0], rs[1]
	if v1.rps != 2 || v1.errorRate != 1 || v1.fallbacks != 0 {
		t.Errorf("v1 = %+v, want 2 req/s, all errors, no fallbacks", v1)
	}
	// v2: 20 gateway requests + 10 fallbacks from a v2 caller in 2s.
	if v2.rps != 15 || v2.errorRate != 0 || v2.fallbacks != 5 {
		t.Errorf("v2 = %+v, want 15 req/s, no errors, 5 fallbacks/s", v2)
	}
	// Of the interval's 20 requests, 10 took 1-10ms and 10 more than 10ms:
	// the 99th percentile is past the last finite bucket.
	if v2.p99 != 0.01 {
		t.Errorf("v2 p99 = %v, want 0.01 (the last finite bound)", v2.p99)
	}
	if !math.IsNaN(v1.p99) {
		t.Errorf("v1 p99 = %v without a histogram, want NaN", v1.p99)
	}
	var b strings.Builder
	printTop(&b, rs, time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC), 2*time.Second)
	want := "lanes at 01:02:03, over the last 2s\nLANE   HOPS/S   ERRORS   P99    FALLBACK/S\nv1     2.0      100.0%   -      0.0\nv2     15.0     0.0%     10ms   5.0\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestTopRatesPerSeries: each counter's increase is its own. A proxy that
// went away (its pod stopped) adds nothing, where summing totals by lane
// made the lane's rate negative; one that restarted counts from zero.
func TestTopRatesPerSeries(t *testing.T) {
	const restarted = `# TYPE istio_requests_total counter
istio_requests_total{destination_subset="v2",fallback="false",response_code="200",source_version=""} 4
`
	rs := rates(parseScrape(t, scrapeA, scrapeA), parseScrape(t, scrapeB), 2*time.Second)
	if len(rs) != 2 || rs[0].rps != 2 || rs[1].rps != 15 {
		t.Errorf("with the second proxy gone: %+v, want v1 2 and v2 15 hops/s", rs)
	}
	// An inbound hop (a permissive group's sidecar) is its caller's hop.
	inbound := strings.ReplaceAll(scrapeB, `source_version=`, `reporter="destination",source_version=`)
	rs = rates(parseScrape(t, scrapeA), parseScrape(t, scrapeB, inbound), 2*time.Second)
	if len(rs) != 2 || rs[0].rps != 2 || rs[1].rps != 15 {
		t.Errorf("with an inbound reporter: %+v, want v1 2 and v2 15 hops/s", rs)
	}
	rs = rates(parseScrape(t, scrapeB), parseScrape(t, restarted), 2*time.Second)
	if len(rs) != 1 || rs[0].lane != "v2" || rs[0].rps != 2 || rs[0].errorRate != 0 {
		t.Errorf("after a restart: %+v, want v2 at 2 hops/s (4 new)", rs)
	}
}
