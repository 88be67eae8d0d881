// Package xdsserver is the control plane's side of the wire between
// lanemesh's control plane and its proxies: go-control-plane's xDS server
// over a snapshot cache of lanemesh's own (watchCache) in ADS mode, served
// as the aggregated service and as separate CDS, LDS, RDS and EDS services.
// The proxy's side is internal/xds, whose package comment states the
// ordering both rely on; what both share is internal/meshxds.
//
//   - Server: the control plane builds a Snapshot per proxy identity
//     (compile.Snapshot, then NewSnapshot, which marshals it once), sets it
//     on each node of the identity and learns of nodes through OnNode; the
//     server records what each proxy ACKed and NACKed (Proxies) and says
//     when a node is in step with its snapshot (Synced).
//   - Authenticator (Server.Auth) decides what identity a stream may be
//     served as, from the bearer token the client presents: Tokens for
//     secrets the control plane issues itself, FirstOf to chain one with
//     another (Kubernetes mode's TokenReview).
package xdsserver
