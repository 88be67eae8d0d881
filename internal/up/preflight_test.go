package up

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestStartNamesWhatHoldsAnAddress: a taken admin, xDS, gateway or gateway
// admin address stops Start before anything runs, with an error that says
// who holds it and which flag moves the mesh; a pod CIDR outside loopback
// is refused with the reason.
func TestStartNamesWhatHoldsAnAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	free := "127.0.0.1:0"
	holder := ""
	if runtime.GOOS == "linux" {
		holder = fmt.Sprintf(" by pid %d (up.test)", os.Getpid())
	}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"admin", Options{Admin: taken, XDS: free, GatewayAdmin: free, Metrics: free, PortMap: map[uint32]string{80: free}}, taken + " is in use" + holder + " (another lanemesh up? pass --admin)"},
		{"xds", Options{Admin: free, XDS: taken, GatewayAdmin: free, Metrics: free, PortMap: map[uint32]string{80: free}}, taken + " is in use" + holder + " (another lanemesh up? pass --xds)"},
		{"gateway admin", Options{Admin: free, XDS: free, GatewayAdmin: taken, Metrics: free, PortMap: map[uint32]string{80: free}}, "pass --gateway-admin"},
		{"metrics", Options{Admin: free, XDS: free, GatewayAdmin: free, Metrics: taken, PortMap: map[uint32]string{80: free}}, "pass --metrics"},
		{"gateway port", Options{Admin: free, XDS: free, GatewayAdmin: free, Metrics: free, PortMap: map[uint32]string{80: taken}}, "pass --port-map 80=HOST:PORT"},
		{"pod cidr", Options{Admin: free, XDS: free, GatewayAdmin: free, Metrics: free, PortMap: map[uint32]string{80: free}, PodCIDR: "10.0.5.0/24"},
			"--pod-cidr: pod range 10.0.5.0/24 is not loopback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, err := Start(t.Context(), tc.opts)
			if err == nil {
				t.Fatalf("Start succeeded (%v), want %q", m.AdminURL(), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start: %v\nwant it to say %q", err, tc.want)
			}
		})
	}
}
