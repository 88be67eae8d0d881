package meshxds

import (
	"fmt"
	"strings"
	"time"

	typev3 "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Lane propagation carries a permissive lane group's route header from the
// request a pod received to the calls the pod makes (see
// api.PermissiveSwimLaneGroupConfiguration). Istio has no kind for it: a
// permissive lane is ASM's, and ASM implements it inside its sidecar. So it
// travels as lanemesh's own HTTP filter in the HTTP connection manager of
// the sidecar's listeners, with its settings in a TypedStruct, marked
// is_optional: a stock Envoy skips the filter and otherwise accepts the
// listener (routing by the route header still works for apps that
// propagate it themselves), while lanemesh's proxy runs it.
const (
	// LanePropagationFilter is the filter's name in the HCM chain.
	LanePropagationFilter = "lanemesh.filters.http.lane_propagation"
	// LanePropagationType is the TypedStruct's type_url.
	LanePropagationType = "type.googleapis.com/lanemesh.filters.http.lane_propagation.v1.LanePropagation"
	// DefaultTraceTableCapacity and DefaultTraceTableTTL bound a sidecar's
	// trace-id table. An entry is needed from the moment the pod receives
	// a request until the pod's last outbound call for it, so the table
	// must hold the requests the pod has in flight: its inbound rate times
	// the time a request spends in it (Little's law). CLOCK keeps a trace
	// id while at least 0.45 × capacity newer ones arrive (the proxy's
	// TestTraceTableKeepsInFlight), so 8,192 entries carry ~3,600 requests
	// in flight: 1,000 req/s per pod (Istio's reference load for one
	// sidecar) that each make their last call up to 3.6 s after they
	// arrive, or 100 req/s for 36 s. Full, the table costs about 1.4 MiB
	// (some 170 bytes per entry with a UUID trace id), where 65,536 entries
	// cost 11 MiB, more than half a slim proxy's memory. A control plane
	// that knows of busier pods or longer requests sends a larger
	// table_capacity (up to 2^24). The TTL only lets a quiet pod forget old
	// traces: a minute is far past any request a sidecar should still be
	// carrying a lane for.
	DefaultTraceTableCapacity = 8192
	DefaultTraceTableTTL      = time.Minute
)

// Inbound interception: a sidecar whose identity says its pod's inbound
// traffic reaches it (Proxy.Inbound) gets Istio's virtualInbound listener,
// whose one route sends every request on to where its connection was
// going, through an ORIGINAL_DST cluster, as Istio's
// InboundPassthroughCluster does.
const (
	InboundListener           = "virtualInbound"
	InboundListenerPort       = 15006
	InboundRoutes             = "inbound"
	InboundPassthroughCluster = "InboundPassthroughCluster"
)

// Outbound traffic to hosts the mesh does not know ends in Istio's
// catch-all virtual host of a sidecar's routes: with ALLOW_ANY, Istio's
// default, an ORIGINAL_DST cluster takes it where the app sent it; with
// REGISTRY_ONLY it is answered 502.
const (
	PassthroughCluster = "PassthroughCluster"
	AllowAnyRoute      = "allow_any"
	BlockAllRoute      = "block_all"
)

// LanePropagation is the filter's configuration.
type LanePropagation struct {
	// RouteHeader is the header every hop routes by (its value is the
	// lane); TraceHeader is what the apps propagate: a trace id header,
	// or "baggage".
	RouteHeader, TraceHeader string
	// TableCapacity and TableTTL bound the trace-id table.
	TableCapacity int
	TableTTL      time.Duration
}

// Keys of the TypedStruct's value.
const (
	lpRouteHeader   = "route_header"
	lpTraceHeader   = "trace_header"
	lpTableCapacity = "table_capacity"
	lpTableTTL      = "table_ttl"
)

// Any packs lp as the filter's typed_config.
func (lp LanePropagation) Any() *anypb.Any {
	a, err := anypb.New(&typev3.TypedStruct{TypeUrl: LanePropagationType, Value: &structpb.Struct{Fields: map[string]*structpb.Value{
		lpRouteHeader:   structpb.NewStringValue(lp.RouteHeader),
		lpTraceHeader:   structpb.NewStringValue(lp.TraceHeader),
		lpTableCapacity: structpb.NewNumberValue(float64(lp.TableCapacity)),
		lpTableTTL:      structpb.NewStringValue(lp.TableTTL.String()),
	}}})
	if err != nil {
		panic(err) // a TypedStruct always marshals
	}
	return a
}

// ParseLanePropagation reads the filter's typed_config back, strictly:
// unknown keys, missing headers and out-of-range bounds are errors.
func ParseLanePropagation(a *anypb.Any) (LanePropagation, error) {
	var ts typev3.TypedStruct
	if a == nil || a.UnmarshalTo(&ts) != nil || ts.GetTypeUrl() != LanePropagationType {
		return LanePropagation{}, fmt.Errorf("typed_config must be a TypedStruct of %s", LanePropagationType)
	}
	var lp LanePropagation
	for k, v := range ts.GetValue().GetFields() {
		switch k {
		case lpRouteHeader:
			lp.RouteHeader = v.GetStringValue()
		case lpTraceHeader:
			lp.TraceHeader = v.GetStringValue()
		case lpTableCapacity:
			n := v.GetNumberValue()
			if n < 1 || n > 1<<24 || n != float64(int(n)) {
				return LanePropagation{}, fmt.Errorf("%s %v: want a whole number from 1 to %d", k, n, 1<<24)
			}
			lp.TableCapacity = int(n)
		case lpTableTTL:
			d, err := time.ParseDuration(v.GetStringValue())
			if err != nil || d <= 0 {
				return LanePropagation{}, fmt.Errorf("%s %q: want a positive duration such as \"60s\"", k, v.GetStringValue())
			}
			lp.TableTTL = d
		default:
			return LanePropagation{}, fmt.Errorf("unknown key %q (known: %s, %s, %s, %s)", k, lpRouteHeader, lpTraceHeader, lpTableCapacity, lpTableTTL)
		}
	}
	switch {
	case !ValidHeaderName(lp.RouteHeader) || !ValidHeaderName(lp.TraceHeader):
		return LanePropagation{}, fmt.Errorf("%s %q and %s %q must be header names", lpRouteHeader, lp.RouteHeader, lpTraceHeader, lp.TraceHeader)
	case lp.TableCapacity == 0:
		lp.TableCapacity = DefaultTraceTableCapacity
	}
	if lp.TableTTL == 0 {
		lp.TableTTL = DefaultTraceTableTTL
	}
	return lp, nil
}

// ValidHeaderName reports whether s is a non-empty token, as a header name
// must be.
func ValidHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
