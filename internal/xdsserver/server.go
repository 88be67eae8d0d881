package xdsserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/log"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/types/known/anypb"
)

// keepaliveMinTime is the shortest client ping interval the server
// tolerates. Clients ping every clientKeepaliveTime (longer), so that a
// proxy notices a control plane that vanished without closing the TCP
// connection; gRPC's default policy (5 minutes) would answer those pings
// with GOAWAY "too_many_pings".
const keepaliveMinTime = 10 * time.Second

// Server is the control plane's side of xDS: a snapshot cache in ADS mode
// behind a gRPC server that serves the aggregated service and the separate
// CDS, LDS, RDS and EDS services, all state-of-the-world. Delta xDS streams
// are refused.
//
// The control plane owns what is served: it calls SetSnapshot per node id;
// a node with no snapshot waits, connected, until it gets one. The server
// only records what proxies did with their snapshots (Proxies, Synced).
//
// Create it with NewServer; the zero value is not usable. All methods are
// safe for concurrent use.
type Server struct {
	// OnNode, if set, is called each time a node opens a stream, with its
	// id and identity, so that the control plane can compile for it. It
	// must be set before Serve and not changed afterwards. It runs on the
	// stream's goroutine before the node's first request is looked up in
	// the cache: calling SetSnapshot from it makes the first response carry
	// the node's configuration. It should not block for long.
	OnNode func(id string, p meshxds.Proxy)
	// Auth, if set, authenticates every stream and decides which identity
	// each node is served as (see Authenticator); OnNode then sees the
	// served identity, not the claimed one. Unary fetches are refused.
	// Nil serves whatever a node claims. Set it before Serve.
	Auth Authenticator
	// OnForget, if set, is called when a node is forgotten (see
	// ForgetAfter), so that the control plane can forget it too; the node
	// may have connected again since, which Status tells. Set it before
	// Serve.
	OnForget func(id string)
	// ForgetAfter is how long a node that lost its last stream keeps its
	// record (Proxies lists it as disconnected) and its snapshot (it is
	// answered at once if it comes back); then both are dropped, so that a
	// control plane serving proxies that come and go holds only the ones
	// still there. Zero means one minute. Set it before Serve.
	ForgetAfter time.Duration

	logger  *slog.Logger
	cache   *watchCache
	grpc    *grpc.Server
	tracker *tracker
	cancel  context.CancelFunc
	// setMu makes each SetSnapshot one step for the cache and the tracker,
	// so that they agree on which snapshot a node has.
	setMu sync.Mutex
}

// NewServer returns a server ready to Serve. A nil logger discards logs.
func NewServer(logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{logger: logger, cancel: cancel, cache: newWatchCache()}
	s.tracker = newTracker(logger, func() func(string, meshxds.Proxy) { return s.OnNode }, func() Authenticator { return s.Auth })
	s.tracker.onGone = func(id string, gone uint64) {
		after := s.ForgetAfter
		if after <= 0 {
			after = time.Minute
		}
		time.AfterFunc(after, func() { s.forgetGone(id, gone) })
	}
	gcpLog := gcpLogger{logger}
	// WithOrderedADS makes every response of an ADS stream go through one
	// queue, in the order the cache produces them (see the package comment
	// on ordering); without it go-control-plane picks among ready types at
	// random.
	xs := serverv3.NewServer(ctx, s.cache, s.tracker, sotw.WithOrderedADS(), sotw.WithLogger(gcpLog))
	s.grpc = grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime: keepaliveMinTime, PermitWithoutStream: true}),
		grpc.StaticStreamWindowSize(meshxds.FlowWindow), grpc.StaticConnWindowSize(meshxds.FlowWindow))
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(s.grpc, xs)
	clusterservice.RegisterClusterDiscoveryServiceServer(s.grpc, xs)
	listenerservice.RegisterListenerDiscoveryServiceServer(s.grpc, xs)
	routeservice.RegisterRouteDiscoveryServiceServer(s.grpc, xs)
	endpointservice.RegisterEndpointDiscoveryServiceServer(s.grpc, xs)
	return s
}

// Serve accepts xDS connections on lis until Stop; it returns nil after
// Stop and an error if lis fails.
func (s *Server) Serve(lis net.Listener) error {
	return s.grpc.Serve(lis)
}

// Stop ends every stream, closes the listeners and returns when the
// handlers have finished. Proxies keep their last good configuration and
// reconnect with back-off.
func (s *Server) Stop() {
	s.cancel() // go-control-plane's stream loops watch this context
	s.grpc.Stop()
}

// SetSnapshot publishes snap to the node with this id and answers its open
// watches for the types whose version changed. It does not block: the
// responses are queued on the node's streams. Give every node of an
// identity the same Snapshot, so that its resources are marshaled once.
//
// A type the node rejected is sent again with the next snapshot that
// changes anything else, even when its own version is unchanged; see
// retryRejected.
func (s *Server) SetSnapshot(nodeID string, snap *Snapshot) {
	s.setMu.Lock()
	defer s.setMu.Unlock()
	snap = s.retryRejected(nodeID, snap)
	s.tracker.serve(nodeID, snap)
	s.cache.set(nodeID, snap)
}

// Synced returns a channel that is closed once the node is in step with
// its snapshot: it has ACKed, at the version it was sent, every type of it
// that has resources. It is closed at once, or as soon as that happens,
// for a node without an open stream: there is nobody to wait for. A node
// given a new snapshot is in step only with the new one, so a channel
// taken before a SetSnapshot may close only after the node accepted the
// later snapshot.
//
// A node that rejects its snapshot is not in step until it gets one it
// accepts, so wait on Synced with a deadline.
func (s *Server) Synced(nodeID string) <-chan struct{} {
	return s.tracker.synced(nodeID)
}

// RetrySuffix is appended to the version of a rejected type that
// SetSnapshot sends again unchanged; strip it to compare a node's ACKed
// versions with a snapshot's.
const RetrySuffix = "+retry"

// retryRejected returns snap, or a copy in which each type the node has
// NACKed at its current version gets a new version, if anything else
// changed since the node's previous snapshot.
//
// Why: a NACK is not answered at once (see tracker.OnStreamRequest), and a
// proxy drops what it rejects, as Envoy does. Blame is often elsewhere,
// though: endpoints rejected together with new clusters are fine once the
// clusters are fixed, but their content, and so their version, would not
// change, and the proxy would wait for them forever. Sending them once more
// with each change lets the proxy converge, at the cost of one repeated
// NACK per change while the real fault remains, which is what Istio does.
func (s *Server) retryRejected(nodeID string, snap *Snapshot) *Snapshot {
	rejected, any := s.tracker.rejected(nodeID)
	if !any {
		return snap
	}
	prev := s.cache.get(nodeID)
	if prev == nil || !changedBesides(prev, snap, &rejected) {
		return snap
	}
	retry := map[kind]string{}
	for k, v := range rejected {
		if v != "" && snap.version(kind(k)) == v {
			retry[kind(k)] = v + RetrySuffix
		}
	}
	return snap.withVersions(retry)
}

// changedBesides reports whether a type other than the skipped ones (those
// with a version in skip) has a different version in next than in prev.
func changedBesides(prev, next *Snapshot, skip *[numKinds]string) bool {
	for k := range numKinds {
		if skip[k] == "" && prev.version(k) != next.version(k) {
			return true
		}
	}
	return false
}

// ClearSnapshot forgets the node's snapshot and, if it is not connected, its
// status. It is meant for nodes that are gone: the cache also drops a
// connected node's open watches, so such a node receives nothing more until
// it reconnects, and is not waited for (Synced).
func (s *Server) ClearSnapshot(nodeID string) {
	s.cache.clear(nodeID)
	s.tracker.forget(nodeID)
}

// forgetGone drops a node that has stayed disconnected since its
// disconnection number gone: its record, then its snapshot. setMu keeps a
// node that reconnects meanwhile from having its new snapshot cleared.
func (s *Server) forgetGone(id string, gone uint64) {
	s.setMu.Lock()
	forgot := s.tracker.forgetGone(id, gone)
	if forgot {
		s.cache.clear(id)
	}
	s.setMu.Unlock()
	if forgot {
		s.logger.Info("xds: forgot disconnected proxy", "node", id)
		if s.OnForget != nil {
			s.OnForget(id)
		}
	}
}

// Reidentify serves each connected node the identity its credentials
// allow now, where that changed since it connected (a Kubernetes pod
// relabelled), and tells OnNode of each, as of a node that connects.
func (s *Server) Reidentify() {
	changed := s.tracker.reidentify()
	if onNode := s.OnNode; onNode != nil {
		for id, p := range changed {
			onNode(id, p)
		}
	}
}

// Status returns one node's status, and whether the node is known.
func (s *Server) Status(nodeID string) (ProxyStatus, bool) {
	return s.tracker.status(nodeID)
}

// Changes returns a channel that is closed at the next change of any
// node's status (an ACK, a NACK, a disconnection). Take a new one after
// each wake-up.
func (s *Server) Changes() <-chan struct{} {
	return s.tracker.changes()
}

// Proxies returns the status of every node that has connected, sorted by
// node id.
func (s *Server) Proxies() []ProxyStatus {
	return s.tracker.proxies()
}

// Glance is what a summary of the fleet needs, without every node's
// status: Proxies builds maps for each node, which a page polling it every
// second pays for a thousand proxies at a time.
type Glance struct {
	Connected int         // nodes with an open stream
	NACKs     []ProxyNACK // each node's last NACK (ProxyStatus.LastNACK), by node id
}

// ProxyNACK is one node's last NACK.
type ProxyNACK struct {
	ID string
	NACK
}

// Glance returns how many nodes are connected and the last NACK of each
// node that has one.
func (s *Server) Glance() Glance {
	return s.tracker.glance()
}

// Connected reports, for every node the server knows, whether it has an
// open stream now.
func (s *Server) Connected() map[string]bool {
	return s.tracker.connected()
}

var _ log.Logger = gcpLogger{}

// gcpLogger adapts slog to go-control-plane's logger. go-control-plane logs
// normal protocol steps at Info and Warn ("not responding to request" each
// time a client has yet to name new resources, stale nonces), so everything
// below Error goes to Debug; lanemesh's own warnings (NACKs) are logged by
// the tracker.
type gcpLogger struct{ l *slog.Logger }

func (g gcpLogger) Debugf(format string, args ...any) { g.log(slog.LevelDebug, format, args) }
func (g gcpLogger) Infof(format string, args ...any)  { g.log(slog.LevelDebug, format, args) }
func (g gcpLogger) Warnf(format string, args ...any)  { g.log(slog.LevelDebug, format, args) }
func (g gcpLogger) Errorf(format string, args ...any) { g.log(slog.LevelError, format, args) }

func (g gcpLogger) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !g.l.Enabled(ctx, level) {
		return // do not format what nobody reads
	}
	g.l.Log(ctx, level, fmt.Sprintf(format, args...), "component", "go-control-plane")
}

// Served returns the resources of one type (a type URL) of the snapshot the
// node is served, as they go on the wire, and its version; ok is false for
// a node without a snapshot or a type lanemesh does not serve. It is what
// `lanemesh proxy-config` shows: the control plane's view of the proxy.
func (s *Server) Served(nodeID, typeURL string) (resources []*anypb.Any, version string, ok bool) {
	k, known := kindOf(typeURL)
	snap := s.cache.get(nodeID)
	if !known || snap == nil {
		return nil, "", false
	}
	t := snap.types[k]
	return slices.Clone(t.resources), t.version, true
}
