package proxy

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/route"
	"github.com/lanemesh/lanemesh/internal/xdsrules"
)

// The proxy checks Envoy's validation rules (go-control-plane's generated
// Validate methods) by hand, in internal/xdsrules, on the fields it reads,
// and leaves to its builders the values they refuse when they read them.
// The tests here hold that to Validate, which tests may link:
//
//   - whenever Validate finds a broken rule on a field the proxy reads
//     (every step of the field's path is listed in
//     testdata/read-fields.txt), the proxy refuses the resources: xdsrules
//     or the builder rejects them;
//   - xdsrules never rejects a resource Validate accepts.
//
// TestRulesAgreeWithValidate does so for a table of invalid values,
// FuzzRulesAgree and TestRulesAgreeOnMutations for random changes of the
// fields the proxy reads in the resources lanemesh compiles for the
// tutorial and for examples of every feature the proxy implements.

// bases are valid resource sets (Validate and the builder accept them) that
// together use every feature the proxy implements.
func bases(t testing.TB) []*meshxds.Resources {
	t.Helper()
	load := func(paths ...string) *config.Config {
		c, diags := config.Load(paths, nil)
		if diags.HasErrors() {
			t.Fatalf("load %v: %v", paths, diags.Err())
		}
		return c
	}
	var out []*meshxds.Resources
	for _, set := range []struct {
		paths []string
		ids   []meshxds.Proxy
	}{
		{[]string{lanesDir}, []meshxds.Proxy{gatewayIdentity, sidecarIdentity("mocka", "v2")}},
		{[]string{lanesDir, fallbackDir}, []meshxds.Proxy{gatewayIdentity, sidecarIdentity("mocka", "v2")}},
		{[]string{"../config/testdata/valid/http-features.yaml"}, []meshxds.Proxy{sidecarIdentity("client", "v1")}},
	} {
		c := load(set.paths...)
		for _, id := range set.ids {
			out = append(out, compile.Compile(c, local.Predict(c), id))
		}
	}
	out = append(out, featureResources(t))
	for i, res := range out {
		if errs := validateAll(res); len(errs) > 0 {
			t.Fatalf("base %d: Validate rejects it: %v", i, errs)
		}
		if err := rulesReject(res); err != nil {
			t.Fatalf("base %d: xdsrules rejects it: %v", i, err)
		}
		if err := builderRejects(res); err != nil {
			t.Fatalf("base %d: the builder rejects it: %v", i, err)
		}
	}
	return out
}

// featureResources is a gateway with the route and cluster features the
// tutorial does not use: retries with back-off, timeouts, faults, header
// operations, rewrites, redirects, direct responses, outlier detection and
// circuit breakers.
func featureResources(t testing.TB) *meshxds.Resources {
	t.Helper()
	yaml := `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo.test]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: 8001}, labels: {version: a}}
  - {address: 127.0.0.2, ports: {http: 8002}, labels: {version: b}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: echo.test
  trafficPolicy:
    connectionPool: {tcp: {maxConnections: 10, connectTimeout: 2s}, http: {http1MaxPendingRequests: 5, maxRequestsPerConnection: 3, maxRetries: 2}}
    outlierDetection: {consecutive5xxErrors: 3, interval: 5s, baseEjectionTime: 30s, maxEjectionPercent: 50}
    loadBalancer: {consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 1024}}}
  subsets:
  - {name: a, labels: {version: a}}
  - {name: b, labels: {version: b}, trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: s, ttl: 10s}, maglev: {tableSize: 65537}}}}}
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  gateways: [istio-system/gw]
  hosts: ["*"]
  http:
  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, authority: new.test, redirectCode: 308}
  - match: [{uri: {exact: /teapot}}]
    directResponse: {status: 418, body: {string: short and stout}}
  - match: [{uri: {regex: "/r/[0-9]+"}, headers: {x-a: {exact: a}, x-b: {prefix: b}, x-c: {regex: "c+"}}, queryParams: {q: {exact: "1"}}}]
    route: [{destination: {host: echo.test, subset: a}}]
    rewrite: {uri: /, authority: rewritten.test}
    headers: {request: {set: {x-set: "1"}, add: {x-add: "2"}, remove: [x-remove]}, response: {set: {x-resp: "3"}}}
  - match: [{uri: {prefix: /split}}]
    route:
    - {destination: {host: echo.test, subset: a}, weight: 80, headers: {request: {set: {x-w: a}}}}
    - {destination: {host: echo.test, subset: b}, weight: 20}
    mirror: {host: echo.test, subset: b}
    mirrorPercentage: {value: 10}
    corsPolicy: {allowOrigins: [{exact: "https://a.test"}, {regex: "https://.*[.]b[.]test"}], allowMethods: [GET]}
  - route: [{destination: {host: echo.test, subset: a}}]
    timeout: 3s
    retries: {attempts: 3, perTryTimeout: 1s, retryOn: "5xx,gateway-error"}
    fault: {delay: {fixedDelay: 1s, percentage: {value: 1}}, abort: {httpStatus: 503, percentage: {value: 1}}}
`
	c := &config.Config{}
	if diags := c.Parse("features.yaml", []byte(yaml)); diags.HasErrors() {
		t.Fatalf("%v\n%s", diags.Err(), yaml)
	}
	return compile.Compile(c, nil, gatewayIdentity)
}

// resourcesOf returns every resource of res.
func resourcesOf(res *meshxds.Resources) []proto.Message {
	var out []proto.Message
	for _, c := range res.Clusters {
		out = append(out, c)
	}
	for _, e := range res.Endpoints {
		out = append(out, e)
	}
	for _, l := range res.Listeners {
		out = append(out, l)
	}
	for _, r := range res.Routes {
		out = append(out, r)
	}
	return out
}

// rulesReject returns xdsrules' verdict on the resources of res, as the
// xDS client reaches it: each resource on its own, and each CorsPolicy
// route compilation unpacks.
func rulesReject(res *meshxds.Resources) error {
	var errs []error
	for _, m := range resourcesOf(res) {
		errs = append(errs, xdsrulesCheck(m))
	}
	for _, p := range corsPolicies(res) {
		errs = append(errs, xdsrules.CorsPolicy(p))
	}
	return errors.Join(errs...)
}

func xdsrulesCheck(m proto.Message) error {
	switch m := m.(type) {
	case *clusterv3.Cluster:
		return xdsrules.Cluster(m)
	case *endpointv3.ClusterLoadAssignment:
		return xdsrules.ClusterLoadAssignment(m)
	case *listenerv3.Listener:
		return xdsrules.Listener(m)
	case *routev3.RouteConfiguration:
		return xdsrules.RouteConfiguration(m)
	}
	panic(fmt.Sprintf("no rules for %T", m))
}

// builderRejects returns the proxy builder's verdict on res, without
// binding anything. The role changes only the addresses listeners bind,
// not what the builder refuses, so one role serves every base.
func builderRejects(res *meshxds.Resources) error {
	b := &builder{res: res, opts: &Options{Role: meshxds.Gateway}, store: newStore(time.Unix(0, 0))}
	_, err := b.build()
	return err
}

// corsPolicies returns the CORS filter's per-filter configs of res's
// virtual hosts and routes, as route compilation unpacks them; a config
// that does not unpack is left out (the compiler refuses it).
func corsPolicies(res *meshxds.Resources) []*corsv3.CorsPolicy {
	var out []*corsv3.CorsPolicy
	add := func(cfg map[string]*anypb.Any) {
		if a := cfg[route.CorsFilterName]; a != nil {
			var p corsv3.CorsPolicy
			if a.UnmarshalTo(&p) == nil {
				out = append(out, &p)
			}
		}
	}
	for _, rc := range res.Routes {
		for _, vh := range rc.GetVirtualHosts() {
			add(vh.GetTypedPerFilterConfig())
			for _, r := range vh.GetRoutes() {
				add(r.GetTypedPerFilterConfig())
			}
		}
	}
	return out
}

// pgvError is what protoc-gen-validate's generated errors have.
type pgvError interface {
	error
	Field() string
	Reason() string
	Cause() error
}

// brokenRule is one rule Validate reports broken.
type brokenRule struct {
	path   string // "Route.Match.Headers[0].Name"
	reason string
	read   bool // every step of the path is a field the proxy reads
}

func (b brokenRule) String() string { return "invalid " + b.path + ": " + b.reason }

// validateAll returns every rule ValidateAll reports broken in res's
// resources and CORS policies.
func validateAll(res *meshxds.Resources) []brokenRule {
	var out []brokenRule
	read := readFieldSet()
	for _, m := range resourcesOf(res) {
		out = append(out, brokenRules(m.(interface{ ValidateAll() error }).ValidateAll(), read)...)
	}
	for _, p := range corsPolicies(res) {
		out = append(out, brokenRules(p.ValidateAll(), read)...)
	}
	return out
}

// brokenRules flattens a ValidateAll error into its broken rules, each with
// its field path and whether the proxy reads every field on it.
func brokenRules(err error, read map[string]bool) []brokenRule {
	var out []brokenRule
	var walk func(err error, prefix string, readSoFar bool)
	walk = func(err error, prefix string, readSoFar bool) {
		if err == nil {
			return
		}
		if multi, ok := err.(interface{ AllErrors() []error }); ok {
			for _, e := range multi.AllErrors() {
				walk(e, prefix, readSoFar)
			}
			return
		}
		e, ok := err.(pgvError)
		if !ok {
			out = append(out, brokenRule{path: prefix, reason: err.Error(), read: readSoFar})
			return
		}
		typ := reflect.TypeOf(err)
		msg := strings.TrimSuffix(typ.Name(), "ValidationError")
		field := e.Field()
		key := shortPackage(typ.PkgPath()) + "." + msg + "." + strings.Split(field, "[")[0]
		path := field
		if prefix == "" {
			path = msg + "." + field
		} else {
			path = prefix + "." + field
		}
		isRead := readSoFar && read[key]
		if e.Reason() == "embedded message failed validation" && e.Cause() != nil {
			walk(e.Cause(), path, isRead)
			return
		}
		out = append(out, brokenRule{path: path, reason: e.Reason(), read: isRead})
	}
	walk(err, "", true)
	return out
}

// readFieldSet is testdata/read-fields.txt as a set.
var readFieldSet = sync.OnceValue(func() map[string]bool {
	b, err := os.ReadFile(readFieldsFile)
	if err != nil {
		panic(err)
	}
	out := map[string]bool{}
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" {
			out[line] = true
		}
	}
	return out
})

// agree checks the two properties on res, whose resources may have been
// changed from a valid base.
func agree(t *testing.T, res *meshxds.Resources, what string) {
	t.Helper()
	var readBroken []brokenRule
	pgvRejects := false
	for _, b := range validateAll(res) {
		pgvRejects = true
		if b.read {
			readBroken = append(readBroken, b)
		}
	}
	rulesErr := rulesReject(res)
	if rulesErr != nil && !pgvRejects {
		t.Errorf("%s: xdsrules rejects what Validate accepts: %v", what, rulesErr)
	}
	if len(readBroken) > 0 && rulesErr == nil {
		if err := builderRejects(res); err == nil {
			t.Errorf("%s: Validate finds %v, on fields the proxy reads, but neither xdsrules nor the builder rejects it", what, readBroken)
		}
	}
}

// TestRulesBases: the bases are valid, and what they hold is read.
func TestRulesBases(t *testing.T) {
	for i, res := range bases(t) {
		if len(res.Clusters) == 0 || len(res.Routes) == 0 || len(res.Listeners) == 0 {
			t.Errorf("base %d has %d clusters, %d routes, %d listeners", i, len(res.Clusters), len(res.Routes), len(res.Listeners))
		}
	}
}
