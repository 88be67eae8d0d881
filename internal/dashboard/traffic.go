package dashboard

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Scrape is one proxy's metrics at one moment.
type Scrape struct {
	ID string // the proxy's unique name ("sidecar~default/mocka-v2-0")
	// Name is the caller's name for series that do not name their source
	// (a gateway has no app label): "ingressgateway".
	Name     string
	Families []*dto.MetricFamily
}

// EdgeStats are an edge's figures over the traffic window.
type EdgeStats struct {
	Edge
	RPS         float64 `json:"rps"`         // requests per second
	ErrorRate   float64 `json:"errorRate"`   // share of requests answered 5xx, 0..1
	P99         float64 `json:"p99"`         // milliseconds; 0 without requests
	FallbackRPS float64 `json:"fallbackRps"` // requests per second a fallback served
}

// series is one request series of one proxy, cumulative.
type series struct {
	sample   sample
	requests float64
	buckets  []bucket // cumulative counts by upper bound (ms), sorted
}

type bucket struct {
	le    float64
	count float64
}

// tick is what changed on every edge between two readings.
type tick struct {
	span  time.Duration
	edges map[Edge]*edgeDelta
}

type edgeDelta struct {
	requests, errors, fallbacks float64
	buckets                     map[float64]float64 // upper bound (ms) → requests in the bucket and below
}

// Traffic turns successive readings of cumulative counters into rates
// over a sliding window, as Prometheus's rate() does: a counter that went
// down restarted (its proxy did), and a series first seen after the first
// reading counts from zero. It is not safe for concurrent use.
type Traffic struct {
	Window time.Duration // how far back rates look

	last     map[string]series
	lastAt   time.Time
	lastSeen map[string]time.Time
	ticks    []tick
}

// forget is how long a series that stopped appearing (a proxy that is
// gone or did not answer) is remembered, so that its return is not
// counted again from zero.
const forget = time.Minute

// Add records the readings taken at now and returns the deltas since the
// previous readings (nil for the first).
func (t *Traffic) Add(now time.Time, scrapes []Scrape) map[Edge]*edgeDelta {
	cur := read(scrapes)
	if t.last == nil {
		t.last, t.lastAt, t.lastSeen = cur, now, map[string]time.Time{}
		for id := range cur {
			t.lastSeen[id] = now
		}
		return nil
	}
	d := tick{span: now.Sub(t.lastAt), edges: map[Edge]*edgeDelta{}}
	for id, s := range cur {
		prev := t.last[id]
		e := d.edges[s.sample.edge]
		if e == nil {
			e = &edgeDelta{buckets: map[float64]float64{}}
			d.edges[s.sample.edge] = e
		}
		n := increase(prev.requests, s.requests)
		e.requests += n
		if s.sample.code >= 500 || s.sample.code == 0 {
			e.errors += n
		}
		if s.sample.fallback {
			e.fallbacks += n
		}
		for i, b := range s.buckets {
			var before float64
			if i < len(prev.buckets) && prev.buckets[i].le == b.le {
				before = prev.buckets[i].count
			}
			e.buckets[b.le] += increase(before, b.count)
		}
		t.last[id] = s
		t.lastSeen[id] = now
	}
	for id, seen := range t.lastSeen {
		if now.Sub(seen) > forget {
			delete(t.last, id)
			delete(t.lastSeen, id)
		}
	}
	t.lastAt = now
	t.ticks = append(t.ticks, d)
	var span time.Duration
	for i := len(t.ticks) - 1; i >= 0; i-- {
		if span += t.ticks[i].span; span >= t.Window {
			t.ticks = t.ticks[i:]
			break
		}
	}
	return d.edges
}

// increase is a counter's growth from before to now; a counter that went
// down was reset, and counts from zero.
func increase(before, now float64) float64 {
	if now < before {
		return now
	}
	return now - before
}

// Stats are every edge's figures over the window, sorted by lane, caller
// and callee.
func (t *Traffic) Stats() []EdgeStats {
	sums := map[Edge]*edgeDelta{}
	var span time.Duration
	for _, tk := range t.ticks {
		span += tk.span
		for e, d := range tk.edges {
			s := sums[e]
			if s == nil {
				s = &edgeDelta{buckets: map[float64]float64{}}
				sums[e] = s
			}
			s.requests += d.requests
			s.errors += d.errors
			s.fallbacks += d.fallbacks
			for le, n := range d.buckets {
				s.buckets[le] += n
			}
		}
	}
	out := []EdgeStats{}
	if span <= 0 {
		return out
	}
	secs := span.Seconds()
	for e, s := range sums {
		if s.requests == 0 {
			continue
		}
		out = append(out, EdgeStats{Edge: e, RPS: s.requests / secs, ErrorRate: s.errors / s.requests,
			FallbackRPS: s.fallbacks / secs, P99: Quantile(0.99, s.buckets)})
	}
	slices.SortFunc(out, func(a, b EdgeStats) int {
		return cmp.Or(naturalLess(a.Lane, b.Lane), strings.Compare(a.From, b.From), naturalLess(a.FromVersion, b.FromVersion),
			strings.Compare(a.To, b.To), naturalLess(a.ToVersion, b.ToVersion))
	})
	return out
}

// Quantile estimates the q-quantile from cumulative bucket counts as
// Prometheus's histogram_quantile does: linear within the bucket the rank
// falls in, the highest finite bound when it falls in +Inf.
func Quantile(q float64, buckets map[float64]float64) float64 {
	les := slices.Sorted(maps.Keys(buckets))
	if len(les) == 0 {
		return 0
	}
	total := buckets[les[len(les)-1]]
	if total == 0 {
		return 0
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, le := range les {
		n := buckets[le]
		if n >= rank {
			if math.IsInf(le, 1) {
				return lower
			}
			if n == below {
				return le
			}
			return lower + (le-lower)*(rank-below)/(n-below)
		}
		lower, below = le, n
	}
	return lower
}

// read collects the request series of every scrape, by proxy and labels.
func read(scrapes []Scrape) map[string]series {
	out := map[string]series{}
	for _, sc := range scrapes {
		byName := map[string]*dto.MetricFamily{}
		for _, f := range sc.Families {
			byName[f.GetName()] = f
		}
		for _, names := range metricNames {
			reqs := byName[names.requests]
			if reqs == nil {
				continue
			}
			for _, m := range reqs.GetMetric() {
				labels := labelMap(m)
				if s, ok := readSample(sc.Name, labels); ok {
					id := seriesID(sc.ID, m)
					out[id] = series{sample: s, requests: m.GetCounter().GetValue()}
				}
			}
			for _, m := range byName[names.duration].GetMetric() {
				id := seriesID(sc.ID, m)
				s, ok := out[id]
				if !ok {
					continue
				}
				for _, b := range m.GetHistogram().GetBucket() {
					if math.IsInf(b.GetUpperBound(), 1) {
						continue // sample_count is the +Inf bucket
					}
					s.buckets = append(s.buckets, bucket{le: b.GetUpperBound() * names.msPerUnit, count: float64(b.GetCumulativeCount())})
				}
				s.buckets = append(s.buckets, bucket{le: math.Inf(1), count: float64(m.GetHistogram().GetSampleCount())})
				out[id] = s
			}
			break // a proxy that exports Istio's names is read by them alone
		}
	}
	return out
}

// seriesID names a series of one proxy by its sorted label pairs.
func seriesID(proxy string, m *dto.Metric) string {
	var b strings.Builder
	b.WriteString(proxy)
	pairs := make([]string, 0, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		pairs = append(pairs, l.GetName()+"="+l.GetValue())
	}
	slices.Sort(pairs)
	for _, p := range pairs {
		b.WriteString("\x00")
		b.WriteString(p)
	}
	return b.String()
}
