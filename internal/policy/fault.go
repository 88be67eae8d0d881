package policy

import (
	"fmt"
	"time"

	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/route"
)

// Fault is a compiled HTTPFault: a fixed delay and an HTTP abort, each
// applied to a share of requests given in parts per million.
type Fault struct {
	delay    time.Duration
	delayPPM uint32
	abort    int
	abortPPM uint32
	delaySet bool
	abortSet bool
}

// Delay draws, from rnd, whether the fault delays a request, and for how
// long.
func (f *Fault) Delay(rnd uint32) (time.Duration, bool) {
	return f.delay, f.delaySet && fires(f.delayPPM, rnd)
}

// Abort draws, from rnd, whether the fault aborts a request, and with
// which status.
func (f *Fault) Abort(rnd uint32) (int, bool) {
	return f.abort, f.abortSet && fires(f.abortPPM, rnd)
}

const million = 1_000_000

// routeFault reads a route's typed_per_filter_config. Only the fault and
// CORS filters have per-route configuration in lanemesh (route.New reads
// the CORS one); configuration for any other filter is refused because
// that filter does not run here.
func BuildRouteFault(cfg map[string]*anypb.Any) (*Fault, error) {
	var plan *Fault
	for name, a := range cfg {
		if name == meshxds.CorsFilter {
			continue
		}
		if name != meshxds.FaultFilter {
			return nil, fmt.Errorf("%w: typed_per_filter_config for filter %q: lanemesh runs only %s, %s and %s", route.ErrUnsupported, name, meshxds.FaultFilter, meshxds.CorsFilter, meshxds.RouterFilter)
		}
		var err error
		if plan, err = BuildFault(a); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// buildFault compiles an HTTPFault packed in a; an empty HTTPFault is nil.
func BuildFault(a *anypb.Any) (*Fault, error) {
	var f faultv3.HTTPFault
	if err := a.UnmarshalTo(&f); err != nil {
		return nil, fmt.Errorf("%w: %s config is not an HTTPFault: %w", route.ErrInvalid, meshxds.FaultFilter, err)
	}
	switch {
	case f.GetDelay().GetHeaderDelay() != nil || f.GetAbort().GetHeaderAbort() != nil:
		return nil, fmt.Errorf("%w: header-controlled faults are not supported", route.ErrUnsupported)
	case f.GetAbort().GetGrpcStatus() != 0:
		return nil, fmt.Errorf("%w: fault abort with a gRPC status is not supported; use http_status", route.ErrUnsupported)
	case f.GetResponseRateLimit() != nil || len(f.GetHeaders()) > 0 || len(f.GetDownstreamNodes()) > 0 || f.GetMaxActiveFaults() != nil:
		return nil, fmt.Errorf("%w: fault response_rate_limit, headers, downstream_nodes and max_active_faults are not supported", route.ErrUnsupported)
	}
	plan := &Fault{}
	if d := f.GetDelay(); d != nil {
		plan.delaySet, plan.delay, plan.delayPPM = true, d.GetFixedDelay().AsDuration(), ppm(d.GetPercentage())
	}
	if ab := f.GetAbort(); ab != nil {
		code := int(ab.GetHttpStatus())
		if code < 200 || code > 599 {
			return nil, fmt.Errorf("%w: fault abort http_status %d is outside 200-599", route.ErrInvalid, code)
		}
		plan.abortSet, plan.abort, plan.abortPPM = true, code, ppm(ab.GetPercentage())
	}
	if !plan.delaySet && !plan.abortSet {
		return nil, nil
	}
	return plan, nil
}

// ppm converts a FractionalPercent to parts per million. A missing
// percentage is the proto's zero value, 0%, as in Envoy; lanemesh's compiler
// always sets one.
func ppm(p *typev3.FractionalPercent) uint32 {
	if p == nil {
		return 0
	}
	n := uint64(p.GetNumerator())
	switch p.GetDenominator() {
	case typev3.FractionalPercent_HUNDRED:
		n *= 10_000
	case typev3.FractionalPercent_TEN_THOUSAND:
		n *= 100
	}
	return uint32(min(n, million))
}

// fires draws whether a fault with share ppm applies to this request.
func fires(share uint32, rnd uint32) bool {
	return share >= million || (share > 0 && rnd%million < share)
}
