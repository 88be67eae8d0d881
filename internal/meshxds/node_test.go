package meshxds

import (
	"errors"
	"maps"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

var (
	gatewayID = Proxy{Role: Gateway, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}
	sidecarID = Proxy{Role: Sidecar, Namespace: "default", Labels: map[string]string{"app": "mocka", "version": "v2"}}
)

func TestNodeRoundTrip(t *testing.T) {
	for name, p := range map[string]Proxy{
		"gateway":   gatewayID,
		"sidecar":   sidecarID,
		"no labels": {Role: Sidecar, Namespace: "default"},
	} {
		t.Run(name, func(t *testing.T) {
			n := NodeFor("pod-1", p)
			if n.GetId() != "pod-1" || n.GetCluster() != NodeCluster {
				t.Errorf("node id/cluster = %q/%q", n.GetId(), n.GetCluster())
			}
			got, err := ProxyOf(n)
			if err != nil {
				t.Fatal(err)
			}
			if got.Role != p.Role || got.Namespace != p.Namespace || !maps.Equal(got.Labels, p.Labels) {
				t.Errorf("ProxyOf(NodeFor(%v)) = %v", p, got)
			}
		})
	}
}

func TestProxyOfErrors(t *testing.T) {
	good := func() *corev3.Node { return NodeFor("pod-1", sidecarID) }
	with := func(key string, v *structpb.Value) *corev3.Node {
		n := good()
		if v == nil {
			delete(n.Metadata.Fields, key)
		} else {
			n.Metadata.Fields[key] = v
		}
		return n
	}
	badLabels := structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"app": structpb.NewNumberValue(1)}})
	for _, tc := range []struct {
		name string
		node *corev3.Node
		want string
	}{
		{"nil node", nil, "no node in the request"},
		{"no metadata", &corev3.Node{Id: "pod-1"}, `node "pod-1": bad node metadata: role is missing`},
		{"missing role", with("role", nil), "role is missing"},
		{"empty role", with("role", structpb.NewStringValue("")), "role must be a non-empty string"},
		{"unknown role", with("role", structpb.NewStringValue("ingress")), `role is "ingress", want "gateway" or "sidecar"`},
		{"role not a string", with("role", structpb.NewBoolValue(true)), "role must be a non-empty string"},
		{"missing namespace", with("namespace", nil), "namespace is missing"},
		{"labels not a struct", with("labels", structpb.NewStringValue("app=mocka")), "labels must be a struct of strings"},
		{"label not a string", with("labels", badLabels), "labels.app must be a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ProxyOf(tc.node)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrNodeMetadata) {
				t.Errorf("error %v does not wrap ErrNodeMetadata", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestIdentityKey(t *testing.T) {
	a := Proxy{Role: Sidecar, Namespace: "default", Labels: map[string]string{"app": "mocka", "version": "v2"}}
	same := Proxy{Role: Sidecar, Namespace: "default", Labels: map[string]string{"version": "v2", "app": "mocka"}}
	if IdentityKey(a) != IdentityKey(same) {
		t.Errorf("equal identities have keys %s and %s", IdentityKey(a), IdentityKey(same))
	}
	noLabels := Proxy{Role: Sidecar, Namespace: "default"}
	emptyLabels := Proxy{Role: Sidecar, Namespace: "default", Labels: map[string]string{}}
	if IdentityKey(noLabels) != IdentityKey(emptyLabels) {
		t.Errorf("nil and empty labels differ: %s, %s", IdentityKey(noLabels), IdentityKey(emptyLabels))
	}
	others := []Proxy{
		{Role: Gateway, Namespace: "default", Labels: a.Labels},
		{Role: Sidecar, Namespace: "other", Labels: a.Labels},
		{Role: Sidecar, Namespace: "default", Labels: map[string]string{"app": "mocka", "version": "v3"}},
		{Role: Sidecar, Namespace: "default", Labels: map[string]string{"app": "mocka"}},
		// Separators inside values must not make two identities collide.
		{Role: Sidecar, Namespace: "default", Labels: map[string]string{"app": "mocka,version=v2"}},
		noLabels,
	}
	seen := map[string]Proxy{IdentityKey(a): a}
	for _, p := range others {
		k := IdentityKey(p)
		if q, dup := seen[k]; dup {
			t.Errorf("%v and %v share key %s", p, q, k)
		}
		seen[k] = p
	}
}
