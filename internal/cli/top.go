package cli

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lanemesh/lanemesh/internal/dashboard"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
)

// The proxies' request metrics top reads: Istio's standard ones, with
// lanemesh's lane and fallback labels.
const (
	requestsMetric = "istio_requests_total"
	durationMetric = "istio_request_duration_milliseconds" // a histogram
	durationUnit   = time.Millisecond                      // of durationMetric's buckets
)

// laneOf is the lane a request series counts for: its lane label where
// the proxies set one; else the caller's version (a sidecar's series:
// strict lanes route by the caller's labels); else the subset it went to
// (the gateway's, where the lane header picked the subset).
func laneOf(labels map[string]string) string {
	for _, k := range []string{"lane", "source_version", "destination_subset"} {
		if v := labels[k]; v != "" {
			return v
		}
	}
	return "-"
}

func newTop(stdout, stderr io.Writer) *cobra.Command {
	var urls []string
	var interval time.Duration
	var once bool
	cmd := &cobra.Command{
		Use:   "top [--metrics URL]... [--interval 2s] [--once]",
		Short: "A live table per lane: hops/s, error rate, p99 and fallbacks",
		Long: `top scrapes the proxies' Prometheus metrics every --interval and prints, per
lane, over the last interval: the rate of hops (each proxy a request passes
counts it once, as each reports it: a request through the gateway and two
sidecars is three hops), the share of hops answered 5xx, the 99th
percentile of a hop's duration and the rate of hops a fallback served. On a
terminal the table is redrawn in place; elsewhere each refresh is printed
after the previous one. --once prints one table and exits.

--metrics defaults to the endpoint lanemesh up serves every proxy's metrics
on (up --metrics); give another, or one URL per proxy.`,
		Example: "  lanemesh top\n  lanemesh top --metrics http://127.0.0.1:15020/metrics --interval 5s",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval <= 0 {
				return usageError{fmt.Errorf("--interval must be positive")}
			}
			return runTop(cmd.Context(), stdout, urls, interval, once, isTerminal(stdout))
		},
	}
	cmd.Flags().StringArrayVar(&urls, "metrics", []string{"http://127.0.0.1:15020/metrics"}, "a Prometheus metrics URL of the proxies (repeatable)")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "refresh interval")
	cmd.Flags().BoolVar(&once, "once", false, "print one table (after one interval) and exit")
	return cmd
}

// counter is one cumulative value of one scrape: a request series, or
// one bucket (le, in seconds) of a duration histogram, with the lane and
// outcome it counts for.
type counter struct {
	lane     string
	bucket   bool
	le       float64
	code     int
	fallback bool
	value    float64
}

// scraped is one scrape of every URL: its counters by the URL and metric
// they came from and their labels, so that each is compared with itself
// at the next scrape.
type scraped map[string]counter

// scrape reads every URL.
func scrape(ctx context.Context, urls []string) (scraped, error) {
	out := scraped{}
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
		if err != nil {
			return nil, usageError{fmt.Errorf("invalid --metrics %q: %w", u, err)}
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("scraping %s (is lanemesh up running? give --metrics): %w", u, err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("scraping %s: %w", u, err)
		}
		out.add(u, families)
	}
	return out, nil
}

// add adds the request counter and histogram of the scrape of url.
func (s scraped) add(url string, families map[string]*dto.MetricFamily) {
	for _, m := range families[requestsMetric].GetMetric() {
		labels := labelMap(m)
		if labels["reporter"] == "destination" {
			continue // the hop its caller's proxy reports already
		}
		code, _ := strconv.Atoi(labels["response_code"])
		s[url+" "+labelKey(m)] = counter{lane: laneOf(labels), code: code, fallback: labels["fallback"] == "true",
			value: m.GetCounter().GetValue()}
	}
	for _, m := range families[durationMetric].GetMetric() {
		labels := labelMap(m)
		if labels["reporter"] == "destination" {
			continue
		}
		lane := laneOf(labels)
		for _, b := range m.GetHistogram().GetBucket() {
			// Bounds in seconds, whatever the metric's unit.
			le := b.GetUpperBound() * durationUnit.Seconds()
			s[url+" "+labelKey(m)+" le="+strconv.FormatFloat(le, 'g', -1, 64)] = counter{lane: lane, bucket: true, le: le,
				value: float64(b.GetCumulativeCount())}
		}
	}
}

// labelKey names a series by its labels, in name order.
func labelKey(m *dto.Metric) string {
	pairs := make([]string, 0, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		pairs = append(pairs, strconv.Quote(l.GetName())+"="+strconv.Quote(l.GetValue()))
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

func labelMap(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// laneRate is one lane over one interval.
type laneRate struct {
	lane                      string
	rps, errorRate, fallbacks float64
	p99                       float64 // seconds; NaN without requests
}

// rates computes each lane's rates between two scrapes dt apart. Each
// counter's increase is its own, as Prometheus's rate() takes it: a
// counter that went down was reset (its proxy restarted), and all of its
// value is new; a counter gone since (its pod stopped) adds nothing. The
// increases are then summed by lane, never the totals, which fall when a
// pod goes away.
func rates(prev, cur scraped, dt time.Duration) []laneRate {
	type sums struct {
		requests, errors, fallbacks float64
		buckets                     map[float64]float64
	}
	lanes := map[string]*sums{}
	for id, c := range cur {
		inc := c.value
		if p, ok := prev[id]; ok && p.value <= c.value {
			inc = c.value - p.value
		}
		t := lanes[c.lane]
		if t == nil {
			t = &sums{buckets: map[float64]float64{}}
			lanes[c.lane] = t
		}
		switch {
		case c.bucket:
			t.buckets[c.le] += inc
		default:
			t.requests += inc
			if c.code >= 500 {
				t.errors += inc
			}
			if c.fallback {
				t.fallbacks += inc
			}
		}
	}
	var out []laneRate
	for lane, t := range lanes {
		r := laneRate{lane: lane, rps: t.requests / dt.Seconds(), fallbacks: t.fallbacks / dt.Seconds(), p99: math.NaN()}
		if t.requests > 0 {
			r.errorRate = t.errors / t.requests
		}
		if t.buckets[math.Inf(1)] > 0 {
			r.p99 = dashboard.Quantile(0.99, t.buckets)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].lane < out[j].lane })
	return out
}

// printTop prints one table.
func printTop(w io.Writer, rs []laneRate, at time.Time, dt time.Duration) error {
	fmt.Fprintf(w, "lanes at %s, over the last %s\n", at.Format("15:04:05"), dt)
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "LANE\tHOPS/S\tERRORS\tP99\tFALLBACK/S")
	for _, r := range rs {
		p99 := "-"
		if !math.IsNaN(r.p99) {
			p99 = (time.Duration(r.p99 * float64(time.Second))).Round(10 * time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f%%\t%s\t%.1f\n", r.lane, r.rps, 100*r.errorRate, p99, r.fallbacks)
	}
	if len(rs) == 0 {
		fmt.Fprintln(tw, "(no requests yet)")
	}
	return tw.Flush()
}

// runTop scrapes every interval and prints each interval's table.
func runTop(ctx context.Context, w io.Writer, urls []string, interval time.Duration, once, tty bool) error {
	prev, err := scrape(ctx, urls)
	if err != nil {
		return err
	}
	last := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		cur, err := scrape(ctx, urls)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		now := time.Now()
		if tty {
			io.WriteString(w, "\033[H\033[2J") // home and clear: redraw in place
		}
		if err := printTop(w, rates(prev, cur, now.Sub(last)), now, now.Sub(last).Round(time.Millisecond)); err != nil {
			return err
		}
		if once {
			return nil
		}
		prev, last = cur, now
	}
}

// isTerminal reports whether w is a terminal (a character device), where
// progress and redrawing belong; pipes and files get plain lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
