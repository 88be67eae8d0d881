// Package capture is transparent capture for a sidecar: the iptables rules
// an init container installs in a pod's network namespace so that every
// outbound TCP connection of the app reaches the sidecar's outbound
// listener, and, when asked, every inbound one its inbound listener,
// without the app knowing (as Istio's istio-iptables does); and
// OriginalDst, with which the sidecar reads where a redirected connection
// was going.
//
// Rules is pure: it renders the rules as iptables-restore input. Install
// feeds them to iptables-restore, the one step that needs NET_ADMIN.
package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
)

// Chain is the nat chain lanemesh's outbound rules live in; InboundChain
// its inbound rules, jumped to from PREROUTING.
const (
	Chain        = "LANEMESH_OUTPUT"
	InboundChain = "LANEMESH_INBOUND"
)

// Options are what the rules redirect and what they leave alone.
type Options struct {
	// OutboundPort is the sidecar's outbound listener on 127.0.0.1: every
	// captured connection is redirected there. Required.
	OutboundPort int
	// ProxyUID is the user the sidecar runs as: its own connections (to
	// the upstreams it chose, and to the control plane) are never
	// captured, or every request would loop back into it. Required.
	ProxyUID int
	// ExcludePorts are destination ports left alone (a database the app
	// reaches directly, say).
	ExcludePorts []int
	// ExcludeCIDRs are destinations left alone. Loopback always is: an
	// app's calls to its own pod, and to the sidecar, stay as they are.
	ExcludeCIDRs []netip.Prefix
	// IncludeCIDRs, when not nil, are the only destinations captured
	// (Istio's includeOutboundIPRanges); empty captures none. nil, Istio's
	// "*", captures every destination not excluded.
	IncludeCIDRs []netip.Prefix

	// InboundPort is the sidecar's inbound listener: inbound TCP
	// connections to the pod are redirected there, and the sidecar passes
	// them on to their original destination. Zero captures no inbound
	// traffic (Istio's includeInboundPorts "").
	InboundPort int
	// InboundPorts are the destination ports captured inbound; empty means
	// every port (Istio's "*") but the excluded ones and the sidecar's own.
	InboundPorts []int
	// ExcludeInboundPorts are destination ports never captured inbound
	// (the sidecar's admin port, say).
	ExcludeInboundPorts []int
}

// ParseCIDRs reads a comma-separated list of IPv4 CIDRs (or addresses,
// each its own /32), as Istio's outbound IP range annotations write them;
// "" is nil.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not a CIDR (such as 10.0.0.0/8) or an address", part)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if !p.Addr().Is4() {
			return nil, fmt.Errorf("%s: only IPv4 is captured", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// Validate reports the first option that cannot make a rule.
func (o Options) Validate() error {
	switch {
	case o.OutboundPort <= 0 || o.OutboundPort > 65535:
		return fmt.Errorf("outbound port %d: want 1-65535", o.OutboundPort)
	case o.ProxyUID < 0:
		return fmt.Errorf("proxy uid %d: want the uid the sidecar runs as", o.ProxyUID)
	}
	for _, p := range o.ExcludePorts {
		if p <= 0 || p > 65535 {
			return fmt.Errorf("excluded port %d: want 1-65535", p)
		}
	}
	if o.InboundPort < 0 || o.InboundPort > 65535 || o.InboundPort == o.OutboundPort {
		return fmt.Errorf("inbound port %d: want 1-65535 (0 for no inbound capture), other than the outbound port", o.InboundPort)
	}
	if o.InboundPort == 0 && len(o.InboundPorts)+len(o.ExcludeInboundPorts) > 0 {
		return fmt.Errorf("inbound ports are listed but the inbound port is 0: give the sidecar's inbound listener port")
	}
	for _, p := range append(append([]int(nil), o.InboundPorts...), o.ExcludeInboundPorts...) {
		if p <= 0 || p > 65535 {
			return fmt.Errorf("inbound port %d: want 1-65535", p)
		}
	}
	for _, c := range append(append([]netip.Prefix(nil), o.ExcludeCIDRs...), o.IncludeCIDRs...) {
		if !c.Addr().Is4() {
			return fmt.Errorf("CIDR %s: only IPv4 is captured", c)
		}
	}
	return nil
}

// Jumps says which jumps into lanemesh's chains Rules adds: those not
// there already, so that running twice leaves one of each.
type Jumps struct {
	Output, Prerouting bool
}

// Rules renders the nat table's rules as iptables-restore input, for
// --noflush: the chains are (re)created empty, and jumps says which jumps
// from OUTPUT and PREROUTING to add. Order matters: the first RETURN wins.
func Rules(o Options, jumps Jumps) string {
	var b bytes.Buffer
	b.WriteString("*nat\n:" + Chain + " - [0:0]\n")
	if o.InboundPort > 0 {
		b.WriteString(":" + InboundChain + " - [0:0]\n")
	}
	if jumps.Output {
		b.WriteString("-A OUTPUT -p tcp -j " + Chain + "\n")
	}
	if jumps.Prerouting && o.InboundPort > 0 {
		b.WriteString("-A PREROUTING -p tcp -j " + InboundChain + "\n")
	}
	rule := func(args string) { b.WriteString("-A " + Chain + " " + args + "\n") }
	rule("-m owner --uid-owner " + strconv.Itoa(o.ProxyUID) + " -j RETURN")
	rule("-d 127.0.0.0/8 -j RETURN")
	for _, p := range o.ExcludePorts {
		rule("-p tcp --dport " + strconv.Itoa(p) + " -j RETURN")
	}
	for _, c := range o.ExcludeCIDRs {
		rule("-d " + c.Masked().String() + " -j RETURN")
	}
	redirect := "-p tcp -j REDIRECT --to-ports " + strconv.Itoa(o.OutboundPort)
	if o.IncludeCIDRs == nil {
		rule(redirect)
	}
	for _, c := range o.IncludeCIDRs { // what none names leaves the chain: not captured
		rule("-d " + c.Masked().String() + " " + redirect)
	}
	if o.InboundPort > 0 {
		inboundRules(&b, o)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// inboundRules redirects inbound connections to the pod to the sidecar's
// inbound port, but those to the sidecar's own ports and the excluded
// ones. Connections the pod makes to itself never pass PREROUTING (nat
// sees them in OUTPUT), so the sidecar's connection to the app, and the
// app's to itself, are not captured here.
func inboundRules(b *bytes.Buffer, o Options) {
	rule := func(args string) { b.WriteString("-A " + InboundChain + " " + args + "\n") }
	redirect := " -j REDIRECT --to-ports " + strconv.Itoa(o.InboundPort)
	excluded := map[int]bool{o.InboundPort: true, o.OutboundPort: true}
	for _, p := range o.ExcludeInboundPorts {
		excluded[p] = true
	}
	if len(o.InboundPorts) > 0 {
		for _, p := range o.InboundPorts {
			if !excluded[p] {
				rule("-p tcp --dport " + strconv.Itoa(p) + redirect)
			}
		}
		return
	}
	for _, p := range append([]int{o.InboundPort, o.OutboundPort}, o.ExcludeInboundPorts...) {
		rule("-p tcp --dport " + strconv.Itoa(p) + " -j RETURN")
	}
	rule("-p tcp" + redirect)
}

// Install applies the rules to the network namespace it runs in, with the
// iptables and iptables-restore commands found on PATH.
func Install(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	var jumps Jumps
	var err error
	if jumps.Output, err = needsJump(ctx, "OUTPUT", Chain); err != nil {
		return err
	}
	if o.InboundPort > 0 {
		if jumps.Prerouting, err = needsJump(ctx, "PREROUTING", InboundChain); err != nil {
			return err
		}
	}
	restore := exec.CommandContext(ctx, "iptables-restore", "-w", "--noflush")
	restore.Stdin = bytes.NewBufferString(Rules(o, jumps))
	if out, err := restore.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// needsJump reports whether the nat table's from chain lacks its jump to
// to. iptables -C succeeds when the jump exists already: a restarted init
// container must not add a second one.
func needsJump(ctx context.Context, from, to string) (bool, error) {
	check := exec.CommandContext(ctx, "iptables", "-w", "-t", "nat", "-C", from, "-p", "tcp", "-j", to)
	var exitErr *exec.ExitError
	switch err := check.Run(); {
	case errors.As(err, &exitErr):
		return true, nil // no such rule (or no such chain yet)
	case err != nil:
		return false, fmt.Errorf("iptables: %w (the image needs iptables, and the container NET_ADMIN)", err)
	}
	return false, nil
}
