// Package up runs a whole mesh on one machine — lanemesh's embedded
// default: the control plane, an ingress gateway, and a local runner that
// plays the part of a Kubernetes cluster for Deployments, with a sidecar
// beside every pod, all fed by the same YAML a cluster would get.
//
// Everything talks as it would across machines: proxies get their
// configuration from the control plane over xDS (gRPC on loopback), apps
// reach each other through their sidecars, and the kubectl-like commands
// reach the admin API over HTTP.
package up

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/lanemesh/lanemesh/internal/admin"
	"github.com/lanemesh/lanemesh/internal/bootstrap"
	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/controlplane"
	"github.com/lanemesh/lanemesh/internal/credentials"
	"github.com/lanemesh/lanemesh/internal/dashboard"
	"github.com/lanemesh/lanemesh/internal/guard"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/pathnorm"
	"github.com/lanemesh/lanemesh/internal/proxy"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/xds"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

// Options configures a mesh. Zero values take the defaults in brackets.
type Options struct {
	Paths []string // configuration files and directories, watched for changes
	// SkipUnsupportedKinds leaves out, with a warning, objects of kinds
	// lanemesh does not enforce instead of refusing the files [false].
	SkipUnsupportedKinds bool
	// PortMap maps Gateway server ports to the addresses the gateway binds,
	// so that no root is needed [80 → 127.0.0.1:8080, 443 → 127.0.0.1:8443].
	PortMap map[uint32]string
	Admin   string // the admin API [127.0.0.1:15000]
	// TokenDir is where the admin API's token file is written, mode 0600,
	// for the kubectl-like commands to find [guard.DefaultDir()].
	TokenDir string
	// ListenHost is the address gateway listeners bind when PortMap does
	// not name their port [127.0.0.1: nothing of a local mesh is reachable
	// from the network unless the user asks].
	ListenHost string
	// PathNormalization is how every proxy normalizes request paths before
	// routing (Istio's meshConfig pathNormalization) [BASE].
	PathNormalization pathnorm.Mode
	// GatewayAdmin is the gateway proxy's own admin listener: /ready,
	// /metrics, /config_dump, /clusters [127.0.0.1:15021]; "-" for none.
	GatewayAdmin string
	// Metrics is the address of the mesh's one Prometheus endpoint,
	// /metrics: Istio's standard metrics of every proxy (gateway and
	// sidecars), each series labelled with its proxy's namespace and pod
	// [127.0.0.1:15020]; "-" for none.
	Metrics   string
	XDS       string // the control plane's xDS address [127.0.0.1:15010]
	Logger    *slog.Logger
	AccessLog io.Writer // every proxy's access log; nil = off
	// Out receives the lines a user reads: the gateway URL and "ready".
	Out io.Writer
	// Progress, if set, receives a line whenever what the mesh waits for
	// before it is ready changes: pods ready N/M, proxies in step with
	// their configuration N/M. Keep it apart from Out (stderr), so that a
	// script reading Out sees only the lines above.
	Progress io.Writer
	// PodCIDR is the loopback range pods get their addresses from, such as
	// 127.0.5.0/24 [the first free /24 from 127.0.1.0/24 on]; either way the
	// range is locked while the mesh runs, so two meshes never share one.
	PodCIDR string
	// CredentialsDir holds the credentials Gateway servers and
	// DestinationRules name with credentialName: NAME/tls.crt, NAME/tls.key
	// and NAME/ca.crt [the working directory].
	CredentialsDir string
	// Mesh are the mesh-wide compilation settings (HTTP/1.0, outbound
	// traffic policy); the credentials are CredentialsDir's.
	Mesh compile.Options
	// DrainDelay is how long a pod leaving keeps serving after the mesh
	// was told [1s]: long enough for every proxy to stop choosing it.
	DrainDelay time.Duration
	// Tracing, when set, has the gateway and every sidecar export spans
	// (see proxy.Tracing); each proxy's copy names its own node [off].
	Tracing *proxy.Tracing
}

// tracingFor is the proxy with node id node's copy of Tracing, nil when
// tracing is off.
func (o *Options) tracingFor(node string) *proxy.Tracing {
	if o.Tracing == nil {
		return nil
	}
	t := *o.Tracing
	t.NodeID = node
	return &t
}

func (o *Options) defaults() {
	if o.PortMap == nil {
		o.PortMap = map[uint32]string{80: "127.0.0.1:8080", 443: "127.0.0.1:8443"}
	}
	if o.Admin == "" {
		o.Admin = "127.0.0.1:15000"
	}
	if o.ListenHost == "" {
		o.ListenHost = "127.0.0.1"
	}
	if o.XDS == "" {
		o.XDS = "127.0.0.1:15010"
	}
	switch o.GatewayAdmin {
	case "":
		o.GatewayAdmin = "127.0.0.1:15021"
	case "-":
		o.GatewayAdmin = ""
	}
	switch o.Metrics {
	case "":
		o.Metrics = "127.0.0.1:15020"
	case "-":
		o.Metrics = ""
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.DrainDelay == 0 {
		o.DrainDelay = time.Second
	}
}

// Mesh is a running mesh.
type Mesh struct {
	opts    Options
	log     *slog.Logger
	cp      *bootstrap.Server
	runner  *local.Runner
	podNet  *local.PodRange
	gateway *proxy.Proxy
	scrape  *scrape
	// metrics serves scrape; nil when Options.Metrics is off.
	metrics     *http.Server
	metricsAddr net.Addr

	mu       sync.Mutex
	sidecars map[string]*sidecar // by pod namespace/name
	// proxyLogs are the sidecars' logs by pod namespace/name. A pod's
	// entry is dropped when the pod is gone (podsChanged).
	proxyLogs map[string]*local.LogBuffer
	// gathered are every running proxy's registry, by xDS node id, which
	// the dashboard reads in process.
	gathered  map[string]dashboard.Gathered
	draining  sync.WaitGroup // sidecars still finishing requests
	deployGen uint64
	cfg       *config.Config // the configuration the pods were last converged to
}

// Start builds the mesh, loads the configuration (an error in it stops
// Start with every message) and starts every part; it returns once all
// listeners are bound. Run then serves until its context is done.
func Start(ctx context.Context, opts Options) (*Mesh, config.Diagnostics, error) {
	opts.defaults()
	if opts.TokenDir == "" {
		dir, err := guard.DefaultDir()
		if err != nil {
			return nil, nil, err
		}
		opts.TokenDir = dir
	}
	pods, err := preflight(opts)
	if err != nil {
		return nil, nil, err
	}
	started := false
	defer func() {
		if !started {
			pods.Close()
		}
	}()
	m := &Mesh{opts: opts, log: opts.Logger, sidecars: map[string]*sidecar{}, podNet: pods, scrape: newScrape(),
		gathered: map[string]dashboard.Gathered{}, proxyLogs: map[string]*local.LogBuffer{}}
	if opts.Metrics != "" {
		if m.metrics, m.metricsAddr, err = m.scrape.serve(opts.Metrics); err != nil {
			return nil, nil, err
		}
		defer func() {
			if !started {
				m.metrics.Close()
			}
		}()
	}
	m.runner = local.New(local.Options{Logger: m.log.With("part", "runner"), Sidecar: m.startSidecar,
		OnChange: m.podsChanged, DrainDelay: opts.DrainDelay, PodRange: pods, InboundCapture: m.inboundCapture})
	mesh := opts.Mesh
	mesh.Credentials = credentials.Dir(opts.CredentialsDir)
	cp, diags, err := bootstrap.Start(ctx, bootstrap.Options{Paths: opts.Paths,
		Load: config.Options{SkipUnsupportedKinds: opts.SkipUnsupportedKinds}, XDS: opts.XDS, Admin: opts.Admin,
		TokenDir: opts.TokenDir, Logger: m.log, Workloads: workloads{m}, OnChange: m.configChanged,
		Compile: mesh, Metrics: dashboard.Gatherers(m.gatherers)})
	if err != nil {
		return nil, diags, err
	}
	m.cp = cp
	if m.gateway, err = m.startGateway(ctx); err != nil {
		cp.Close()
		return nil, diags, err
	}
	started = true
	return m, diags, nil
}

// Run serves until ctx is done, then stops everything: pods (and their
// sidecars), the gateway, the control plane.
func (m *Mesh) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { m.cp.Run(ctx) })
	wg.Go(func() { m.runner.Run(ctx) })
	go m.announce(ctx)
	<-ctx.Done()
	wg.Wait()
	m.draining.Wait()
	m.cp.Close()
	if m.metrics != nil {
		m.metrics.Close()
	}
	m.podNet.Close() // every pod has stopped
	return nil
}

// GatewayURL is the URL of the gateway's first HTTP port.
func (m *Mesh) GatewayURL() string {
	ports := make([]uint32, 0, len(m.opts.PortMap))
	for p := range m.opts.PortMap {
		ports = append(ports, p)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	for _, p := range ports {
		if a := m.gateway.Addr(p); a != nil {
			return "http://" + a.String()
		}
	}
	return ""
}

// AdminURL is the admin API's URL.
func (m *Mesh) AdminURL() string { return m.cp.AdminURL() }

// MetricsURL is the URL of the mesh's Prometheus endpoint, "" when it is
// off.
func (m *Mesh) MetricsURL() string {
	if m.metricsAddr == nil {
		return ""
	}
	return "http://" + m.metricsAddr.String() + "/metrics"
}

// TokenFile is the file that holds the admin API's token.
func (m *Mesh) TokenFile() string { return m.cp.TokenFile() }

// Store is the configuration in force.
func (m *Mesh) Store() *controlplane.Store { return m.cp.Store }

// ControlPlane is the mesh's control plane.
func (m *Mesh) ControlPlane() *controlplane.ControlPlane { return m.cp.ControlPlane }

// Runner is the local runner.
func (m *Mesh) Runner() *local.Runner { return m.runner }

// announce prints the gateway URL and one ready line once the gateway has
// its configuration and every pod is ready; until then it reports progress.
func (m *Mesh) announce(ctx context.Context) {
	last := ""
	for ctx.Err() == nil {
		if m.gateway.Ready() && m.allPodsReady() {
			gwAdmin := "off"
			if a := m.gateway.AdminAddr(); a != nil {
				gwAdmin = "http://" + a.String() + " (/ready /metrics /config_dump /clusters)"
			}
			metrics := "off"
			if u := m.MetricsURL(); u != "" {
				metrics = u + " (Istio's standard metrics of every proxy, labelled namespace and pod)"
			}
			fmt.Fprintf(m.opts.Out, "gateway: %s\nadmin:   %s (token in %s)\ngateway admin: %s\nmetrics: %s\nready: %d pods, control plane at %s\n",
				m.GatewayURL(), m.AdminURL(), m.TokenFile(), gwAdmin, metrics, len(m.runner.Pods()), m.cp.XDSAddr())
			return
		}
		if m.opts.Progress != nil {
			if p := m.progress(); p != last {
				fmt.Fprintln(m.opts.Progress, p)
				last = p
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// progress says what the mesh is waiting for: "waiting: pods ready 3/9,
// proxies in step 4/10".
func (m *Mesh) progress() string {
	ready, want := m.podCounts()
	inStep := 0
	for _, p := range m.cp.XDS.Proxies() {
		if p.Connected && proxyInStep(p) {
			inStep++
		}
	}
	return fmt.Sprintf("waiting: pods ready %d/%d, proxies in step %d/%d", ready, want, inStep, want+1) // +1: the gateway
}

// proxyInStep reports whether a proxy has ACKed everything it was sent and
// is due, for every type (proxy-status's SYNCED or NOT SENT).
func proxyInStep(p xdsserver.ProxyStatus) bool {
	if len(p.Sync) == 0 {
		return false
	}
	for _, s := range p.Sync {
		if s == xdsserver.Stale {
			return false
		}
	}
	return true
}

func (m *Mesh) allPodsReady() bool {
	ready, want := m.podCounts()
	return ready >= want
}

// podCounts returns the pods ready and the replicas the Deployments want.
func (m *Mesh) podCounts() (ready, want int) {
	cfg, _ := m.cp.Store.Config()
	for _, d := range cfg.Deployments {
		want += int(d.Spec.ReplicaCount())
	}
	for _, p := range m.runner.Pods() {
		if p.Phase == local.Ready {
			ready++
		}
	}
	return ready, want
}

// configChanged is the control plane's hook: converge pods.
func (m *Mesh) configChanged(cfg *config.Config, gen uint64) {
	m.mu.Lock()
	stale := gen < m.deployGen
	m.deployGen = gen
	if !stale {
		m.cfg = cfg
	}
	m.mu.Unlock()
	if stale {
		return
	}
	if err := m.runner.Apply(cfg.Deployments); err != nil {
		m.log.Error("cannot run deployments", "err", err)
	}
}

// podsChanged is the runner's hook. It forgets the sidecar logs of pods
// that are gone and tells whoever watches the mesh.
func (m *Mesh) podsChanged(pods []registry.Instance) {
	m.cp.Instances.Set("pods", pods)
	m.forgetLogs(pods)
	m.cp.Feed.Bump()
}

// forgetLogs drops the sidecar logs of pods the runner no longer has.
func (m *Mesh) forgetLogs(pods []registry.Instance) {
	live := map[string]bool{}
	for _, p := range pods {
		live[p.Namespace+"/"+p.Name] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for key := range m.proxyLogs {
		if !live[key] {
			delete(m.proxyLogs, key)
		}
	}
}

// gatherers are the running proxies' registries, for the dashboard.
func (m *Mesh) gatherers() map[string]dashboard.Gathered {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.gathered)
}

// track makes a proxy's registry readable by the dashboard until ctx is
// done.
func (m *Mesh) track(ctx context.Context, id string, g dashboard.Gathered) {
	m.mu.Lock()
	m.gathered[id] = g
	m.mu.Unlock()
	context.AfterFunc(ctx, func() {
		m.mu.Lock()
		if m.gathered[id] == g {
			delete(m.gathered, id)
		}
		m.mu.Unlock()
	})
}

// startGateway starts the ingress gateway proxy and its xDS client.
func (m *Mesh) startGateway(ctx context.Context) (*proxy.Proxy, error) {
	id := meshxds.Proxy{Role: meshxds.Gateway, Namespace: "istio-system", Labels: config.GatewayLabels}
	reg, _ := m.scrape.add("istio-system", "ingressgateway")
	p, err := proxy.New(proxy.Options{Role: meshxds.Gateway, PortMap: m.opts.PortMap, ListenHost: m.opts.ListenHost,
		PathNormalization: m.opts.PathNormalization, AdminAddr: m.opts.GatewayAdmin, AccessLog: m.opts.AccessLog, Registry: reg,
		Logger: m.log.With("part", "gateway"), Source: proxy.SourceInfo{Namespace: "istio-system", Name: "ingressgateway", Labels: config.GatewayLabels},
		Tracing: m.opts.tracingFor("gateway~istio-system/ingressgateway")})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	m.connect(ctx, p, "gateway~istio-system/ingressgateway", id, p.Apply)
	m.track(ctx, "gateway~istio-system/ingressgateway", dashboard.Gathered{Name: "ingressgateway", Gatherer: reg})
	return p, nil
}

// connect runs a proxy and its xDS client, which hands every update to
// apply, until ctx is done. The channel it returns receives the proxy's
// Run result once the proxy has stopped.
func (m *Mesh) connect(ctx context.Context, p *proxy.Proxy, id string, identity meshxds.Proxy, apply func(*meshxds.Resources) error) <-chan error {
	// Each proxy up starts gets a token of its own, pinned to its
	// identity, so that no other process can be served as it.
	token := rand.Text()
	m.cp.Tokens.Add(token, xdsserver.Grant{Who: id, Serve: xdsserver.Only(identity)})
	context.AfterFunc(ctx, func() { m.cp.Tokens.Remove(token) })
	c := &xds.Client{Target: m.cp.XDSAddr(), Node: meshxds.NodeFor(id, identity), Apply: apply, Logger: m.log.With("node", id),
		MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Token: xds.StaticToken(token)}
	go c.Run(ctx)
	done := make(chan error, 1)
	go func() {
		err := p.Run(ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			m.log.Error("proxy stopped", "node", id, "err", err)
		}
		done <- err
	}()
	return done
}

// workloads adapts the runner and the sidecars' logs to the admin API.
type workloads struct{ m *Mesh }

var _ admin.LogStreams = workloads{}

func (w workloads) Pods() []admin.Pod {
	var out []admin.Pod
	for _, p := range w.m.runner.Pods() {
		out = append(out, admin.Pod{Name: p.Name, Namespace: p.Namespace, Owner: p.Owner, IP: p.IP,
			Phase: string(p.Phase), Ready: p.Phase == local.Ready, Restarts: p.Restarts, Labels: p.Labels,
			Created: p.Created, Message: p.Message, LastExit: p.LastExit})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

func (w workloads) Logs(ns, pod string) ([]byte, error) { return w.m.runner.Logs(ns, pod) }

// LogsFrom serves the app's log (container "" or "app") and the sidecar's
// ("sidecar", "istio-proxy").
func (w workloads) LogsFrom(ns, pod, container string, offset int64) ([]byte, int64, error) {
	switch container {
	case "", "app":
		return w.m.runner.LogsFrom(ns, pod, offset)
	case "sidecar", "istio-proxy":
		w.m.mu.Lock()
		b := w.m.proxyLogs[ns+"/"+pod]
		w.m.mu.Unlock()
		if b == nil {
			return nil, 0, fmt.Errorf("pod %s/%s has no sidecar log: %w", ns, pod, local.ErrNotFound)
		}
		out, end := b.From(offset)
		return out, end, nil
	}
	return nil, 0, fmt.Errorf("pod %s/%s has no container %q: use app or sidecar: %w", ns, pod, container, local.ErrNotFound)
}
