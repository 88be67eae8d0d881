package policy

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/route"
)

// view is a health view: usable[i] says whether member i has a usable
// endpoint; budget[i], whether it may retry (default yes).
type view struct {
	usable []bool
	budget map[int]bool
}

func (v *view) FirstUsable(from int) int {
	for i := from; i < len(v.usable); i++ {
		if v.usable[i] {
			return i
		}
	}
	return -1
}

func (v *view) RetryBudget(i int) bool {
	ok, set := v.budget[i]
	return !set || ok
}

func retryPolicy(t *testing.T, on string, n uint32) *Retry {
	t.Helper()
	p, err := BuildRetry(&routev3.RetryPolicy{RetryOn: on, NumRetries: wrapperspb.UInt32(n)})
	if err != nil {
		t.Fatal(err)
	}
	return &p
}

// run drives Attempts through the given attempt results and returns the
// trace "member:step ..." and the final state.
func run(a *Attempts, v *view, results ...Result) string {
	var trace []string
	for _, r := range results {
		m := a.Target(v)
		if m < 0 {
			trace = append(trace, "none")
			break
		}
		step := a.After(v, r)
		trace = append(trace, fmt.Sprintf("%d:%s", m, [...]string{"relay", "fail", "fallback", "again"}[step]))
		if step == Relay || step == Fail {
			break
		}
	}
	return strings.Join(trace, " ")
}

func TestAttempts(t *testing.T) {
	ok := Result{Outcome: Response, Status: 200}
	s503 := Result{Outcome: Response, Status: 503}
	reset := Result{Outcome: Reset}
	refused := Result{Outcome: Connect}
	invalid := Result{Outcome: Protocol}
	const istioDefault = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
	for _, tc := range []struct {
		name       string
		on         string
		retries    uint32
		replayable bool
		mutating   bool // a request that is not idempotent (a POST)
		usable     []bool
		budget     map[int]bool
		results    []Result
		want       string
		retried    int
		fellBack   bool
		exhausted  bool
		last       Outcome
	}{
		{name: "a response is relayed", on: "5xx", retries: 2, replayable: true, usable: []bool{true},
			results: []Result{ok}, want: "0:relay"},
		{name: "no usable member fails from Response", usable: []bool{false, false}, replayable: true,
			results: []Result{ok}, want: "none", last: Response},
		{name: "the primary has none: the fallback takes the first attempt", usable: []bool{false, true}, replayable: true,
			results: []Result{ok}, want: "1:relay", fellBack: true},
		{name: "a reset falls back at once, without a retry policy", usable: []bool{true, true}, replayable: true,
			results: []Result{reset, ok}, want: "0:fallback 1:relay", fellBack: true, last: Reset},
		{name: "a connect failure falls back once; the fallback's failure is final", usable: []bool{true, true, true}, replayable: true,
			results: []Result{refused, refused, ok}, want: "0:fallback 1:fail", fellBack: true, last: Connect},
		{name: "a streamed body does not fall back", usable: []bool{true, true},
			results: []Result{reset, ok}, want: "0:fail", last: Reset},
		{name: "a time-out request does not fall back", usable: []bool{true, true}, replayable: true,
			results: []Result{{Outcome: Timeout, Expired: true}, ok}, want: "0:fail", last: Timeout},
		{name: "a 503 is no reason to fall back; it is retried by policy", on: "5xx", retries: 1, usable: []bool{true, true}, replayable: true,
			results: []Result{s503, ok}, want: "0:again 0:relay", retried: 1, last: Response},
		{name: "retries used up: the last response is relayed, flagged URX", on: "5xx", retries: 1, usable: []bool{true}, replayable: true,
			results: []Result{s503, s503, ok}, want: "0:again 0:relay", retried: 1, exhausted: true, last: Response},
		{name: "retries used up on resets: fail", on: "reset", retries: 2, usable: []bool{true}, replayable: true,
			results: []Result{reset, reset, reset, ok}, want: "0:again 0:again 0:fail", retried: 2, exhausted: true, last: Reset},
		{name: "after falling back, retries stay on the fallback", on: "connect-failure", retries: 3, usable: []bool{true, true}, replayable: true,
			results: []Result{refused, refused, ok}, want: "0:fallback 1:again 1:relay", retried: 1, fellBack: true, last: Connect},
		{name: "the retry budget refuses: fail", on: "reset", retries: 3, usable: []bool{true}, budget: map[int]bool{0: false}, replayable: true,
			results: []Result{reset, ok}, want: "0:fail", last: Reset},
		{name: "a cancelled attempt is final", on: "5xx,reset,connect-failure", retries: 3, usable: []bool{true, true}, replayable: true,
			results: []Result{{Outcome: Cancel}, ok}, want: "0:fail", last: Cancel},
		{name: "retriable-status-codes", on: "retriable-status-codes", retries: 1, usable: []bool{true}, replayable: true,
			results: []Result{{Outcome: Response, Status: 418}, ok}, want: "0:relay"},
		{name: "refused-stream retries an idempotent request's reset", on: istioDefault, retries: 2, usable: []bool{true}, replayable: true,
			results: []Result{reset, ok}, want: "0:again 0:relay", retried: 1, last: Reset},
		{name: "refused-stream does not retry a POST's reset: it may have been acted on", on: istioDefault, retries: 2, usable: []bool{true}, replayable: true, mutating: true,
			results: []Result{reset, ok}, want: "0:fail", last: Reset},
		{name: "reset retries a POST's reset", on: "reset", retries: 2, usable: []bool{true}, replayable: true, mutating: true,
			results: []Result{reset, ok}, want: "0:again 0:relay", retried: 1, last: Reset},
		{name: "an invalid response is retried under 5xx", on: "5xx", retries: 1, usable: []bool{true}, replayable: true,
			results: []Result{invalid, ok}, want: "0:again 0:relay", retried: 1, last: Protocol},
		{name: "an invalid response is final under Istio's default conditions", on: istioDefault, retries: 2, usable: []bool{true}, replayable: true,
			results: []Result{invalid, ok}, want: "0:fail", last: Protocol},
		{name: "an invalid response does not fall back: a response had begun", usable: []bool{true, true}, replayable: true,
			results: []Result{invalid, ok}, want: "0:fail", last: Protocol},
		{name: "gRPC unavailable", on: "unavailable", retries: 1, usable: []bool{true}, replayable: true,
			results: []Result{{Outcome: Response, Status: 200, Header: http.Header{"Grpc-Status": {"14"}}}, ok}, want: "0:again 0:relay", retried: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a Attempts
			var p *Retry
			if tc.on != "" {
				p = retryPolicy(t, tc.on, tc.retries)
			}
			a.Start(p, tc.replayable, !tc.mutating)
			got := run(&a, &view{usable: tc.usable, budget: tc.budget}, tc.results...)
			if got != tc.want || a.Retries() != tc.retried || a.FellBack() != tc.fellBack || a.Exhausted() != tc.exhausted || a.Last() != tc.last {
				t.Errorf("got %q, retries %d, fell back %v, exhausted %v, last %s\nwant %q, retries %d, fell back %v, exhausted %v, last %s",
					got, a.Retries(), a.FellBack(), a.Exhausted(), a.Last(), tc.want, tc.retried, tc.fellBack, tc.exhausted, tc.last)
			}
		})
	}
}

// TestAttemptsDoNotAllocate: the router asks Attempts once or twice per
// request; it must cost no allocation.
func TestAttemptsDoNotAllocate(t *testing.T) {
	p := retryPolicy(t, "5xx", 2)
	v := &view{usable: []bool{true, true}}
	var a Attempts
	allocs := testing.AllocsPerRun(100, func() {
		a.Start(p, true, true)
		a.Target(v)
		a.After(v, Result{Outcome: Reset})
		a.Target(v)
		a.After(v, Result{Outcome: Response, Status: 200})
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request, want 0", allocs)
	}
}

// TestRetryToAnotherHost: a retry avoids the endpoint before only when the
// policy has the previous_hosts predicate (Istio's default, which
// retryIgnorePreviousHosts: false and consistent hashing leave out).
func TestRetryToAnotherHost(t *testing.T) {
	previous := []*routev3.RetryPolicy_RetryHostPredicate{{Name: meshxds.RetryPreviousHosts}}
	for _, tc := range []struct {
		predicates []*routev3.RetryPolicy_RetryHostPredicate
		other      bool
	}{{nil, false}, {previous, true}} {
		p, err := BuildRetry(&routev3.RetryPolicy{RetryOn: "5xx", RetryHostPredicate: tc.predicates})
		if err != nil || p.OtherHost != tc.other {
			t.Errorf("predicates %v: OtherHost %v (%v), want %v", tc.predicates, p.OtherHost, err, tc.other)
		}
	}
	_, err := BuildRetry(&routev3.RetryPolicy{RetryHostPredicate: []*routev3.RetryPolicy_RetryHostPredicate{{Name: "envoy.retry_host_predicates.omit_canary_hosts"}}})
	if !errors.Is(err, route.ErrUnsupported) {
		t.Errorf("omit_canary_hosts: %v, want unsupported", err)
	}
	for config, want := range map[proto.Message]error{&previoushostsv3.PreviousHostsPredicate{}: nil, wrapperspb.String("x"): route.ErrInvalid} {
		a, _ := anypb.New(config)
		_, err := BuildRetry(&routev3.RetryPolicy{RetryHostPredicate: []*routev3.RetryPolicy_RetryHostPredicate{{Name: meshxds.RetryPreviousHosts,
			ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: a}}}})
		if !errors.Is(err, want) {
			t.Errorf("previous_hosts with a %T config: %v, want %v", config, err, want)
		}
	}
}
