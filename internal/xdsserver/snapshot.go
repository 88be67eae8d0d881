package xdsserver

import (
	"fmt"
	"maps"
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// Snapshot is a configuration ready to serve: the clusters, endpoints,
// listeners and routes of a go-control-plane snapshot, checked for
// consistency and marshaled once. It is immutable.
//
// Build one per proxy identity with NewSnapshot and give that same
// Snapshot to every node of the identity. Every response the server sends
// from it shares its marshaled resources; only the small envelope that
// carries the nonce is new. go-control-plane's own cache marshals every
// resource again for each response, which is what made a change cost the
// control plane seconds of CPU at a thousand proxies of six identities.
type Snapshot struct {
	types [numKinds]wireType
}

// wireType is one type of a Snapshot as it goes on the wire.
type wireType struct {
	version string
	// names and resources are parallel, sorted by name. resources is
	// shared by every response and never modified.
	names     []string
	resources []*anypb.Any
	// returned maps each name to version: the resources a response
	// returns, as go-control-plane's stream subscription records them.
	// Each response gets a copy, which the subscription edits.
	returned map[string]string
}

// NewSnapshot checks snap and marshals its resources. It refuses an
// inconsistent snapshot: in ADS mode an EDS or RDS request is only answered
// when it names every resource of its type, so endpoints or routes that do
// not match the clusters and listeners would leave a proxy waiting. It also
// refuses what lanemesh does not serve: types other than CDS, EDS, LDS and
// RDS, and resources with a TTL.
func NewSnapshot(snap *cachev3.Snapshot) (*Snapshot, error) {
	if err := snap.Consistent(); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	out := &Snapshot{}
	for rt := range types.UnknownType {
		items := snap.Resources[rt].Items
		url, _ := cachev3.GetResponseTypeURL(rt)
		k, ok := kindOf(url)
		if !ok {
			if len(items) > 0 {
				return nil, fmt.Errorf("snapshot: %d resources of type %s, which lanemesh does not serve", len(items), url)
			}
			continue
		}
		t, err := marshalType(k, snap.Resources[rt].Version, items)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %s: %w", k, err)
		}
		out.types[k] = t
	}
	return out, nil
}

// marshalType marshals one type's resources, deterministically and sorted
// by name, so that equal content makes equal bytes.
func marshalType(k kind, version string, items map[string]types.ResourceWithTTL) (wireType, error) {
	t := wireType{version: version, names: slices.Sorted(maps.Keys(items))}
	for _, name := range t.names {
		r := items[name]
		if r.TTL != nil {
			return wireType{}, fmt.Errorf("resource %q has a TTL, which lanemesh does not serve", name)
		}
		b, err := cachev3.MarshalResource(r.Resource)
		if err != nil {
			return wireType{}, fmt.Errorf("resource %q: %w", name, err)
		}
		t.resources = append(t.resources, &anypb.Any{TypeUrl: k.TypeURL(), Value: b})
	}
	t.returned = t.returnedAt(version)
	return t, nil
}

// returnedAt maps each of t's names to version.
func (t *wireType) returnedAt(version string) map[string]string {
	out := make(map[string]string, len(t.names))
	for _, n := range t.names {
		out[n] = version
	}
	return out
}

// version returns the version of one type, "" if it has no resources.
func (s *Snapshot) version(k kind) string { return s.types[k].version }

// inStep reports whether acked, the versions a node accepted by kind,
// holds every type of s that has resources at s's version. A type without
// resources is left out: a proxy never asks for it, or ACKs its empty
// response with an empty version, which the tracker does not record.
func (s *Snapshot) inStep(acked *[numKinds]string) bool {
	for k, t := range s.types {
		if len(t.names) > 0 && acked[k] != t.version {
			return false
		}
	}
	return true
}

// withVersions returns a copy of s in which the given types have other
// versions; the resources are shared.
func (s *Snapshot) withVersions(versions map[kind]string) *Snapshot {
	out := &Snapshot{types: s.types}
	for k, v := range versions {
		t := &out.types[k]
		t.version, t.returned = v, t.returnedAt(v)
	}
	return out
}

// response is this type's answer to req. The envelope is new each time,
// since the server writes the stream's nonce into it; the resources are
// shared.
func (t *wireType) response(req *discoveryv3.DiscoveryRequest) cachev3.Response {
	return &cachev3.PassthroughResponse{
		Request:           req,
		DiscoveryResponse: &discoveryv3.DiscoveryResponse{VersionInfo: t.version, Resources: t.resources, TypeUrl: req.GetTypeUrl()},
		ReturnedResources: maps.Clone(t.returned),
	}
}

// only returns the resources of t named in names, for a unary fetch.
func (t *wireType) only(names []string) []*anypb.Any {
	var out []*anypb.Any
	for i, n := range t.names {
		if slices.Contains(names, n) {
			out = append(out, t.resources[i])
		}
	}
	return out
}
