package xds

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/log"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/lanemesh/lanemesh/internal/compile"
)

// keepaliveMinTime is the shortest client ping interval the server
// tolerates. Clients ping every clientKeepaliveTime (longer), so that a
// proxy notices a control plane that vanished without closing the TCP
// connection; gRPC's default policy (5 minutes) would answer those pings
// with GOAWAY "too_many_pings".
const keepaliveMinTime = 10 * time.Second

// Server is the control plane's side of xDS: a go-control-plane snapshot
// cache in ADS mode behind a gRPC server that serves the aggregated service
// and the separate CDS, LDS, RDS and EDS services, all state-of-the-world.
// Delta xDS streams are refused.
//
// The control plane owns what is served: it calls SetSnapshot per node id;
// a node with no snapshot waits, connected, until it gets one. The server
// only records what proxies did with their snapshots (Proxies).
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
	OnNode func(id string, p compile.Proxy)

	logger  *slog.Logger
	cache   cachev3.SnapshotCache
	grpc    *grpc.Server
	tracker *tracker
	cancel  context.CancelFunc
}

// NewServer returns a server ready to Serve. A nil logger discards logs.
func NewServer(logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{logger: logger, cancel: cancel}
	s.tracker = newTracker(logger, func() func(string, compile.Proxy) { return s.OnNode })
	gcpLog := gcpLogger{logger}
	s.cache = cachev3.NewSnapshotCache(true, cachev3.IDHash{}, gcpLog)
	// WithOrderedADS makes every response of an ADS stream go through one
	// queue, in the order the cache produces them (see the package comment
	// on ordering); without it go-control-plane picks among ready types at
	// random.
	xs := serverv3.NewServer(ctx, s.cache, s.tracker, sotw.WithOrderedADS(), sotw.WithLogger(gcpLog))
	s.grpc = grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime: keepaliveMinTime, PermitWithoutStream: true}))
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
// watches for the types whose version changed. It refuses an inconsistent
// snapshot: in ADS mode the cache only answers an EDS or RDS request that
// names every resource of that type, so a snapshot whose endpoints or routes
// do not match its clusters and listeners would leave the proxy waiting.
//
// A type the node rejected is sent again with the next snapshot that
// changes anything else, even when its own version is unchanged; see
// retryRejected.
func (s *Server) SetSnapshot(ctx context.Context, nodeID string, snap *cachev3.Snapshot) error {
	if err := snap.Consistent(); err != nil {
		return fmt.Errorf("snapshot for node %q: %w", nodeID, err)
	}
	if err := s.cache.SetSnapshot(ctx, nodeID, s.retryRejected(nodeID, snap)); err != nil {
		return fmt.Errorf("snapshot for node %q: %w", nodeID, err)
	}
	return nil
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
func (s *Server) retryRejected(nodeID string, snap *cachev3.Snapshot) *cachev3.Snapshot {
	rejected := s.tracker.rejected(nodeID)
	if len(rejected) == 0 {
		return snap
	}
	prev, err := s.cache.GetSnapshot(nodeID)
	if err != nil || !changedBesides(prev, snap, rejected) {
		return snap
	}
	out := &cachev3.Snapshot{Resources: snap.Resources} // copies the array; items are shared, read-only
	for typ, v := range rejected {
		if i := cachev3.GetResponseType(typ); i != types.UnknownType && out.Resources[i].Version == v {
			out.Resources[i].Version = v + RetrySuffix
		}
	}
	return out
}

// changedBesides reports whether a type other than the skipped ones has a
// different version in next than in prev.
func changedBesides(prev cachev3.ResourceSnapshot, next *cachev3.Snapshot, skip map[string]string) bool {
	for i := range types.UnknownType {
		typ, err := cachev3.GetResponseTypeURL(i)
		if err != nil {
			continue
		}
		if _, ok := skip[typ]; !ok && prev.GetVersion(typ) != next.GetVersion(typ) {
			return true
		}
	}
	return false
}

// ClearSnapshot forgets the node's snapshot and, if it is not connected, its
// status. It is meant for nodes that are gone: go-control-plane also drops a
// connected node's open watches, so such a node receives nothing more until
// it reconnects.
func (s *Server) ClearSnapshot(nodeID string) {
	s.cache.ClearSnapshot(nodeID)
	s.tracker.forget(nodeID)
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
