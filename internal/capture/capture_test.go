package capture

import (
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
	if got := Rules(o, true); got != want {
		t.Errorf("Rules:\n%s\nwant:\n%s", got, want)
	}
	if got := Rules(o, false); strings.Contains(got, "-A OUTPUT") {
		t.Errorf("Rules without the jump still jumps:\n%s", got)
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
