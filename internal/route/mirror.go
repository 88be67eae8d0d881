package route

import (
	"fmt"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// Mirror is one compiled RouteAction.RequestMirrorPolicy: the cluster a
// copy of the request goes to, for the share of requests its
// runtime_fraction names. It is read-only after New.
type Mirror struct {
	Cluster string
	// KeepHost is disable_shadow_host_suffix_append: the copy keeps the
	// request's authority instead of getting "-shadow" added.
	KeepHost bool
	share    fraction
}

// Fires reports whether this request is copied; rnd is a uniformly random
// value.
func (m *Mirror) Fires(rnd uint32) bool { return m.share.fires(rnd) }

// Percent is the share of requests copied.
func (m *Mirror) Percent() float64 { return m.share.Percent() }

func compileMirrors(policies []*routev3.RouteAction_RequestMirrorPolicy) ([]Mirror, error) {
	var out []Mirror
	for i, p := range policies {
		switch {
		case p.GetClusterHeader() != "":
			return nil, fmt.Errorf("%w: request mirror policy %d: cluster_header is not supported; name the cluster", ErrUnsupported, i)
		case p.GetCluster() == "":
			return nil, fmt.Errorf("%w: request mirror policy %d: cluster is empty", ErrInvalid, i)
		}
		out = append(out, Mirror{Cluster: p.GetCluster(), KeepHost: p.GetDisableShadowHostSuffixAppend(), share: runtimeFraction(p.GetRuntimeFraction())})
	}
	return out, nil
}

// ShadowHost is Envoy's shadowAppendedHost: "-shadow" added to the host,
// before its port if it has one ("mockb:8000" → "mockb-shadow:8000").
func ShadowHost(host string) string {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.IndexByte(host, ']') > i {
		return host + "-shadow"
	}
	return host[:i] + "-shadow" + host[i:]
}
