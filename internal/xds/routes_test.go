package xds

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/lanemesh/lanemesh/internal/xdsrules"
)

// TestUnpackRouteAgrees: unpackRoute, with or without virtual hosts to
// reuse, accepts exactly what proto.Unmarshal and
// xdsrules.RouteConfiguration accept, and decodes it to the same route
// configuration, with the same error.
func TestUnpackRouteAgrees(t *testing.T) {
	res := compiled(t, baseDir, fallbackDir)
	good := res.Routes[0]
	if len(good.GetVirtualHosts()) < 2 {
		t.Fatalf("the tutorial's sidecar routes have %d virtual hosts; the test needs two", len(good.GetVirtualHosts()))
	}
	marshal := func(m proto.Message) []byte {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// warm has decoded the tutorial's routes, so that virtual hosts the
	// cases leave alone come from it.
	var cold *routeParts
	rc, vhs, err := cold.unpackRoute(marshal(good))
	if err != nil {
		t.Fatal(err)
	}
	warm := routePartsOf([]*decoded{{res: rc, vhosts: vhs}})
	edit := func(f func(*routev3.RouteConfiguration)) []byte {
		rc := proto.Clone(good).(*routev3.RouteConfiguration)
		f(rc)
		return marshal(rc)
	}
	for _, tc := range []struct {
		name   string
		wire   []byte
		reject bool
	}{
		{"tutorial", marshal(good), false},
		{"no virtual hosts", edit(func(rc *routev3.RouteConfiguration) { rc.VirtualHosts = nil }), false},
		{"odd but valid domains", edit(func(rc *routev3.RouteConfiguration) {
			rc.VirtualHosts[1].Domains = []string{"", "*", "ünï.example:80", "a b\t", "dup", "dup"}
		}), false},
		{"name after the virtual hosts, unknown field", append(marshal(good),
			protowire.AppendVarint(protowire.AppendTag(protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "other"), 999, protowire.VarintType), 7)...), false},
		{"virtual_hosts as a varint", protowire.AppendVarint(protowire.AppendTag(marshal(good), virtualHostsField, protowire.VarintType), 1), false},
		{"one route changed", edit(func(rc *routev3.RouteConfiguration) { rc.VirtualHosts[1].Routes[0].Name = "changed" }), false},
		{"route without a match", edit(func(rc *routev3.RouteConfiguration) { rc.VirtualHosts[1].Routes[0].Match = nil }), true},
		{"no domains", edit(func(rc *routev3.RouteConfiguration) { rc.VirtualHosts[1].Domains = nil }), true},
		{"newline", edit(func(rc *routev3.RouteConfiguration) { rc.VirtualHosts[1].Domains[0] = "a\nb" }), true},
		{"carriage return", edit(func(rc *routev3.RouteConfiguration) {
			rc.VirtualHosts[0].Domains = append(rc.VirtualHosts[0].Domains, "a\r")
		}), true},
		{"NUL", edit(func(rc *routev3.RouteConfiguration) { rc.VirtualHosts[1].Domains[0] = "\x00" }), true},
		{"nameless virtual host", edit(func(rc *routev3.RouteConfiguration) { rc.VirtualHosts[1].Name = "" }), true},
		{"nameless and no domains", edit(func(rc *routev3.RouteConfiguration) {
			rc.VirtualHosts[1].Name, rc.VirtualHosts[0].Domains = "", nil
		}), true},
		{"bad field beside the routes", edit(func(rc *routev3.RouteConfiguration) {
			rc.VirtualHosts[1].RequireTls = 7
		}), true},
		{"bad field in a later route", edit(func(rc *routev3.RouteConfiguration) {
			last := rc.VirtualHosts[1].Routes[len(rc.VirtualHosts[1].Routes)-1]
			last.RequestHeadersToRemove = []string{"a\nb"}
		}), true},
		{"truncated", marshal(good)[:len(marshal(good))-3], true},
		{"invalid UTF-8 in a virtual host", bytes.Replace(edit(func(rc *routev3.RouteConfiguration) {
			rc.VirtualHosts[1].Domains[0] = "~~~~"
		}), []byte("~~~~"), []byte("\xff\xfe\xff\xfe"), 1), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := &routev3.RouteConfiguration{}
			wantErr := proto.Unmarshal(tc.wire, want)
			if wantErr == nil {
				if wantErr = xdsrules.RouteConfiguration(want); wantErr != nil {
					wantErr = fmt.Errorf("%q: %w", want.GetName(), wantErr)
				}
			}
			if (wantErr != nil) != tc.reject {
				t.Fatalf("proto.Unmarshal and xdsrules: %v; want rejected %v", wantErr, tc.reject)
			}
			for _, from := range []*routeParts{cold, warm} {
				got, _, err := from.unpackRoute(tc.wire)
				switch {
				case (err != nil) != tc.reject:
					t.Fatalf("unpackRoute: %v; proto.Unmarshal and xdsrules: %v", err, wantErr)
				case err != nil && strings.HasPrefix(wantErr.Error(), "\"") && err.Error() != wantErr.Error():
					t.Fatalf("unpackRoute: %v; xdsrules on the whole configuration: %v", err, wantErr)
				case err == nil && !proto.Equal(got, want):
					t.Fatalf("unpackRoute decoded\n%v\nwant\n%v", got, want)
				}
			}
		})
	}
}

// TestDecodeReusesVirtualHostsAndRoutes: when the fallback changes some
// routes of a route configuration, the virtual hosts and routes it leaves
// as they were are the ones decoded before.
func TestDecodeReusesVirtualHostsAndRoutes(t *testing.T) {
	base := compiled(t, baseDir)
	fallback := compiled(t, baseDir, fallbackDir)
	first, err := decode(routes, response(t, base, routes), &typeState{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := decode(routes, response(t, fallback, routes), &first)
	if err != nil {
		t.Fatal(err)
	}
	before, after := first.items["outbound"].(*routev3.RouteConfiguration), second.items["outbound"].(*routev3.RouteConfiguration)
	if before == nil || after == nil || before == after {
		t.Fatalf("route configuration outbound: before %p, after %p; want two", before, after)
	}
	reused := map[any]bool{}
	for _, vh := range before.GetVirtualHosts() {
		reused[vh] = true
		for _, r := range vh.GetRoutes() {
			reused[r] = true
		}
	}
	var vhosts, routesReused, routesNew int
	for _, vh := range after.GetVirtualHosts() {
		if reused[vh] {
			vhosts++
		}
		for _, r := range vh.GetRoutes() {
			if reused[r] {
				routesReused++
			} else {
				routesNew++
			}
		}
	}
	if vhosts == 0 || vhosts == len(after.GetVirtualHosts()) || routesReused <= vhosts || routesNew == 0 {
		t.Errorf("reused %d of %d virtual hosts, %d routes (decoded %d afresh)", vhosts, len(after.GetVirtualHosts()), routesReused, routesNew)
	}
}
