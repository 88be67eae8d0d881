package up

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/lanemesh/lanemesh/internal/local"
)

// preflight checks, before anything starts, that the addresses the mesh
// will listen on are free, and claims the pod range; the error names what
// holds an address and the flag that moves it away. Without it a second
// `up` on the machine would only find out from a sidecar's NACK.
func preflight(opts Options) (*local.PodRange, error) {
	if err := checkFree(listenAddrs(opts)); err != nil {
		return nil, err
	}
	var want netip.Prefix
	if opts.PodCIDR != "" {
		var err error
		if want, err = local.ParsePodCIDR(opts.PodCIDR); err != nil {
			return nil, fmt.Errorf("--pod-cidr: %w", err)
		}
	}
	pods, err := local.ClaimPodRange(want, "")
	if err != nil {
		if want.IsValid() {
			return nil, fmt.Errorf("%w (another lanemesh up? pass another --pod-cidr, or none to pick a free one)", err)
		}
		return nil, err
	}
	return pods, nil
}

// listenAddr is an address the mesh listens on and the flag that sets it.
type listenAddr struct{ addr, flag string }

func listenAddrs(opts Options) []listenAddr {
	out := []listenAddr{{opts.Admin, "--admin"}, {opts.XDS, "--xds"}, {opts.GatewayAdmin, "--gateway-admin"}, {opts.Metrics, "--metrics"}}
	ports := make([]uint32, 0, len(opts.PortMap))
	for p := range opts.PortMap {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	for _, p := range ports {
		out = append(out, listenAddr{opts.PortMap[p], fmt.Sprintf("--port-map %d=HOST:PORT", p)})
	}
	return out
}

// checkFree binds each address and lets it go at once. A port of 0 is
// always free.
func checkFree(addrs []listenAddr) error {
	for _, a := range addrs {
		if a.addr == "" || strings.HasSuffix(a.addr, ":0") {
			continue
		}
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			return inUse(a, err)
		}
		ln.Close()
	}
	return nil
}

// inUse explains a failed bind: who holds the address when it can tell,
// and which flag moves the mesh elsewhere.
func inUse(a listenAddr, err error) error {
	if !errors.Is(err, errAddrInUse) {
		return fmt.Errorf("cannot listen on %s (%s): %w", a.addr, a.flag, err)
	}
	holder := ""
	if h := local.Holder(a.addr); h != "" {
		holder = " by " + h
	}
	return fmt.Errorf("%s is in use%s (another lanemesh up? pass %s)", a.addr, holder, a.flag)
}

// PodCIDR is the range the mesh's pods get their addresses from.
func (m *Mesh) PodCIDR() string { return m.podNet.Prefix.String() }
