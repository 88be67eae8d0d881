// Package xds is the wire between lanemesh's control plane and its proxies:
// Envoy's xDS v3 API, state of the world, over gRPC. It holds both sides.
//
//   - Server is the control plane's side: go-control-plane's xDS server
//     over a snapshot cache of lanemesh's own (watchCache) in ADS mode,
//     served as the aggregated service and as separate CDS, LDS, RDS and
//     EDS services. The control plane builds a Snapshot per proxy identity
//     (meshxds.Resources.Snapshot, then NewSnapshot, which marshals it
//     once), sets it on each node of the identity and learns of nodes
//     through OnNode; the server records what each proxy ACKed and NACKed
//     (Proxies) and says when a node is in step with its snapshot
//     (Synced).
//   - Client is the proxy's side: one ADS stream, wildcard CDS and LDS, EDS
//     and RDS for the names those reference. It assembles complete
//     meshxds.Resources and hands them to the proxy's Apply, whose verdict
//     becomes the ACK or NACK.
//   - NodeFor, ProxyOf and IdentityKey put a proxy's meshxds.Proxy identity
//     in the xDS node metadata and read it back.
//   - Authenticator (Server.Auth) decides what identity a stream may be
//     served as, from the bearer token the Client presents (Client.Token):
//     Tokens for secrets the control plane issues itself, FirstOf to chain
//     one with another (Kubernetes mode's TokenReview).
//
// # Ordering (make-before-break)
//
// What each side relies on, so that traffic never meets a half-built
// configuration:
//
//   - The server answers an ADS stream from one queue, in the order the
//     cache fills it (go-control-plane's WithOrderedADS), and on SetSnapshot
//     the cache answers a node's open watches in type order CDS, EDS, LDS,
//     RDS. A proxy that has answered its previous responses therefore gets
//     a new cluster before the route that uses it. An EDS or RDS watch
//     whose names do not cover the new snapshot's is not answered (ADS
//     mode); the client asks again with the new names when the CDS or LDS
//     response arrives.
//   - The client applies only complete views: every route configuration a
//     listener names and the endpoints of every EDS cluster are present. So
//     whatever order responses arrive in, a listener never goes live
//     without its routes, nor a cluster without its endpoints.
//   - Not guaranteed by this package alone: removals, and a snapshot set
//     while the proxy has not yet answered the previous CDS response. The
//     cache sends CDS first when clusters go away too, so between the CDS
//     response that drops a cluster and the RDS response that stops using
//     it a route may name a missing cluster (503 NC) for one round trip;
//     and an RDS response may overtake a CDS response whose watch was not
//     yet open. The control plane closes both with make-before-break
//     phases (the union of old and new clusters first), giving each node
//     the next phase only once Synced says it accepted the one before.
//
// # Rejections
//
// A proxy that rejects a response NACKs it with the reason, keeps its last
// good configuration and drops the rejected response, as Envoy does. The
// server logs every NACK at Warn and records it; it does not resend the
// rejected version at once (go-control-plane would, in a loop), but sends a
// rejected type again with the node's next changed snapshot, so a proxy
// whose rejection was caused by another type converges once that is fixed.
package xds
