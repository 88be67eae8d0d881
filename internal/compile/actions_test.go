package compile_test

import (
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// routesByPrefix compiles testdata/route-actions.yaml for a client
// sidecar and returns its routes by their path prefix.
func routesByPrefix(t *testing.T) map[string]*routev3.Route {
	t.Helper()
	c, in := load(t, "testdata/route-actions.yaml")
	res := compile.Compile(c, in, sidecar("client", "v1"))
	out := map[string]*routev3.Route{}
	for _, rc := range res.Routes {
		for _, vh := range rc.VirtualHosts {
			for _, r := range vh.Routes {
				if p := r.GetMatch().GetPrefix(); strings.HasPrefix(vh.Name, "shop.") && p != "" {
					out[p] = r
				}
			}
		}
	}
	return out
}

// TestRetryPolicyIsIstios: Istio's ConvertPolicy. The default retries
// connection failures and 503 twice (Istio 1.23's default, which lanemesh
// keeps; see compile's defaultRetryOn); status codes in retryOn become
// retriable status codes, and a retryOn replaces the default's; a retry
// goes to another host unless retryIgnorePreviousHosts is false or the
// destination balances by consistent hash.
func TestRetryPolicyIsIstios(t *testing.T) {
	routes := routesByPrefix(t)
	const dflt = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
	for prefix, want := range map[string]string{
		"/default":   `retry_on:"` + dflt + `" num_retries:{value:2} retry_host_predicate:{name:"envoy.retry_host_predicates.previous_hosts"} host_selection_retry_max_attempts:5 retriable_status_codes:503`,
		"/off":       ``,
		"/attempts":  `retry_on:"` + dflt + `" num_retries:{value:4} per_try_timeout:{seconds:2} retry_host_predicate:{name:"envoy.retry_host_predicates.previous_hosts"} host_selection_retry_max_attempts:5 retriable_status_codes:503`,
		"/code":      `retry_on:"retriable-status-codes" num_retries:{value:2} retry_host_predicate:{name:"envoy.retry_host_predicates.previous_hosts"} host_selection_retry_max_attempts:5 retriable_status_codes:503`,
		"/mixed":     `retry_on:"5xx,retriable-status-codes" num_retries:{value:2} retry_host_predicate:{name:"envoy.retry_host_predicates.previous_hosts"} host_selection_retry_max_attempts:5 retriable_status_codes:503 retriable_status_codes:429`,
		"/same-host": `retry_on:"gateway-error" num_retries:{value:2} host_selection_retry_max_attempts:5 retry_back_off:{base_interval:{nanos:100000000}}`,
		"/sticky":    `retry_on:"` + dflt + `" num_retries:{value:2} host_selection_retry_max_attempts:5 retriable_status_codes:503`,
	} {
		r := routes[prefix]
		if r == nil {
			t.Errorf("%s: no route", prefix)
			continue
		}
		p := r.GetRoute().GetRetryPolicy()
		if p == nil {
			p = &routev3.RetryPolicy{} // prints as nothing
		}
		for _, hp := range p.GetRetryHostPredicate() {
			hp.ConfigType = nil // the predicate's typed config is empty; its name tells
		}
		if got := strings.Join(strings.Fields(prototext.MarshalOptions{}.Format(p)), " "); got != want {
			t.Errorf("%s: retry policy\n  %s\nwant\n  %s", prefix, got, want)
		}
	}
}

// TestFaultIsIstios: Istio's TranslateFault. A percentage left unset is
// 0% ("no request will be aborted"), a delay's legacy percent stands in
// for it, and an abort without httpStatus is left out, with the fault
// itself when nothing else is left.
func TestFaultIsIstios(t *testing.T) {
	routes := routesByPrefix(t)
	for prefix, want := range map[string]string{
		"/abort-unset":     `abort:{http_status:503 percentage:{denominator:MILLION}}`,
		"/abort-half":      `abort:{http_status:503 percentage:{numerator:500000 denominator:MILLION}}`,
		"/abort-no-status": `delay:{fixed_delay:{seconds:1} percentage:{numerator:200000 denominator:MILLION}}`,
		"/nothing":         ``,
	} {
		r := routes[prefix]
		if r == nil {
			t.Errorf("%s: no route", prefix)
			continue
		}
		var f faultv3.HTTPFault
		if a := r.GetTypedPerFilterConfig()[meshxds.FaultFilter]; a != nil {
			if err := a.UnmarshalTo(&f); err != nil {
				t.Fatal(err)
			}
		} else if want != "" {
			t.Errorf("%s: no fault, want %s", prefix, want)
			continue
		}
		if got := strings.Join(strings.Fields(prototext.MarshalOptions{}.Format(&f)), " "); got != want {
			t.Errorf("%s: fault\n  %s\nwant\n  %s", prefix, got, want)
		}
	}
}

// TestWeightedDestinationHeaders: with several destinations, each one's
// request and response header operations go on its weighted cluster, as
// Istio's processWeightedDestination puts them.
func TestWeightedDestinationHeaders(t *testing.T) {
	r := routesByPrefix(t)["/weighted"]
	if r == nil {
		t.Fatal("no route /weighted")
	}
	var got []string
	for _, wc := range r.GetRoute().GetWeightedClusters().GetClusters() {
		var ops []string
		for _, h := range wc.GetRequestHeadersToAdd() {
			ops = append(ops, "req+"+h.GetHeader().GetKey()+"="+h.GetHeader().GetValue())
		}
		for _, h := range wc.GetResponseHeadersToAdd() {
			ops = append(ops, "resp+"+h.GetHeader().GetKey()+"="+h.GetHeader().GetValue())
		}
		for _, k := range wc.GetResponseHeadersToRemove() {
			ops = append(ops, "resp-"+k)
		}
		got = append(got, wc.GetName()+": "+strings.Join(ops, " "))
	}
	want := []string{"outbound|8000|v1|shop.default.svc.cluster.local: req+x-to=v1 resp+x-from=v1 resp-x-internal",
		"outbound|8000|sticky|shop.default.svc.cluster.local: "}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("weighted clusters:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
