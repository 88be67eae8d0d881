// Package xds is the proxy's side of the wire between lanemesh's control
// plane and its proxies: Envoy's xDS v3 API, state of the world, over gRPC.
// The control plane's side is internal/xdsserver; what both sides share
// (the resource set, the proxy identity in the node metadata, the kinds
// and their order) is internal/meshxds. This package links neither the
// server nor go-control-plane's cache, so a proxy carries only its client.
//
//   - Client is one ADS stream, wildcard CDS and LDS, EDS and RDS for the
//     names those reference. It assembles complete meshxds.Resources and
//     hands them to the proxy's Apply, whose verdict becomes the ACK or
//     NACK. It announces itself with meshxds.NodeFor.
//   - TokenSource (Client.Token) is the bearer token the client presents on
//     each stream, which the server's Authenticator checks: StaticToken,
//     or TokenFile, re-read on every reconnect.
//
// # Ordering (make-before-break)
//
// What each side relies on, so that traffic never meets a half-built
// configuration:
//
//   - The server (internal/xdsserver) answers an ADS stream from one queue, in the order the
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
