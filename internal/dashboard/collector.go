package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

// State is what the page shows at one moment.
type State struct {
	Time       time.Time   `json:"time"`
	Generation uint64      `json:"generation"` // the configuration's
	Matrix     Matrix      `json:"matrix"`
	Edges      []EdgeStats `json:"edges"`
	Events     []Event     `json:"events"`
	NACKs      []NACK      `json:"nacks"`
	Proxies    int         `json:"proxies"`   // connected to the control plane
	Scraped    int         `json:"scraped"`   // proxies whose metrics were read
	WindowSecs float64     `json:"windowSec"` // what the rates average over
}

// Event is something that happened to a lane: a fallback that started or
// stopped, a cell that lost or regained its pods, a rejected configuration.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // "fallback", "recovered", "pods", "nack"
	Lane    string    `json:"lane,omitempty"`
	Message string    `json:"message"`
}

// NACK is a proxy's latest rejected configuration.
type NACK struct {
	Proxy   string    `json:"proxy"`
	Type    string    `json:"type"`
	Version string    `json:"version"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

// Source reads the proxies' metrics. It returns what it could read; a
// proxy that does not answer is left out.
type Source interface {
	Scrape(ctx context.Context) []Scrape
}

// Collector gathers the dashboard's state every Interval and hands it to
// the pages that watch it. Its fields are set before Run and not changed.
type Collector struct {
	Config    func() (*config.Config, uint64)
	Instances func() []registry.Instance
	Proxies   func() xdsserver.Glance // nil: no NACKs shown
	Metrics   Source                  // nil: no traffic shown
	Interval  time.Duration           // between readings while a page watches [1s]
	// IdleInterval is between readings while no page has watched for a
	// minute [Interval]: Kubernetes mode scrapes every pod for a reading,
	// and need not do so every second for nobody. Events are still
	// recorded, from coarser readings.
	IdleInterval time.Duration
	Window       time.Duration // of the rates [5s]

	traffic Traffic
	// fallingBack holds the edges whose fallback traffic was seen, with
	// the readings since it was last seen, to say when it stops.
	fallingBack map[Edge]int
	cells       map[string]string // "lane/service" → cell state
	seenNACK    map[string]time.Time

	wake chan struct{} // a page came to watch an idle collector

	mu       sync.Mutex
	watchers int       // pages streaming now
	watched  time.Time // when the last page stopped watching
	events   []Event
	current  []byte        // the latest State, as JSON
	changed  chan struct{} // closed and replaced when current changes
	done     chan struct{} // closed when Run returns
}

// maxEvents bounds the events a page gets.
const maxEvents = 50

// quietTicks is how many readings without fallback traffic end a
// fallback event.
const quietTicks = 5

// Run reads the state every Interval until ctx is done.
func (c *Collector) Run(ctx context.Context) {
	c.init()
	defer close(c.done)
	for {
		c.update(ctx, time.Now())
		t := time.NewTimer(c.next(time.Now()))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-c.wake:
			t.Stop()
		}
	}
}

// idleAfter is how long after the last page left the collector slows to
// IdleInterval.
const idleAfter = time.Minute

// next is the time until the next reading.
func (c *Collector) next(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watchers > 0 || now.Sub(c.watched) < idleAfter {
		return c.Interval
	}
	return c.IdleInterval
}

// watch records a page that streams the state until the returned func is
// called; an idle collector takes a reading at once.
func (c *Collector) watch() (done func()) {
	c.init()
	c.mu.Lock()
	c.watchers++
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return func() {
		c.mu.Lock()
		c.watchers--
		c.watched = time.Now()
		c.mu.Unlock()
	}
}

func (c *Collector) init() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changed != nil {
		return
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.IdleInterval == 0 {
		c.IdleInterval = c.Interval
	}
	if c.Window == 0 {
		c.Window = 5 * time.Second
	}
	c.traffic.Window = c.Window
	c.fallingBack, c.cells, c.seenNACK = map[Edge]int{}, map[string]string{}, map[string]time.Time{}
	c.changed, c.done, c.wake = make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
}

// update takes one reading and publishes it.
func (c *Collector) update(ctx context.Context, now time.Time) {
	cfg, gen := c.Config()
	st := State{Time: now, Generation: gen, Matrix: Lanes(cfg, c.Instances()), WindowSecs: c.Window.Seconds()}
	var scrapes []Scrape
	if c.Metrics != nil {
		scrapes = c.Metrics.Scrape(ctx)
	}
	st.Scraped = len(scrapes)
	deltas := c.traffic.Add(now, scrapes)
	st.Edges = c.traffic.Stats()
	var events []Event
	events = append(events, c.fallbackEvents(now, deltas)...)
	events = append(events, c.cellEvents(now, st.Matrix)...)
	if c.Proxies != nil {
		g := c.Proxies()
		st.NACKs = nacks(g.NACKs)
		events = append(events, c.nackEvents(st.NACKs)...)
		st.Proxies = g.Connected
	}
	c.mu.Lock()
	c.events = append(c.events, events...)
	if len(c.events) > maxEvents {
		c.events = slices.Clone(c.events[len(c.events)-maxEvents:])
	}
	st.Events = slices.Clone(c.events)
	slices.Reverse(st.Events) // newest first
	c.mu.Unlock()
	if st.NACKs == nil {
		st.NACKs = []NACK{}
	}
	if st.Events == nil {
		st.Events = []Event{}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return // every field is plain data; it cannot fail
	}
	c.mu.Lock()
	c.current = b
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// fallbackEvents says when an edge starts and stops being served by its
// fallback.
func (c *Collector) fallbackEvents(now time.Time, deltas map[Edge]*edgeDelta) []Event {
	var out []Event
	for e, d := range deltas {
		if d.fallbacks == 0 {
			continue
		}
		if _, ok := c.fallingBack[e]; !ok {
			out = append(out, Event{Time: now, Kind: "fallback", Lane: e.Lane,
				Message: fmt.Sprintf("%s %s → %s fell back to %s", e.From, e.FromVersion, e.To, e.ToVersion)})
		}
		c.fallingBack[e] = 0
	}
	for e, quiet := range c.fallingBack {
		if d := deltas[e]; d != nil && d.fallbacks > 0 {
			continue
		}
		if quiet+1 >= quietTicks {
			delete(c.fallingBack, e)
			out = append(out, Event{Time: now, Kind: "recovered", Lane: e.Lane,
				Message: fmt.Sprintf("%s %s → %s: no request fell back for %d readings", e.From, e.FromVersion, e.To, quietTicks)})
			continue
		}
		c.fallingBack[e] = quiet + 1
	}
	slices.SortFunc(out, func(a, b Event) int { return naturalLess(a.Message, b.Message) })
	return out
}

// cellEvents says when a lane's service loses or regains its ready pods.
func (c *Collector) cellEvents(now time.Time, m Matrix) []Event {
	var out []Event
	for _, row := range m.Services {
		for i, cell := range row.Cells {
			lane := m.Lanes[i].Name
			key := lane + "/" + row.Host
			before, seen := c.cells[key]
			c.cells[key] = cell.State
			if !seen || before == cell.State {
				continue
			}
			msg := fmt.Sprintf("%s %s: %d/%d pods ready", row.Short, lane, cell.Ready, cell.Pods)
			switch cell.State {
			case "fallback":
				msg += ", traffic goes to " + cell.Fallback
			case "down":
				msg += ", no fallback: requests fail"
			}
			out = append(out, Event{Time: now, Kind: "pods", Lane: lane, Message: msg})
		}
	}
	if len(out) > maxCellEvents {
		// A mesh that starts, or a change to many Deployments at once, is
		// one event, not a screenful.
		msgs := make([]string, len(out))
		for i, e := range out {
			msgs[i] = e.Message
		}
		return []Event{{Time: now, Kind: "pods", Message: fmt.Sprintf("%d lane cells changed: %s", len(out), strings.Join(msgs, "; "))}}
	}
	return out
}

// maxCellEvents is how many cells may change in one reading before their
// events are folded into one.
const maxCellEvents = 3

// nacks lists the proxies' latest rejections, newest first.
func nacks(proxies []xdsserver.ProxyNACK) []NACK {
	var out []NACK
	for _, n := range proxies {
		out = append(out, NACK{Proxy: n.ID, Type: shortType(n.TypeURL), Version: n.Version, Message: n.Message,
			Time: n.Time})
	}
	slices.SortFunc(out, func(a, b NACK) int { return b.Time.Compare(a.Time) })
	return out
}

func (c *Collector) nackEvents(ns []NACK) []Event {
	var out []Event
	for _, n := range ns {
		if c.seenNACK[n.Proxy].Equal(n.Time) {
			continue
		}
		c.seenNACK[n.Proxy] = n.Time
		out = append(out, Event{Time: n.Time, Kind: "nack", Message: fmt.Sprintf("%s rejected %s %s: %s", n.Proxy, n.Type, n.Version, n.Message)})
	}
	return out
}

// shortType is "RouteConfiguration" for its type URL.
func shortType(url string) string {
	for i := len(url) - 1; i >= 0; i-- {
		if url[i] == '.' || url[i] == '/' {
			return url[i+1:]
		}
	}
	return url
}

// Latest is the latest state as JSON, and a channel closed when a newer
// one is published; nil before the first reading.
func (c *Collector) Latest() ([]byte, <-chan struct{}) {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current, c.changed
}

// Done is closed when Run has returned: live streams end with it.
func (c *Collector) Done() <-chan struct{} {
	c.init()
	return c.done
}
