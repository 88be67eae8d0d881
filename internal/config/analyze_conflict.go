package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/lanemesh/lanemesh/api"
)

// hostClaim is one VirtualService's claim on a host at a binding.
type hostClaim struct {
	vs    *api.VirtualService
	index int // of the host in spec.hosts
}

// conflictingHosts reports VirtualServices bound to mesh that define the
// same host (Istio's IST0109): a sidecar takes one of them, so which one
// routes a request would depend on their order; each one involved gets an
// Error. Hosts are compared as FQDNs. On a Gateway, VirtualServices for
// one host are merged (their routes concatenated), so they do not
// conflict.
func (a *analyzer) conflictingHosts() {
	type key struct{ gateway, host string }
	claims := map[key][]hostClaim{}
	var order []key // first-seen order, so that the output does not depend on map order
	for _, vs := range a.c.VirtualServices {
		ns := vs.Metadata.Namespace
		seen := map[key]bool{}
		for i, h := range vs.Spec.Hosts {
			if h == "" {
				continue
			}
			for _, gw := range bindings(vs.Spec.Gateways, ns) {
				if gw != meshGateway {
					continue
				}
				k := key{gw, FQDN(h, ns)}
				if seen[k] {
					continue
				}
				seen[k] = true
				if claims[k] == nil {
					order = append(order, k)
				}
				claims[k] = append(claims[k], hostClaim{vs, i})
			}
		}
	}
	for _, k := range order {
		cs := claims[k]
		if len(cs) < 2 {
			continue
		}
		msg := fmt.Sprintf("The VirtualServices %s associated with %s define the same host %s which can lead to undefined behavior",
			claimants(cs), gatewayLabel(k.gateway), k.host)
		for _, c := range cs {
			a.errorf(object{"VirtualService", &c.vs.Metadata}, CodeConflictingVS, fmt.Sprintf("spec.hosts[%d]", c.index), msg,
				"merge the conflicting VirtualServices into a single resource, or bind them to different gateways")
		}
	}
}

// claimants lists the VirtualServices of cs as "ns/name,ns/name", in the
// order they are written in the user's files, so the list reads like them.
func claimants(cs []hostClaim) string {
	sorted := slices.Clone(cs)
	slices.SortFunc(sorted, func(x, y hostClaim) int {
		sx, sy := x.vs.Metadata.Source, y.vs.Metadata.Source
		return cmp.Or(cmp.Compare(sx.File, sy.File), cmp.Compare(sx.Line, sy.Line),
			cmp.Compare(x.vs.Metadata.Key(), y.vs.Metadata.Key()))
	})
	names := make([]string, len(sorted))
	for i, c := range sorted {
		names[i] = c.vs.Metadata.Key()
	}
	return strings.Join(names, ",")
}

// gatewayLabel names a binding as istioctl does: "mesh", or
// "gateway ns/name".
func gatewayLabel(gw string) string {
	if gw == meshGateway {
		return meshGateway
	}
	return "gateway " + gw
}
