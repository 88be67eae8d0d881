// Package capture is transparent outbound capture for a sidecar: the
// iptables rules an init container installs in a pod's network namespace
// so that every outbound TCP connection of the app reaches the sidecar's
// outbound listener without the app knowing (as Istio's istio-iptables
// does), and OriginalDst, with which the sidecar reads where a redirected
// connection was going.
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
)

// Chain is the nat chain lanemesh's rules live in.
const Chain = "LANEMESH_OUTPUT"

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
	for _, c := range o.ExcludeCIDRs {
		if !c.Addr().Is4() {
			return fmt.Errorf("excluded CIDR %s: only IPv4 is captured", c)
		}
	}
	return nil
}

// Rules renders the nat table's rules as iptables-restore input, for
// --noflush: Chain is (re)created empty, and jump says whether to add the
// jump from OUTPUT (leave it out when it is there already, so that running
// twice leaves one jump). Order matters: the first RETURN wins.
func Rules(o Options, jump bool) string {
	var b bytes.Buffer
	b.WriteString("*nat\n:" + Chain + " - [0:0]\n")
	if jump {
		b.WriteString("-A OUTPUT -p tcp -j " + Chain + "\n")
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
	rule("-p tcp -j REDIRECT --to-ports " + strconv.Itoa(o.OutboundPort))
	b.WriteString("COMMIT\n")
	return b.String()
}

// Install applies the rules to the network namespace it runs in, with the
// iptables and iptables-restore commands found on PATH.
func Install(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	// -C succeeds when the jump exists already: a restarted init
	// container must not add a second one.
	check := exec.CommandContext(ctx, "iptables", "-w", "-t", "nat", "-C", "OUTPUT", "-p", "tcp", "-j", Chain)
	var exitErr *exec.ExitError
	jump := false
	switch err := check.Run(); {
	case errors.As(err, &exitErr):
		jump = true // no such rule (or no such chain yet)
	case err != nil:
		return fmt.Errorf("iptables: %w (the image needs iptables, and the container NET_ADMIN)", err)
	}
	restore := exec.CommandContext(ctx, "iptables-restore", "-w", "--noflush")
	restore.Stdin = bytes.NewBufferString(Rules(o, jump))
	if out, err := restore.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
