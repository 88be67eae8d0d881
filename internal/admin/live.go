package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/lanemesh/lanemesh/internal/events"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/version"
)

// ProxyConfigFunc returns the resources of one type (an xDS type URL) that
// the control plane serves a node, and their version; ok is false for an
// unknown node or type. xds.Server.Served is one.
type ProxyConfigFunc func(node, typeURL string) (resources []*anypb.Any, version string, ok bool)

// ProxyConfig is the answer of GET /v1/proxy-config.
type ProxyConfig struct {
	Node    string `json:"node"`
	TypeURL string `json:"typeUrl"`
	Version string `json:"version"`
	// Resources are the resources in protobuf's JSON form, each with its
	// "@type".
	Resources []json.RawMessage `json:"resources"`
}

// ServerVersion is the answer of GET /v1/version: the server's build, and
// the control plane's name as proxy-status shows it (host/admin address).
type ServerVersion struct {
	version.Info
	ControlPlane string `json:"controlPlane"`
}

// Watched is the answer of GET /v1/watch.
type Watched struct {
	Generation uint64 `json:"generation"`
}

// maxWatch bounds one long poll of /v1/watch; the client asks again.
const maxWatch = 60 * time.Second

func (s *Server) liveRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/version", func(w http.ResponseWriter, _ *http.Request) {
		name := s.Name
		if name == "" {
			host, _ := os.Hostname()
			name = host + "/" + s.Listener.Addr().String()
		}
		writeJSON(w, http.StatusOK, ServerVersion{Info: version.Get(), ControlPlane: name})
	})
	mux.HandleFunc("GET /v1/objects", s.allObjects)
	mux.HandleFunc("GET /v1/meta", s.meta)
	mux.HandleFunc("GET /v1/proxy-config", s.proxyConfig)
	mux.HandleFunc("GET /v1/instances", func(w http.ResponseWriter, _ *http.Request) {
		list := []registry.Instance{}
		if s.Instances != nil {
			list = append(list, s.Instances()...)
		}
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("GET /v1/events", s.events)
	mux.HandleFunc("GET /v1/watch", s.watch)
}

// meta answers GET /v1/meta?kind=K&namespace=NS&name=N with what the store
// knows of the object besides its content (controlplane.Meta).
func (s *Server) meta(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind, ok := Kind(q.Get("kind"))
	if !ok {
		writeError(w, http.StatusNotFound, "unknown kind "+q.Get("kind"))
		return
	}
	m, ok := s.Store.Meta(kind, q.Get("namespace"), q.Get("name"))
	if !ok {
		writeError(w, http.StatusNotFound, kind+" "+q.Get("namespace")+"/"+q.Get("name")+" not found")
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// proxyConfig answers GET /v1/proxy-config?node=ID&type=TYPE_URL.
func (s *Server) proxyConfig(w http.ResponseWriter, r *http.Request) {
	node, typ := r.URL.Query().Get("node"), r.URL.Query().Get("type")
	if s.ProxyConfig == nil {
		writeError(w, http.StatusNotFound, "this server has no xDS view")
		return
	}
	res, ver, ok := s.ProxyConfig(node, typ)
	if !ok {
		writeError(w, http.StatusNotFound, "no configuration of type "+typ+" is served to proxy "+node+"; lanemesh get proxies lists them")
		return
	}
	out := ProxyConfig{Node: node, TypeURL: typ, Version: ver, Resources: []json.RawMessage{}}
	for _, a := range res {
		b, err := protojson.Marshal(a)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "encoding "+typ+": "+err.Error())
			return
		}
		out.Resources = append(out.Resources, b)
	}
	writeJSON(w, http.StatusOK, out)
}

// events answers GET /v1/events, optionally for one object (kind,
// namespace, name).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out := []events.Event{}
	if s.Events != nil {
		kind, _ := Kind(q.Get("kind"))
		for _, e := range s.Events.List() {
			if (kind == "" || e.Kind == kind) && (q.Get("namespace") == "" || e.Namespace == q.Get("namespace")) &&
				(q.Get("name") == "" || e.Name == q.Get("name")) {
				out = append(out, e)
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// watch answers GET /v1/watch?since=GEN[&timeout=30s], a long poll: it
// returns the feed's generation as soon as it is past since (at once with
// since=0), or when the timeout ends, whichever comes first; the client
// then reads what it watches again and asks from the new generation.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	if s.Feed == nil {
		writeError(w, http.StatusNotFound, "this server has nothing to watch")
		return
	}
	since, err := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
	if err != nil && r.URL.Query().Get("since") != "" {
		writeError(w, http.StatusBadRequest, "since must be a generation (a number)")
		return
	}
	timeout := maxWatch
	if t := r.URL.Query().Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "timeout must be a duration such as 30s")
			return
		}
		timeout = min(d, maxWatch)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	writeJSON(w, http.StatusOK, Watched{Generation: s.Feed.Wait(ctx, since)})
}
