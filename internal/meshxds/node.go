package meshxds

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// NodeCluster is the node.cluster every lanemesh proxy reports.
const NodeCluster = "lanemesh"

// Keys of the node metadata that carries a proxy's identity.
const (
	metaRole      = "role"
	metaNamespace = "namespace"
	metaLabels    = "labels"
	// metaInbound is true for a sidecar whose pod's inbound traffic it
	// intercepts (Proxy.Inbound), like Istio's INTERCEPTION_MODE;
	// absent means false.
	metaInbound = "inbound"
)

// ErrNodeMetadata is wrapped by every error ProxyOf returns, so a caller can
// tell a proxy that announced itself badly from a transport failure.
var ErrNodeMetadata = errors.New("bad node metadata")

// NodeFor returns the xDS node a proxy announces itself with: the node id,
// cluster "lanemesh", and its Proxy identity as metadata
// {"role", "namespace", "labels"}. The control plane compiles for the
// identity, not the id, so every replica of a workload gets equal resources.
func NodeFor(id string, p Proxy) *corev3.Node {
	labels := make(map[string]*structpb.Value, len(p.Labels))
	for k, v := range p.Labels {
		labels[k] = structpb.NewStringValue(v)
	}
	n := &corev3.Node{
		Id:      id,
		Cluster: NodeCluster,
		// The build, so that proxy-status can show each proxy's version as
		// istioctl shows Envoy's.
		UserAgentName:        "lanemesh",
		UserAgentVersionType: &corev3.Node_UserAgentVersion{UserAgentVersion: buildVersion()},
		Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{
			metaRole:      structpb.NewStringValue(string(p.Role)),
			metaNamespace: structpb.NewStringValue(p.Namespace),
			metaLabels:    structpb.NewStructValue(&structpb.Struct{Fields: labels}),
		}},
	}
	if p.Inbound {
		n.Metadata.Fields[metaInbound] = structpb.NewBoolValue(true)
	}
	return n
}

// ProxyOf reads back the identity NodeFor wrote. Role and namespace are
// required; labels may be absent (a proxy with no labels), but when present
// must be a struct of strings. Errors wrap ErrNodeMetadata and name the key.
func ProxyOf(n *corev3.Node) (Proxy, error) {
	if n == nil {
		return Proxy{}, fmt.Errorf("%w: no node in the request", ErrNodeMetadata)
	}
	fields := n.GetMetadata().GetFields()
	role, err := stringField(fields, metaRole)
	if err != nil {
		return Proxy{}, fmt.Errorf("node %q: %w", n.GetId(), err)
	}
	if r := Role(role); r != Gateway && r != Sidecar {
		return Proxy{}, fmt.Errorf("node %q: %w: %s is %q, want %q or %q",
			n.GetId(), ErrNodeMetadata, metaRole, role, Gateway, Sidecar)
	}
	ns, err := stringField(fields, metaNamespace)
	if err != nil {
		return Proxy{}, fmt.Errorf("node %q: %w", n.GetId(), err)
	}
	labels, err := labelsField(fields)
	if err != nil {
		return Proxy{}, fmt.Errorf("node %q: %w", n.GetId(), err)
	}
	inbound := false
	if v, ok := fields[metaInbound]; ok {
		b, isBool := v.GetKind().(*structpb.Value_BoolValue)
		if !isBool {
			return Proxy{}, fmt.Errorf("node %q: %w: %s must be a bool", n.GetId(), ErrNodeMetadata, metaInbound)
		}
		inbound = b.BoolValue
	}
	return Proxy{Role: Role(role), Namespace: ns, Labels: labels, Inbound: inbound}, nil
}

// stringField returns a required, non-empty string field of the metadata.
func stringField(fields map[string]*structpb.Value, key string) (string, error) {
	v, ok := fields[key]
	if !ok {
		return "", fmt.Errorf("%w: %s is missing (set it with NodeFor)", ErrNodeMetadata, key)
	}
	s, ok := v.GetKind().(*structpb.Value_StringValue)
	if !ok || s.StringValue == "" {
		return "", fmt.Errorf("%w: %s must be a non-empty string", ErrNodeMetadata, key)
	}
	return s.StringValue, nil
}

// labelsField returns the labels struct, nil when absent or empty.
func labelsField(fields map[string]*structpb.Value) (map[string]string, error) {
	v, ok := fields[metaLabels]
	if !ok {
		return nil, nil
	}
	st, ok := v.GetKind().(*structpb.Value_StructValue)
	if !ok {
		return nil, fmt.Errorf("%w: %s must be a struct of strings", ErrNodeMetadata, metaLabels)
	}
	if len(st.StructValue.GetFields()) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(st.StructValue.GetFields()))
	for k, lv := range st.StructValue.GetFields() {
		s, ok := lv.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, fmt.Errorf("%w: %s.%s must be a string", ErrNodeMetadata, metaLabels, k)
		}
		out[k] = s.StringValue
	}
	return out, nil
}

// IdentityKey returns a canonical string for a proxy identity: equal
// identities (whatever their labels' map order, and nil or empty labels
// alike) give equal keys, different ones different keys. Because
// the compiler gives equal resources to equal identities, a control
// plane can cache one compilation per key. The key is JSON with sorted
// label keys, so it is unambiguous whatever characters labels contain.
func IdentityKey(p Proxy) string {
	b, err := json.Marshal(struct {
		Role      Role              `json:"role"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels,omitempty"`
		Inbound   bool              `json:"inbound,omitempty"`
	}{p.Role, p.Namespace, p.Labels, p.Inbound})
	if err != nil {
		// Marshalling strings and a map of strings cannot fail.
		panic(err)
	}
	return string(b)
}

// buildVersion is the main module's version ("(devel)" from a checkout),
// read here rather than from internal/version so that the data plane links
// nothing of lanemesh beyond its contract packages.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
