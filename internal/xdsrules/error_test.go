package xdsrules

import (
	"errors"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// TestErrorPaths: an error names the field path from the message checked
// down, as Validate's do, and At moves it under the message that holds the
// part checked apart; a valid message gives a nil error, not a nil
// *fieldError.
func TestErrorPaths(t *testing.T) {
	r := &routev3.Route{Match: &routev3.RouteMatch{
		PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
		Headers:       []*routev3.HeaderMatcher{{Name: "ok"}, {Name: "a\nb"}},
	}, Action: &routev3.Route_Route{Route: &routev3.RouteAction{}}}
	err := Route(r)
	const want = `invalid Route.Match.Headers[1].Name: value does not match regex pattern "^[^\x00\n\r]*$"`
	if err == nil || err.Error() != want {
		t.Fatalf("Route = %v, want %s", err, want)
	}
	const wantAt = `invalid VirtualHost.Routes[4].Match.Headers[1].Name: value does not match regex pattern "^[^\x00\n\r]*$"`
	if got := At(err, "VirtualHost", "Routes", 4); got.Error() != wantAt {
		t.Errorf("At = %v, want %s", got, wantAt)
	}
	if err.Error() != want {
		t.Errorf("At changed the error it was given: %v", err)
	}
	other := errors.New("not ours")
	if got := At(other, "VirtualHost", "Routes", 4); got != other {
		t.Errorf("At(%v) = %v, want it unchanged", other, got)
	}
	r.Match.Headers[1].Name = "b"
	if err := Route(r); err != nil {
		t.Fatalf("Route of a valid route = %#v, want nil", err)
	}
}
