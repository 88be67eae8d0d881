package dashboard

import (
	"embed"
	"encoding/json"
	"fmt"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/explain"
	"github.com/lanemesh/lanemesh/internal/registry"
)

//go:embed ui
var assets embed.FS

// UI serves the page's static files under /ui/. They hold no data, so it
// needs no token: the page reads the token from its URL's fragment, which
// a browser never sends, and presents it on every data request.
func UI() http.Handler {
	sub, err := fs.Sub(assets, "ui")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Only the page's own files run, and it talks only to this server;
		// no other site may frame it.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// Data serves the dashboard's data, under the admin API's token:
//
//	GET /v1/dashboard          the latest State
//	GET /v1/dashboard/stream   every new State, one JSON object per line (NDJSON), until the client leaves
//	GET /v1/dashboard/explain  where a request would go now, and why: ?lane=NAME takes the lane's
//	                           gateway entry; or ?from=NS/NAME (a Gateway, or a pod's sidecar)&url=URL&header=K:V...
type Data struct {
	Collector *Collector
	Config    func() (*config.Config, uint64)
	Instances func() []registry.Instance
}

// Handler returns the routes above.
func (d *Data) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/dashboard", d.state)
	mux.HandleFunc("GET /v1/dashboard/stream", d.stream)
	mux.HandleFunc("GET /v1/dashboard/explain", d.explain)
	return mux
}

func (d *Data) state(w http.ResponseWriter, _ *http.Request) {
	b, _ := d.Collector.Latest()
	if b == nil {
		writeError(w, http.StatusServiceUnavailable, "the dashboard has not read the mesh yet; try again in a second")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// stream writes each new state as one line. A browser's EventSource
// cannot send the token, so the page reads this with fetch, which can.
func (d *Data) stream(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "this server cannot stream")
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	defer d.Collector.watch()()
	for {
		// Latest returns a state and the channel its successor closes, as
		// one pair: each state is written once, none is skipped but for
		// those a slow client had no time to take.
		b, changed := d.Collector.Latest()
		if b != nil {
			if _, err := w.Write(b); err != nil {
				return
			}
			w.Write([]byte("\n"))
			flusher.Flush()
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		case <-d.Collector.Done():
			return
		}
	}
}

// Explained is the answer of /v1/dashboard/explain.
type Explained struct {
	From    string        `json:"from"`
	URL     string        `json:"url"`
	Headers []string      `json:"headers,omitempty"`
	Hops    []explain.Hop `json:"hops"`
	Text    string        `json:"text"` // as `lanemesh explain --chain` prints it
	Error   string        `json:"error,omitempty"`
}

func (d *Data) explain(w http.ResponseWriter, r *http.Request) {
	cfg, _ := d.Config()
	instances := d.Instances()
	q := r.URL.Query()
	from, rawURL, headers := q.Get("from"), q.Get("url"), q["header"]
	if lane := q.Get("lane"); lane != "" {
		lanes := Lanes(cfg, instances).Lanes
		i := slices.IndexFunc(lanes, func(l Lane) bool { return l.Name == lane })
		if i < 0 {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no lane %q: no DestinationRule defines such a subset", lane))
			return
		}
		e := lanes[i].Entry
		if e == nil {
			writeError(w, http.StatusNotFound, fmt.Sprintf("lane %q has no gateway route into it; explain a request from a pod instead (?from=NS/POD&url=...)", lane))
			return
		}
		from, rawURL, headers = e.Gateway, "http://gateway"+e.Path, nil
		for _, k := range slices.Sorted(maps.Keys(e.Headers)) {
			headers = append(headers, k+": "+e.Headers[k])
		}
	}
	if from == "" || rawURL == "" {
		writeError(w, http.StatusBadRequest, "give ?lane=NAME, or ?from=NS/NAME (a Gateway or a pod) and ?url=URL")
		return
	}
	proxy, name, err := proxyFor(cfg, instances, from)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	out := Explained{From: name, URL: rawURL, Headers: headers, Hops: []explain.Hop{}}
	req, err := explain.Request("GET", rawURL, headers)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	hops, err := explain.Chain(cfg, instances, proxy, name, req, rawURL)
	if hops != nil {
		out.Hops = hops
		out.Text = explain.FormatChain(hops)
	}
	if err != nil {
		out.Error = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

// proxyFor is the proxy that a request from "ns/name" passes first: the
// Gateway of that name, else the sidecar of that pod.
func proxyFor(cfg *config.Config, instances []registry.Instance, from string) (meshxds.Proxy, string, error) {
	ns, name, ok := strings.Cut(from, "/")
	if !ok {
		return meshxds.Proxy{}, "", fmt.Errorf("from %q: give NAMESPACE/NAME of a Gateway or a pod", from)
	}
	for _, gw := range cfg.Gateways {
		if gw.Metadata.Namespace == ns && gw.Metadata.Name == name {
			return meshxds.Proxy{Role: meshxds.Gateway, Namespace: ns, Labels: gw.Spec.Selector}, "gateway " + from, nil
		}
	}
	for _, in := range instances {
		if in.Namespace == ns && in.Name == name {
			return meshxds.Proxy{Role: meshxds.Sidecar, Namespace: ns, Labels: in.Labels}, "sidecar " + from, nil
		}
	}
	return meshxds.Proxy{}, "", fmt.Errorf("no Gateway and no pod %s", from)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}
