// Package bootstrap assembles the control plane — the configuration store
// and what feeds it, the registry view of instances, the per-identity
// compiler, the xDS server and the admin API — once, for every mode:
// `lanemesh controlplane` serves it alone, `lanemesh up` adds a gateway and
// a local runner, and Kubernetes mode adds informers as sources. Modes
// differ only in the sources they plug in (Options.Paths, Server.Instances),
// never in how the parts are wired.
package bootstrap

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/lanemesh/lanemesh/internal/admin"
	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/controlplane"
	"github.com/lanemesh/lanemesh/internal/credentials"
	"github.com/lanemesh/lanemesh/internal/dashboard"
	"github.com/lanemesh/lanemesh/internal/events"
	"github.com/lanemesh/lanemesh/internal/guard"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

// Options configures a control plane. Zero values take the defaults in
// brackets.
type Options struct {
	// Paths are watched configuration files and directories; none when
	// another source (the admin API alone, Kubernetes) fills the store.
	Paths []string
	Load  config.Options // how the files are loaded
	XDS   string         // xDS (gRPC) listen address [127.0.0.1:15010]
	Admin string         // admin API listen address [127.0.0.1:15000]
	// TokenDir is where the admin API's token file is written (mode 0600),
	// for lanemesh's commands to find. Required.
	TokenDir string
	Logger   *slog.Logger
	// Workloads are the pods the admin API shows (get pods, logs); nil for
	// none.
	Workloads admin.Workloads
	// OnChange runs after every configuration change, with the
	// configuration now in force and its generation, once the control plane
	// has been told: a local runner converges its pods here. It may run
	// before Start returns (the files' first load).
	OnChange func(cfg *config.Config, gen uint64)
	// ReadOnly, when set, makes the admin API refuse changes with this
	// reason (Kubernetes mode: the cluster holds the configuration).
	ReadOnly string
	// ProbeInterval is how often WorkloadEntries are health-checked [1s].
	ProbeInterval time.Duration
	// Auth, if set, authenticates the proxies that present a token the
	// control plane did not issue itself (Kubernetes mode: service-account
	// tokens, by TokenReview). Without it only Server.Tokens are accepted.
	Auth xdsserver.Authenticator
	// Compile is how each proxy's resources are compiled; its Credentials
	// resolve credentialName [credentials.Dir(""): the working directory].
	Compile compile.Options
	// Metrics reads the proxies' metrics for the dashboard's live traffic
	// (`up`: its proxies' registries; Kubernetes mode: the pods' admin
	// ports); nil shows lanes and explanations without traffic.
	Metrics dashboard.Source
	// MetricsIdle is how often the dashboard reads while no page has
	// watched it for a minute [every second, as while watched].
	MetricsIdle time.Duration
}

// Server is a control plane that has bound its listeners.
type Server struct {
	Store        *controlplane.Store
	ControlPlane *controlplane.ControlPlane
	XDS          *xdsserver.Server
	// Instances is the registry view the control plane compiles from;
	// modes set their own sources on it ("pods", "endpointslices").
	// WorkloadEntries of the configuration are a source of their own.
	Instances *registry.View
	// Tokens are the xDS tokens this control plane issued: the operator's,
	// written to XDSTokenFile, which may claim any identity, and those a
	// mode adds for the proxies it starts itself (pinned to one identity).
	Tokens *xdsserver.Tokens
	// Dashboard gathers what the web view at /ui/ shows.
	Dashboard *dashboard.Collector
	// Feed grows with every change a watcher of the mesh sees: the
	// configuration, here, and the pods, which a mode's runner bumps.
	Feed *events.Feed
	// Events are what the mesh tells its user beside the configuration
	// (a watched file's edit that overrode an apply).
	Events *events.Log

	opts     Options
	entries  *registry.Entries
	xdsLn    net.Listener
	xdsToken string // the operator's token file
	adminLn  *admin.Listener
	api      *http.Server
}

// Start binds the xDS and admin listeners, loads the watched files (an
// error in them stops Start with every message) and returns a server ready
// to Run.
func Start(ctx context.Context, opts Options) (*Server, config.Diagnostics, error) {
	if opts.XDS == "" {
		opts.XDS = "127.0.0.1:15010"
	}
	if opts.Admin == "" {
		opts.Admin = "127.0.0.1:15000"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = time.Second
	}
	s := &Server{opts: opts, XDS: xdsserver.NewServer(opts.Logger.With("part", "xds")), Tokens: &xdsserver.Tokens{}, Feed: &events.Feed{}}
	s.Events = &events.Log{Feed: s.Feed}
	s.XDS.Auth = s.Tokens
	if opts.Auth != nil {
		s.XDS.Auth = xdsserver.FirstOf{s.Tokens, opts.Auth}
	}
	s.Store = controlplane.NewStore(s.configChanged)
	if opts.Compile.Credentials == nil {
		opts.Compile.Credentials = credentials.Dir("")
	}
	s.ControlPlane = controlplane.New(controlplane.Options{Store: s.Store, XDS: s.XDS, Logger: opts.Logger.With("part", "controlplane"), Compile: opts.Compile})
	s.Instances = registry.NewView(s.ControlPlane.SetInstances)
	s.entries = registry.NewEntries(s.Instances)

	var err error
	if s.xdsLn, err = net.Listen("tcp", opts.XDS); err != nil {
		return nil, nil, fmt.Errorf("xds listener: %w (is another lanemesh running? pass --xds)", err)
	}
	s.xdsToken = guard.XDSTokenPath(opts.TokenDir, s.xdsLn.Addr().String())
	operator, err := guard.WriteToken(s.xdsToken)
	if err != nil {
		s.xdsLn.Close()
		return nil, nil, err
	}
	s.Tokens.Add(operator, xdsserver.Grant{Who: "the operator (" + s.xdsToken + ")", Serve: xdsserver.AnyIdentity})
	if s.adminLn, err = admin.Listen(opts.Admin, opts.TokenDir); err != nil {
		s.closeXDS()
		return nil, nil, err
	}
	diags, err := controlplane.Watch(ctx, s.Store, controlplane.WatchOptions{Paths: opts.Paths, Interval: time.Second,
		Logger: opts.Logger.With("part", "files"), Load: opts.Load, OnConflict: s.conflict, OnReject: s.rejected})
	if err != nil {
		s.closeXDS()
		s.adminLn.Close()
		return nil, diags, err
	}
	s.Dashboard = &dashboard.Collector{Config: s.Store.Config, Instances: s.Instances.Instances, Proxies: s.XDS.Glance, Metrics: opts.Metrics, IdleInterval: opts.MetricsIdle}
	data := &dashboard.Data{Collector: s.Dashboard, Config: s.Store.Config, Instances: s.Instances.Instances}
	s.api = guard.Server((&admin.Server{Store: s.Store, Workloads: opts.Workloads, Listener: s.adminLn, ReadOnly: opts.ReadOnly,
		Proxies: func() any { return s.XDS.Proxies() }, UI: dashboard.UI(), Dashboard: data.Handler(),
		ProxyConfig: s.XDS.Served, Instances: s.Instances.Instances, Feed: s.Feed, Events: s.Events}).Handler(), 0)
	go s.XDS.Serve(s.xdsLn)
	return s, diags, nil
}

// conflict records a watched file's edit that overrode another change as
// a Warning event on the object (see controlplane.Conflict).
func (s *Server) conflict(c controlplane.Conflict) {
	s.Events.Add(events.Event{Type: "Warning", Reason: "FileOverrodeChange", Kind: c.Kind, Namespace: c.Namespace, Name: c.Name,
		Message: c.String()})
}

// rejected records a watched file's edit that was rejected as a Warning
// event per error, on the object it names (or the file, for one that does
// not parse): `lanemesh get events` then shows that the files on disk are
// not what runs.
func (s *Server) rejected(diags config.Diagnostics) {
	for _, d := range diags {
		kind, name := d.Kind, d.Name
		if kind == "" {
			kind, name = "File", d.File
		}
		s.Events.Add(events.Event{Type: "Warning", Reason: "FileRejected", Kind: kind, Namespace: d.Namespace, Name: name,
			Message: d.String() + " (the file's edit is not in force: the last good configuration runs)"})
	}
}

// configChanged is the Store's hook.
func (s *Server) configChanged() {
	defer s.Feed.Bump()
	s.ControlPlane.Changed()
	cfg, gen := s.Store.Config()
	s.entries.Configure(cfg)
	if s.opts.OnChange != nil {
		s.opts.OnChange(cfg, gen)
	}
}

// Run pushes configuration, serves the admin API and probes
// WorkloadEntries until ctx is done; it returns once the admin API has shut
// down. xDS keeps serving until Close, so that proxies still draining keep
// their configuration.
func (s *Server) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ControlPlane.Run(ctx)
	}()
	go s.entries.Run(ctx, s.opts.ProbeInterval, time.Second)
	go s.Dashboard.Run(ctx)
	go s.api.Serve(guard.Listener(s.adminLn))
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.api.Shutdown(shutdown)
	<-done
	return nil
}

// Close stops the xDS server and removes the admin and xDS tokens.
func (s *Server) Close() {
	s.XDS.Stop()
	os.Remove(s.xdsToken)
	s.adminLn.Close()
}

// closeXDS undoes what Start did for xDS before serving.
func (s *Server) closeXDS() {
	s.xdsLn.Close()
	os.Remove(s.xdsToken)
}

// XDSTokenFile is the file that holds the operator's xDS token.
func (s *Server) XDSTokenFile() string { return s.xdsToken }

// XDSAddr is the address xDS is served on.
func (s *Server) XDSAddr() string { return s.xdsLn.Addr().String() }

// AdminURL is the admin API's URL.
func (s *Server) AdminURL() string { return s.adminLn.URL() }

// TokenFile is the file that holds the admin API's token.
func (s *Server) TokenFile() string { return s.adminLn.TokenFile }
