package controlplane

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

// Options configures a ControlPlane. Zero durations take the defaults.
type Options struct {
	Store  *Store
	XDS    *xdsserver.Server
	Logger *slog.Logger
	// Debounce is how long the control plane waits for a burst of changes
	// to end before it pushes (default 10 ms); MaxDelay bounds that wait
	// (default 100 ms).
	Debounce, MaxDelay time.Duration
	// AckTimeout bounds how long a proxy is waited for to accept each
	// make-before-break phase (default 2 s); a proxy that does not accept
	// it in time gets the next phase anyway.
	AckTimeout time.Duration
	// Compile is how each proxy's resources are compiled: the credentials
	// that credentialName resolves to (nil: none), HTTP/1.0.
	Compile compile.Options
}

// ControlPlane compiles a snapshot per proxy identity from the Store's
// configuration and the registry's instances, and pushes it over xDS.
//
// Proxies with equal identities share one compilation, so a thousand
// sidecars with a few label sets cost a few compilations. Changes are
// debounced; pushes are make-before-break (see push).
type ControlPlane struct {
	opts Options
	log  *slog.Logger
	kick chan struct{}

	mu        sync.Mutex
	instances []registry.Instance
	nodes     map[string]node // by node id
	// served is what each identity's nodes were last given; a node that
	// connects gets it at once.
	served map[string]*served
	// pushes counts completed pushes, for tests and status.
	pushes uint64
	// converged is the newest configuration generation that every
	// connected proxy has accepted.
	converged uint64
}

// node is a connected node's identity and its IdentityKey, worked out once
// when it connects rather than on every push: a push groups every node by
// key.
type node struct {
	proxy meshxds.Proxy
	key   string
}

// served is the resources last pushed to one identity, and the snapshot
// its nodes share.
type served struct {
	res  *meshxds.Resources
	snap *xdsserver.Snapshot
}

// serve makes res ready to serve.
func serve(res *meshxds.Resources) (*served, error) {
	snap, err := compile.Snapshot(res)
	if err != nil {
		return nil, err
	}
	xsnap, err := xdsserver.NewSnapshot(snap)
	if err != nil {
		return nil, err
	}
	return &served{res: res, snap: xsnap}, nil
}

// New wires a control plane to its store and xDS server. It sets
// opts.XDS.OnNode and OnForget, so call it before the server serves.
func New(opts Options) *ControlPlane {
	if opts.Debounce == 0 {
		opts.Debounce = 10 * time.Millisecond
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = 100 * time.Millisecond
	}
	if opts.AckTimeout == 0 {
		opts.AckTimeout = 2 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cp := &ControlPlane{opts: opts, log: log, kick: make(chan struct{}, 1),
		nodes: map[string]node{}, served: map[string]*served{}}
	opts.XDS.OnNode = cp.nodeConnected
	opts.XDS.OnForget = cp.nodeForgotten
	return cp
}

// Changed tells the control plane that the configuration changed; the
// Store's onChange hook calls it.
func (cp *ControlPlane) Changed() {
	select {
	case cp.kick <- struct{}{}:
	default:
	}
}

// SetInstances replaces the registry's view of running instances; the
// local runner calls it on every readiness change.
func (cp *ControlPlane) SetInstances(in []registry.Instance) {
	cp.mu.Lock()
	cp.instances = in
	cp.mu.Unlock()
	// A pod's labels may have changed: a node whose credentials now serve
	// another identity is served it at once (nodeConnected).
	cp.opts.XDS.Reidentify()
	cp.Changed()
}

// Pushes returns how many pushes have completed.
func (cp *ControlPlane) Pushes() uint64 {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.pushes
}

// Converged returns the newest Store generation that every connected proxy
// has accepted: a change made at generation g is in force everywhere once
// Converged() >= g.
func (cp *ControlPlane) Converged() uint64 {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.converged
}

// nodeConnected serves a new node at once: from the identity's last push,
// or by compiling for it.
func (cp *ControlPlane) nodeConnected(id string, p meshxds.Proxy) {
	key := meshxds.IdentityKey(p)
	cp.mu.Lock()
	old, had := cp.nodes[id]
	cp.nodes[id] = node{proxy: p, key: key}
	if had && old.key != key { // reidentified: its old identity may have no node left
		cp.dropUnused(old.key)
	}
	s := cp.served[key]
	cp.mu.Unlock()
	if s == nil {
		var err error
		if s, err = cp.compile(p); err != nil {
			cp.log.Error("cannot compile for a new proxy", "node", id, "err", err)
			return
		}
		cp.mu.Lock()
		cp.served[key] = s
		cp.mu.Unlock()
	}
	cp.opts.XDS.SetSnapshot(id, s.snap)
}

// nodeForgotten drops a node that the xDS server forgot after it left,
// unless it is back (the server registers a node before nodeConnected
// runs, and cp.mu orders the two), and its identity's compiled snapshot if
// no other node has that identity.
func (cp *ControlPlane) nodeForgotten(id string) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	n, ok := cp.nodes[id]
	if _, back := cp.opts.XDS.Status(id); !ok || back {
		return
	}
	delete(cp.nodes, id)
	cp.dropUnused(n.key)
}

// dropUnused drops what identity key was last served, when no node has
// it any more. cp.mu is held.
func (cp *ControlPlane) dropUnused(key string) {
	for _, other := range cp.nodes {
		if other.key == key {
			return
		}
	}
	delete(cp.served, key) // what the last node of an identity was served
}

func (cp *ControlPlane) compile(p meshxds.Proxy) (*served, error) {
	s, _, err := cp.compileAt(p)
	return s, err
}

// compileAt compiles for p and says which Store generation it compiled.
func (cp *ControlPlane) compileAt(p meshxds.Proxy) (*served, uint64, error) {
	cfg, gen := cp.opts.Store.Config()
	cp.mu.Lock()
	in := cp.instances
	cp.mu.Unlock()
	s, err := serve(compile.CompileWith(cfg, in, p, cp.opts.Compile))
	return s, gen, err
}

// Run pushes changes until ctx is done.
func (cp *ControlPlane) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-cp.kick:
		}
		if !cp.debounce(ctx) {
			return nil
		}
		cp.push(ctx)
	}
}

// debounce waits until no change came for Debounce, or MaxDelay passed.
func (cp *ControlPlane) debounce(ctx context.Context) bool {
	deadline := time.NewTimer(cp.opts.MaxDelay)
	defer deadline.Stop()
	for {
		quiet := time.NewTimer(cp.opts.Debounce)
		select {
		case <-ctx.Done():
			quiet.Stop()
			return false
		case <-cp.kick:
			quiet.Stop()
		case <-quiet.C:
			return true
		case <-deadline.C:
			quiet.Stop()
			return true
		}
	}
}
