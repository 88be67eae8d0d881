// Package verify checks traffic lanes end to end, as the tutorial's steps 5
// and 7 do by hand: it sends requests into each lane through the gateway,
// reads the call chain the sample apps print, and counts per lane the
// requests that stayed in the lane, fell back, leaked into another lane or
// failed. Parse and Tally are pure; Run does the HTTP.
package verify

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
)

// Hop is one service in a printed chain: "-> mockb(version: v2, ip: 127.0.1.5)".
type Hop struct {
	App, Version, IP string
}

var hopRE = regexp.MustCompile(`-> ([A-Za-z0-9_.-]+)\(version: ([^,()]*), ip: ([^()]*)\)`)

// Parse reads the hops of a chain from a response body.
func Parse(body string) []Hop {
	var hops []Hop
	for _, m := range hopRE.FindAllStringSubmatch(body, -1) {
		hops = append(hops, Hop{App: m[1], Version: strings.TrimSpace(m[2]), IP: strings.TrimSpace(m[3])})
	}
	return hops
}

// Versions is a chain's versions joined by spaces: "v2 v1 v1".
func Versions(hops []Hop) string {
	vs := make([]string, len(hops))
	for i, h := range hops {
		vs[i] = h.Version
	}
	return strings.Join(vs, " ")
}

// Outcome is what became of one request.
type Outcome struct {
	Status int    // HTTP status; 0 when the request got no response
	Body   string // the response body, or the error
}

// LaneReport counts the outcomes of one lane's requests.
type LaneReport struct {
	Lane     string         `json:"lane"`
	Requests int            `json:"requests"`
	InLane   int            `json:"inLane"`
	FellBack map[string]int `json:"fellBack"` // by the app of the first hop that fell back
	// Returned counts the requests that fell back and whose chain came
	// back to the lane at a later hop, as permissive lanes do.
	Returned int `json:"returned"`
	Leaked   int `json:"leaked"`
	Failed   int `json:"failed"`
	// Examples holds the first response of each kind but in-lane, to show
	// what went wrong.
	Examples map[string]string `json:"examples,omitempty"`
}

// OK reports whether the lane neither leaked nor failed (and, unless
// fallback is allowed, never fell back).
func (r LaneReport) OK(allowFallback bool) bool {
	fb := 0
	for _, n := range r.FellBack {
		fb += n
	}
	return r.Leaked == 0 && r.Failed == 0 && (allowFallback || fb == 0)
}

// Expect is what the hops of one lane's chain should print: per app, the
// version of the lane's pod (Version) and the version its hop falls back
// to (Fallback); an app not listed takes Default and DefaultFallback. A
// lane named after its version, with one fallback version, is
// Expect{Default: lane, DefaultFallback: fallback}; a lane group's lanes
// come from ForGroup.
type Expect struct {
	Version, Fallback        map[string]string
	Default, DefaultFallback string
}

func (e Expect) version(app string) string {
	if v, ok := e.Version[app]; ok {
		return v
	}
	return e.Default
}

func (e Expect) fallback(app string) string {
	if v, ok := e.Fallback[app]; ok {
		return v
	}
	return e.DefaultFallback
}

// Tally classifies one lane's outcomes. A chain whose hops are all in the
// lane's version (of their app) is in the lane; one whose other hops are
// all in their fallback version fell back, at the first of them, and
// returned when a hop after that is in the lane again (a permissive lane);
// a hop in any other version is a leak. A non-2xx status, no response or
// no chain is a failure.
func Tally(lane string, e Expect, outcomes []Outcome) LaneReport {
	r := LaneReport{Lane: lane, Requests: len(outcomes), FellBack: map[string]int{}, Examples: map[string]string{}}
	for _, o := range outcomes {
		kind, at, returned := classify(e, o)
		switch kind {
		case "in-lane":
			r.InLane++
			continue
		case "fell-back":
			r.FellBack[at]++
			if returned {
				r.Returned++
				kind = "fell-back-and-returned"
			}
		case "leaked":
			r.Leaked++
		default:
			r.Failed++
		}
		if _, seen := r.Examples[kind]; !seen {
			r.Examples[kind] = strings.TrimSpace(fmt.Sprintf("%d %s", o.Status, o.Body))
		}
	}
	return r
}

func classify(e Expect, o Outcome) (kind, at string, returned bool) {
	hops := Parse(o.Body)
	if o.Status < 200 || o.Status > 299 || len(hops) == 0 {
		return "failed", "", false
	}
	kind = "in-lane"
	for _, h := range hops {
		switch {
		case h.Version == e.version(h.App):
			returned = at != ""
		case h.Version != "" && h.Version == e.fallback(h.App):
			if at == "" {
				kind, at = "fell-back", h.App
			}
			returned = false
		default:
			return "leaked", "", false
		}
	}
	return kind, at, returned
}

// Options says what to send.
type Options struct {
	URL      string   // the gateway URL, e.g. http://127.0.0.1:8080/mock
	Header   string   // the lane header, e.g. x-asm-prefer-tag
	Lanes    []string // e.g. v1, v2, v3
	Fallback string   // the fallback version, e.g. v1
	// Expect, when it has a lane, says what that lane's chain should
	// print instead of the lane's name and Fallback (see ForGroup).
	Expect      map[string]Expect
	Requests    int // per lane
	Concurrency int
	Client      *http.Client
	// Progress, if set, is called after each request with the lane and
	// how many of its requests are done, in order, one call at a time.
	Progress func(lane string, done, total int)
}

// Run sends o.Requests requests into each lane and tallies them.
func Run(ctx context.Context, o Options) []LaneReport {
	var reports []LaneReport
	for _, lane := range o.Lanes {
		e, ok := o.Expect[lane]
		if !ok {
			e = Expect{Default: lane, DefaultFallback: o.Fallback}
		}
		reports = append(reports, Tally(lane, e, send(ctx, o, lane)))
	}
	return reports
}

func send(ctx context.Context, o Options, lane string) []Outcome {
	out := make([]Outcome, o.Requests)
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex // serializes Progress
	done := 0
	for range max(o.Concurrency, 1) {
		wg.Go(func() {
			for i := range work {
				out[i] = once(ctx, o, lane)
				if o.Progress != nil {
					mu.Lock()
					done++
					o.Progress(lane, done, o.Requests)
					mu.Unlock()
				}
			}
		})
	}
	for i := range o.Requests {
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

func once(ctx context.Context, o Options, lane string) Outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.URL, nil)
	if err != nil {
		return Outcome{Body: err.Error()}
	}
	req.Header.Set(o.Header, lane)
	resp, err := o.Client.Do(req)
	if err != nil {
		return Outcome{Body: err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Outcome{Status: resp.StatusCode, Body: err.Error()}
	}
	return Outcome{Status: resp.StatusCode, Body: string(body)}
}

// Format renders reports as a table, with an example of each problem.
func Format(w io.Writer, reports []LaneReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LANE\tREQUESTS\tIN-LANE\tFELL-BACK\tRETURNED\tLEAKED\tFAILED")
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%d\n", r.Lane, r.Requests, r.InLane, fellBack(r.FellBack), r.Returned, r.Leaked, r.Failed)
	}
	tw.Flush()
	for _, r := range reports {
		kinds := make([]string, 0, len(r.Examples))
		for k := range r.Examples {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			fmt.Fprintf(w, "lane %s, %s, e.g.: %s\n", r.Lane, k, r.Examples[k])
		}
	}
}

func fellBack(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	apps := make([]string, 0, len(m))
	for app := range m {
		apps = append(apps, app)
	}
	sort.Strings(apps)
	parts := make([]string, len(apps))
	for i, app := range apps {
		parts[i] = fmt.Sprintf("%d (at %s)", m[app], app)
	}
	return strings.Join(parts, ", ")
}
