package local

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestParsePodCIDR(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "127.0.5.0/24", want: "127.0.5.0/24"},
		{in: "127.0.5.9/24", want: "127.0.5.0/24"},
		{in: "127.3.0.0/16", want: "127.3.0.0/16"},
		{in: "10.0.0.0/24", err: "not loopback"},
		{in: "::1/128", err: "not loopback"},
		{in: "127.0.0.0/24", err: "127.0.0.1"},
		{in: "127.0.0.0/8", err: "too large"},
		{in: "127.0.5.0/31", err: "too small"},
		{in: "127.0.5.0", err: "not a CIDR"},
	} {
		got, err := ParsePodCIDR(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrPodRange)):
			t.Errorf("ParsePodCIDR(%q) = %v, %v; want an ErrPodRange saying %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || got.String() != tc.want):
			t.Errorf("ParsePodCIDR(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestPodRangeAddresses(t *testing.T) {
	r := &PodRange{Prefix: netip.MustParsePrefix("127.0.4.0/23")}
	for n, want := range map[int]string{1: "127.0.4.1", 255: "127.0.4.255", 256: "127.0.5.0", 510: "127.0.5.254", 511: "", 0: ""} {
		if got, _ := r.Address(n); got != want {
			t.Errorf("Address(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestClaimPodRangeNeverSharesOne: two claims without a range get two
// ranges; asking for a range another holds fails naming its pid; a range
// on which something listens is skipped, and refused when asked for.
func TestClaimPodRangeNeverSharesOne(t *testing.T) {
	dir := t.TempDir()
	a, err := ClaimPodRange(netip.Prefix{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ClaimPodRange(netip.Prefix{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Prefix == b.Prefix {
		t.Fatalf("two claims got the same range %s", a.Prefix)
	}
	_, err = ClaimPodRange(a.Prefix, dir)
	if want := fmt.Sprintf("pid %d", os.Getpid()); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("claiming a held range: %v, want an error naming %s", err, want)
	}
	b.Close()
	c, err := ClaimPodRange(b.Prefix, dir)
	if err != nil {
		t.Fatalf("a released range cannot be claimed again: %v", err)
	}
	c.Close()

	busy := netip.MustParsePrefix("127.0.250.0/24")
	ln, err := net.Listen("tcp", "127.0.250.7:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = ClaimPodRange(busy, dir)
	if want := ln.Addr().String() + " is held by pid " + fmt.Sprint(os.Getpid()); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("claiming a range something listens on: %v, want an error saying %q", err, want)
	}
}
