package capture

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestRules(t *testing.T) {
	o := Options{OutboundPort: 15001, ProxyUID: 1337, ExcludePorts: []int{5432},
		ExcludeCIDRs: []netip.Prefix{netip.MustParsePrefix("10.96.0.1/16")}}
	want := `*nat
:LANEMESH_OUTPUT - [0:0]
-A OUTPUT -p tcp -j LANEMESH_OUTPUT
-A LANEMESH_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A LANEMESH_OUTPUT -d 127.0.0.0/8 -j RETURN
-A LANEMESH_OUTPUT -p tcp --dport 5432 -j RETURN
-A LANEMESH_OUTPUT -d 10.96.0.0/16 -j RETURN
-A LANEMESH_OUTPUT -p tcp -j REDIRECT --to-ports 15001
COMMIT
`
	if got := Rules(o, Jumps{Output: true, Prerouting: true}); got != want {
		t.Errorf("Rules:\n%s\nwant:\n%s", got, want)
	}
	if got := Rules(o, Jumps{}); strings.Contains(got, "-A OUTPUT") {
		t.Errorf("Rules without the jump still jumps:\n%s", got)
	}
}

// TestIncludeCIDRs: with include CIDRs, only they are redirected; an
// empty list redirects nothing.
func TestIncludeCIDRs(t *testing.T) {
	o := Options{OutboundPort: 15001, ProxyUID: 1337, IncludeCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8"), netip.MustParsePrefix("192.168.1.0/24")}}
	got := Rules(o, Jumps{})
	want := "-A LANEMESH_OUTPUT -d 10.0.0.0/8 -p tcp -j REDIRECT --to-ports 15001\n-A LANEMESH_OUTPUT -d 192.168.1.0/24 -p tcp -j REDIRECT --to-ports 15001\nCOMMIT\n"
	if !strings.HasSuffix(got, want) || strings.Contains(got, "-A LANEMESH_OUTPUT -p tcp -j REDIRECT") {
		t.Errorf("Rules:\n%s\nwant it to end with:\n%s", got, want)
	}
	o.IncludeCIDRs = []netip.Prefix{}
	if got := Rules(o, Jumps{}); strings.Contains(got, "REDIRECT") {
		t.Errorf("no include CIDR still redirects:\n%s", got)
	}
	for in, want := range map[string]string{"10.0.0.0/8, 1.2.3.4": "[10.0.0.0/8 1.2.3.4/32]", "": "[]", "fd00::/8": "only IPv4", "10.0.0/8": "not a CIDR"} {
		got, err := ParseCIDRs(in)
		if s := fmt.Sprint(got); err != nil && !strings.Contains(err.Error(), want) || err == nil && s != want {
			t.Errorf("ParseCIDRs(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		o    Options
		want string
	}{
		"ok":           {Options{OutboundPort: 15001, ProxyUID: 1337}, ""},
		"no port":      {Options{ProxyUID: 1337}, "outbound port 0"},
		"port too big": {Options{OutboundPort: 70000, ProxyUID: 1337}, "outbound port 70000"},
		"bad uid":      {Options{OutboundPort: 15001, ProxyUID: -1}, "proxy uid -1"},
		"bad exclude":  {Options{OutboundPort: 15001, ExcludePorts: []int{0}}, "excluded port 0"},
		"ipv6 cidr":    {Options{OutboundPort: 15001, ExcludeCIDRs: []netip.Prefix{netip.MustParsePrefix("fd00::/8")}}, "only IPv4"},
	} {
		err := tc.o.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
}

func TestInboundRules(t *testing.T) {
	base := Options{OutboundPort: 15001, ProxyUID: 1337, InboundPort: 15006}
	outbound := `-A LANEMESH_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A LANEMESH_OUTPUT -d 127.0.0.0/8 -j RETURN
-A LANEMESH_OUTPUT -p tcp -j REDIRECT --to-ports 15001
`
	for name, tc := range map[string]struct {
		edit func(*Options)
		want string
	}{
		"every port": {func(o *Options) { o.ExcludeInboundPorts = []int{15021} }, `-A LANEMESH_INBOUND -p tcp --dport 15006 -j RETURN
-A LANEMESH_INBOUND -p tcp --dport 15001 -j RETURN
-A LANEMESH_INBOUND -p tcp --dport 15021 -j RETURN
-A LANEMESH_INBOUND -p tcp -j REDIRECT --to-ports 15006
`},
		"listed ports": {func(o *Options) { o.InboundPorts, o.ExcludeInboundPorts = []int{8000, 9000, 15001}, []int{9000} },
			`-A LANEMESH_INBOUND -p tcp --dport 8000 -j REDIRECT --to-ports 15006
`},
	} {
		o := base
		tc.edit(&o)
		if err := o.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := "*nat\n:LANEMESH_OUTPUT - [0:0]\n:LANEMESH_INBOUND - [0:0]\n-A OUTPUT -p tcp -j LANEMESH_OUTPUT\n" +
			"-A PREROUTING -p tcp -j LANEMESH_INBOUND\n" + outbound + tc.want + "COMMIT\n"
		if got := Rules(o, Jumps{Output: true, Prerouting: true}); got != want {
			t.Errorf("%s:\n%s\nwant:\n%s", name, got, want)
		}
	}
	// Without an inbound port there is no inbound chain at all.
	if got := Rules(Options{OutboundPort: 15001}, Jumps{Output: true, Prerouting: true}); strings.Contains(got, InboundChain) {
		t.Errorf("inbound rules without an inbound port:\n%s", got)
	}
	for name, o := range map[string]Options{
		"same as outbound":     {OutboundPort: 15001, InboundPort: 15001},
		"ports without port":   {OutboundPort: 15001, InboundPorts: []int{8000}},
		"bad inbound port":     {OutboundPort: 15001, InboundPort: 15006, InboundPorts: []int{0}},
		"inbound port too big": {OutboundPort: 15001, InboundPort: 70000},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
}
