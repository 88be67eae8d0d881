package policy

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/route"
)

// retryOn is a parsed retry_on list.
type retryOn uint16

const (
	retry5xx retryOn = 1 << iota
	retryGatewayError
	retryReset
	retryConnectFailure
	retryRefusedStream
	retryRetriable4xx
	retryStatusCodes
	retryGRPCCancelled
	retryGRPCDeadline
	retryGRPCResource
	retryGRPCInternal
	retryGRPCUnavailable
)

// retryTokens are the retry_on conditions Envoy defines. Those that cannot
// happen on an HTTP/1.1 upstream (http3-post-connect-failure) or that need
// a feature lanemesh leaves out (envoy-ratelimited) are accepted and never
// fire; an unknown token is an error, since Envoy rejects it too.
var retryTokens = map[string]retryOn{
	"5xx": retry5xx, "gateway-error": retryGatewayError, "reset": retryReset, "reset-before-request": retryReset,
	"connect-failure": retryConnectFailure, "refused-stream": retryRefusedStream, "retriable-4xx": retryRetriable4xx,
	"retriable-status-codes": retryStatusCodes, "retriable-headers": 0, "envoy-ratelimited": 0, "http3-post-connect-failure": 0,
	"cancelled": retryGRPCCancelled, "deadline-exceeded": retryGRPCDeadline, "resource-exhausted": retryGRPCResource,
	"internal": retryGRPCInternal, "unavailable": retryGRPCUnavailable,
}

// Retry is a compiled RetryPolicy; the zero value never retries.
type Retry struct {
	num      int
	on       retryOn
	statuses []uint32
	PerTry   time.Duration // the per-try timeout; 0: none
	// OtherHost sends a retry to another endpoint than the attempt
	// before, where its cluster has one (previous_hosts).
	OtherHost  bool
	base, most time.Duration // backoff: full jitter over base·2^n, capped at most
}

// Envoy's retry defaults.
const (
	defaultNumRetries  = 1
	defaultBackoffBase = 25 * time.Millisecond
)

func BuildRetry(rp *routev3.RetryPolicy) (Retry, error) {
	if rp == nil {
		return Retry{}, nil
	}
	switch {
	case len(rp.GetRetriableHeaders()) > 0 || len(rp.GetRetriableRequestHeaders()) > 0:
		return Retry{}, fmt.Errorf("%w: retry_policy retriable_headers and retriable_request_headers are not supported", route.ErrUnsupported)
	case rp.GetRetryPriority() != nil || len(rp.GetRetryOptionsPredicates()) > 0 || rp.GetRateLimitedRetryBackOff() != nil:
		return Retry{}, fmt.Errorf("%w: retry_policy retry_priority, retry_options_predicates and rate_limited_retry_back_off are not supported", route.ErrUnsupported)
	}
	p := Retry{num: defaultNumRetries, statuses: rp.GetRetriableStatusCodes(), PerTry: rp.GetPerTryTimeout().AsDuration()}
	for _, hp := range rp.GetRetryHostPredicate() {
		if hp.GetName() != meshxds.RetryPreviousHosts {
			return Retry{}, fmt.Errorf("%w: retry host predicate %q is not supported", route.ErrUnsupported, hp.GetName())
		}
		// Its config is empty, but it must be the predicate's (reading it
		// also links the type, which /config_dump needs to print it).
		if tc := hp.GetTypedConfig(); tc != nil {
			if err := tc.UnmarshalTo(&previoushostsv3.PreviousHostsPredicate{}); err != nil {
				return Retry{}, fmt.Errorf("%w: retry host predicate %q: %w", route.ErrInvalid, hp.GetName(), err)
			}
		}
		p.OtherHost = true
	}
	if rp.GetNumRetries() != nil {
		p.num = int(rp.GetNumRetries().GetValue())
	}
	for tok := range strings.SplitSeq(rp.GetRetryOn(), ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		bit, ok := retryTokens[tok]
		if !ok {
			return Retry{}, fmt.Errorf("%w: retry_on %q is not a retry condition", route.ErrInvalid, tok)
		}
		p.on |= bit
	}
	p.base = DurationOr(rp.GetRetryBackOff().GetBaseInterval().AsDuration(), defaultBackoffBase)
	p.most = DurationOr(rp.GetRetryBackOff().GetMaxInterval().AsDuration(), 10*p.base)
	return p, nil
}

// Retriable reports whether an attempt that ended with o (and, for a
// response, its status and header) meets one of the policy's conditions.
// A reset or an invalid response is retried under reset, 5xx and
// gateway-error, as Envoy counts them. HTTP/1.1 has no stream refusal; a
// connection closed before any response byte is the nearest event, so
// refused-stream retries it too, but only for an idempotent request (see
// Attempts), which RFC 9110 §9.2.2 lets a proxy send again: the upstream
// may have acted on another before closing.
func (p *Retry) Retriable(o Outcome, code int, h http.Header) bool {
	if p.num == 0 || p.on == 0 {
		return false
	}
	switch o {
	case Connect:
		return p.on&(retryConnectFailure|retry5xx|retryGatewayError|retryReset|retryRefusedStream) != 0
	case Reset:
		return p.on&(retryReset|retry5xx|retryGatewayError|retryRefusedStream) != 0
	case Protocol:
		return p.on&(retryReset|retry5xx|retryGatewayError) != 0
	case Timeout:
		return p.on&(retry5xx|retryGatewayError) != 0
	case Cancel, Idle:
		return false
	}
	return p.retriableResponse(code, h)
}

// retriesAnyReset reports whether the policy retries a reset whatever the
// request (reset, 5xx, gateway-error), not only under refused-stream.
func (p *Retry) retriesAnyReset() bool { return p.on&(retryReset|retry5xx|retryGatewayError) != 0 }

func (p *Retry) retriableResponse(code int, h http.Header) bool {
	switch {
	case code >= 500 && p.on&retry5xx != 0:
		return true
	case (code == 502 || code == 503 || code == 504) && p.on&retryGatewayError != 0:
		return true
	case code == 409 && p.on&retryRetriable4xx != 0:
		return true
	}
	if p.on&retryStatusCodes != 0 {
		for _, s := range p.statuses {
			if uint32(code) == s {
				return true
			}
		}
	}
	if p.on&(retryGRPCCancelled|retryGRPCDeadline|retryGRPCResource|retryGRPCInternal|retryGRPCUnavailable) != 0 {
		return p.retriableGRPC(h["Grpc-Status"])
	}
	return false
}

// retriableGRPC checks a grpc-status header against the gRPC conditions.
func (p *Retry) retriableGRPC(status []string) bool {
	if len(status) == 0 {
		return false
	}
	var bit retryOn
	switch status[0] {
	case "1":
		bit = retryGRPCCancelled
	case "4":
		bit = retryGRPCDeadline
	case "8":
		bit = retryGRPCResource
	case "13":
		bit = retryGRPCInternal
	case "14":
		bit = retryGRPCUnavailable
	}
	return p.on&bit != 0
}

// Backoff is Envoy's fully jittered exponential backoff before retry n
// (1-based), drawn from rnd.
func (p *Retry) Backoff(n int, rnd uint32) time.Duration {
	ceiling := p.base << min(n-1, 16)
	if ceiling <= 0 || ceiling > p.most {
		ceiling = p.most
	}
	return time.Duration(uint64(rnd) * uint64(ceiling) >> 32)
}

// DurationOr is d, or def when d is not positive: Envoy's reading of an
// unset duration.
func DurationOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
