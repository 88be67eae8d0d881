// Package admin is the HTTP API of a running `lanemesh up`, which the
// kubectl- and istioctl-like commands (apply, delete, get, describe, scale,
// logs, proxy-status, proxy-config, explain --live, version) talk to, the
// way kubectl talks to a kube-apiserver. GET /v1/watch is a long poll that
// returns when anything a watcher sees changes (configuration, pods,
// events), which is how `get -w` follows the mesh.
//
// Every change goes through the control plane's Store, so an apply with
// any error is rejected whole, with analyze's messages, and nothing
// changes. Only the user who started the server can drive it: every /v1/
// call needs the token that Listen writes to a file only that user can
// read, and nothing a web page can send is answered (see package guard).
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/controlplane"
	"github.com/lanemesh/lanemesh/internal/events"
	"github.com/lanemesh/lanemesh/internal/guard"
	"github.com/lanemesh/lanemesh/internal/registry"
)

// maxBody bounds an applied document set: what one file may hold.
const maxBody = config.MaxFileBytes

// Pod is a pod as `lanemesh get pods` shows it.
type Pod struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Owner     string            `json:"owner"`
	IP        string            `json:"ip"`
	Phase     string            `json:"phase"`
	Ready     bool              `json:"ready"`
	Restarts  int               `json:"restarts"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Created is when the pod was made (AGE), zero if unknown.
	Created time.Time `json:"created,omitzero"`
	// Message says why the pod is not ready; LastExit why its app or
	// sidecar last exited. Both "" when there is nothing to say.
	Message  string `json:"message,omitempty"`
	LastExit string `json:"lastExit,omitempty"`
}

// Workloads is the local runner, as the API sees it.
type Workloads interface {
	Pods() []Pod
	Logs(namespace, pod string) ([]byte, error)
}

// LogStreams is what Workloads may also offer: a container's log from an
// offset, so that `logs -f` follows it and `logs -c sidecar` reads the
// pod's proxy. Container "" is the app.
type LogStreams interface {
	// LogsFrom returns what the container wrote at or after offset
	// (counted from its first byte), as far as it is kept, and the offset
	// to ask from next.
	LogsFrom(namespace, pod, container string, offset int64) ([]byte, int64, error)
}

// Server serves the API. Proxies, if set, lists the proxies connected to
// the control plane (any JSON-encodable value).
type Server struct {
	Store     *controlplane.Store
	Workloads Workloads
	Proxies   func() any
	// ProxyConfig, if set, shows what the control plane serves a proxy
	// (proxy-config).
	ProxyConfig ProxyConfigFunc
	// Instances, if set, lists the registry's instances: the endpoints
	// `explain --live` routes to.
	Instances func() []registry.Instance
	// Feed, if set, is what GET /v1/watch waits on.
	Feed *events.Feed
	// Events, if set, are listed by GET /v1/events.
	Events *events.Log
	// Name is the control plane's name in proxy-status [HOST/ADMIN_ADDRESS].
	Name string
	// Listener is where the API is served; its token guards every /v1/
	// call, its address is what a request's Host must name. Required.
	Listener *Listener
	// ReadOnly, when set, refuses apply, delete and scale with this reason:
	// in Kubernetes mode the cluster is the source of truth, and a change
	// made here would be silently undone by the next sync.
	ReadOnly string
	// UI serves the dashboard's static files under /ui/, without a token:
	// they hold no data. Dashboard serves its data under /v1/dashboard,
	// behind the token like every /v1/ call. Either may be nil.
	UI        http.Handler
	Dashboard http.Handler
}

// Result is the answer to apply and delete.
type Result struct {
	// Changes says what happened to each object, kubectl-style:
	// "virtualservice istio-system/mockb configured".
	Changes     []string           `json:"changes,omitempty"`
	Diagnostics config.Diagnostics `json:"diagnostics"`
	Rejected    bool               `json:"rejected"`
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/apply", s.writes(s.apply))
	mux.HandleFunc("POST /v1/delete", s.writes(s.delete))
	mux.HandleFunc("GET /v1/objects/{kind}", s.objects)
	mux.HandleFunc("POST /v1/scale", s.writes(s.scale))
	mux.HandleFunc("GET /v1/pods", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.pods()) })
	mux.HandleFunc("GET /v1/logs", s.logs)
	mux.HandleFunc("GET /v1/proxies", func(w http.ResponseWriter, _ *http.Request) {
		var list any = []any{}
		if s.Proxies != nil {
			list = s.Proxies()
		}
		writeJSON(w, http.StatusOK, list)
	})
	if s.Dashboard != nil {
		mux.Handle("GET /v1/dashboard", s.Dashboard)
		mux.Handle("GET /v1/dashboard/", s.Dashboard)
	}
	s.liveRoutes(mux)
	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	if s.UI != nil {
		root.Handle("GET /ui/", s.UI)
		// A redirect keeps the URL's fragment, where the page finds its token.
		root.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	}
	root.Handle("/", guard.Bearer(s.Listener.Token, s.Listener.TokenFile, mux))
	return guard.Browser(s.Listener.Requested, root)
}

// writes guards a call that changes the configuration.
func (s *Server) writes(h http.HandlerFunc) http.HandlerFunc {
	if s.ReadOnly == "" {
		return h
	}
	return func(w http.ResponseWriter, _ *http.Request) { writeError(w, http.StatusMethodNotAllowed, s.ReadOnly) }
}

// SkipUnsupportedKindsParam is the query parameter of apply and delete
// that sets config.Options.SkipUnsupportedKinds ("true").
const SkipUnsupportedKindsParam = "skipUnsupportedKinds"

// readConfig parses the request body: a JSON {"files": [{"name",
// "content"}]} as `lanemesh apply` sends, so messages name the user's
// files; or raw YAML/JSON documents, named by the X-Filename header.
func readConfig(r *http.Request) (*config.Config, config.Diagnostics, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if errors.As(err, new(*http.MaxBytesError)) {
		return nil, nil, fmt.Errorf("the request is %w: apply them in several requests", config.ErrTooLarge)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the request: %w", err)
	}
	var files []config.File
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		var req struct{ Files []config.File }
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, nil, fmt.Errorf("invalid request: %w", err)
		}
		files = req.Files
	} else {
		name := r.Header.Get("X-Filename")
		if name == "" {
			name = "<request>"
		}
		files = []config.File{{Name: name, Data: body}}
	}
	c := &config.Config{}
	var diags config.Diagnostics
	opt := config.Options{SkipUnsupportedKinds: r.URL.Query().Get(SkipUnsupportedKindsParam) == "true"}
	// The files come in -f order; each -f path is a layer, as in Load.
	for i := 0; i < len(files); {
		layer := &config.Config{}
		j := i
		for ; j < len(files) && files[j].Layer == files[i].Layer; j++ {
			diags = append(diags, layer.ParseWith(files[j].Name, files[j].Data, opt)...)
		}
		c.Replace(layer)
		i = j
	}
	return c, diags, nil
}

func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	in, diags, err := readConfig(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, Result{Rejected: true, Diagnostics: config.Diagnostics{{Level: config.Error, Code: config.IOCode, Message: err.Error()}}})
		return
	}
	if diags.HasErrors() {
		writeJSON(w, http.StatusUnprocessableEntity, Result{Rejected: true, Diagnostics: diags})
		return
	}
	before, _ := s.Store.Config()
	dryRun := r.URL.Query().Get("dryRun") == "true"
	found, err := s.Store.Apply(in, dryRun)
	res := Result{Diagnostics: append(diags, found...)}
	if err != nil {
		res.Rejected = true
		writeJSON(w, http.StatusUnprocessableEntity, res)
		return
	}
	for _, obj := range in.Objects() {
		res.Changes = append(res.Changes, describeChange(before, obj, dryRun))
	}
	writeJSON(w, http.StatusOK, res)
}

// describeChange says "created", "configured" or "unchanged" as kubectl.
func describeChange(before *config.Config, obj any, dryRun bool) string {
	kind, ns, name := config.Identify(obj)
	verb := "created"
	if old := before.Find(obj); old != nil {
		verb = "configured"
		if config.SameObject(old, obj) {
			verb = "unchanged"
		}
	}
	if dryRun {
		verb += " (dry run)"
	}
	return fmt.Sprintf("%s %s/%s %s", lower(kind), ns, name, verb)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	in, diags, err := readConfig(r)
	if err != nil || diags.HasErrors() {
		if err != nil {
			diags = append(diags, config.Diagnostic{Level: config.Error, Code: config.IOCode, Message: err.Error()})
		}
		writeJSON(w, http.StatusUnprocessableEntity, Result{Rejected: true, Diagnostics: diags})
		return
	}
	before, _ := s.Store.Config()
	found, err := s.Store.Delete(in, r.URL.Query().Get("dryRun") == "true")
	res := Result{Diagnostics: found}
	if err != nil {
		res.Rejected = true
		writeJSON(w, http.StatusUnprocessableEntity, res)
		return
	}
	verb := "deleted"
	if r.URL.Query().Get("dryRun") == "true" {
		verb += " (dry run)"
	}
	for _, obj := range in.Objects() {
		if before.Find(obj) != nil {
			kind, ns, name := config.Identify(obj)
			res.Changes = append(res.Changes, fmt.Sprintf("%s %s/%s %s", lower(kind), ns, name, verb))
		}
	}
	writeJSON(w, http.StatusOK, res)
}

// scaleRequest is the body of POST /v1/scale.
type scaleRequest struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Replicas  int32  `json:"replicas"`
}

func (s *Server) scale(w http.ResponseWriter, r *http.Request) {
	var req scaleRequest
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid scale request: "+err.Error())
		return
	}
	if req.Replicas < 0 {
		writeError(w, http.StatusBadRequest, "replicas must not be negative")
		return
	}
	found := false
	_, err := s.Store.UpdateBy("lanemesh scale", func(next *config.Config) {
		for i, d := range next.Deployments {
			if d.Metadata.Namespace == req.Namespace && d.Metadata.Name == req.Name {
				scaled := *d
				scaled.Spec.Replicas = &req.Replicas
				next.Deployments[i], found = &scaled, true
			}
		}
	})
	switch {
	case !found:
		writeError(w, http.StatusNotFound, fmt.Sprintf("deployment %s/%s not found", req.Namespace, req.Name))
	case err != nil:
		writeError(w, http.StatusUnprocessableEntity, err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]string{"result": fmt.Sprintf("deployment %s/%s scaled to %d", req.Namespace, req.Name, req.Replicas)})
	}
}

func (s *Server) pods() []Pod {
	if s.Workloads == nil {
		return []Pod{}
	}
	return s.Workloads.Pods()
}

// logs answers GET /v1/logs?namespace=NS&pod=P[&container=C][&tail=N][&follow=true]:
// the container's log (the app's by default), its last N lines with tail,
// and with follow, what it writes next, streamed until the client goes.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	if s.Workloads == nil {
		writeError(w, http.StatusNotFound, "no workloads run here")
		return
	}
	q := r.URL.Query()
	ns, pod, container := q.Get("namespace"), q.Get("pod"), q.Get("container")
	tail := -1
	if t := q.Get("tail"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			writeError(w, http.StatusBadRequest, "tail must be a number of lines")
			return
		}
		tail = n
	}
	streams, ok := s.Workloads.(LogStreams)
	if !ok {
		if container != "" && container != "app" || q.Get("follow") == "true" {
			writeError(w, http.StatusNotImplemented, "this server keeps only the app's log; drop -c and -f")
			return
		}
		b, err := s.Workloads.Logs(ns, pod)
		if err != nil {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(tailLines(b, tail))
		return
	}
	b, next, err := streams.LogsFrom(ns, pod, container, 0)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(tailLines(b, tail))
	if q.Get("follow") != "true" {
		return
	}
	followLogs(r.Context(), w, streams, ns, pod, container, next)
}

// followInterval is how often a followed log is read for news.
const followInterval = 200 * time.Millisecond

// followLogs streams what the container writes from offset on until ctx
// ends or the pod goes.
func followLogs(ctx context.Context, w http.ResponseWriter, streams LogStreams, ns, pod, container string, offset int64) {
	flush := http.NewResponseController(w)
	flush.Flush()
	tick := time.NewTicker(followInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		b, next, err := streams.LogsFrom(ns, pod, container, offset)
		if err != nil {
			return // the pod is gone: the stream ends, as kubectl's does
		}
		offset = next
		if len(b) > 0 {
			if _, err := w.Write(b); err != nil {
				return
			}
			flush.Flush()
		}
	}
}

// tailLines returns the last n lines of b; all of b for n < 0.
func tailLines(b []byte, n int) []byte {
	if n < 0 {
		return b
	}
	if n == 0 {
		return nil
	}
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			if n--; n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Error: msg})
}

func lower(s string) string { return strings.ToLower(s) }
