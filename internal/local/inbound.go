package local

import (
	"net"
	"strconv"
)

// innerAppPort is where, on its own address, the app of a pod whose
// sidecar intercepts inbound traffic listens, the sidecar having taken the
// app's port. It is in the range Istio keeps for its own ports.
const innerAppPort = 15080

// decideCapture asks Options.InboundCapture, once, before the pod's
// sidecar first starts, whether the pod's inbound traffic goes through
// its sidecar, and sets the pod's InboundAddr and AppAddr if so.
func (r *Runner) decideCapture(p *pod) {
	c := p.container
	if c != nil && isMock(c.Image) && appPort(*c) == innerAppPort {
		r.log.Warn("the app's port is the one its sidecar would move it to: inbound traffic is not intercepted", "pod", p.key(), "port", innerAppPort)
	}
	want := r.wantsCapture(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	p.placed = true
	if !want {
		return
	}
	port := appPort(*c)
	p.info.InboundAddr = net.JoinHostPort(p.info.IP, strconv.Itoa(int(port)))
	p.info.AppAddr = net.JoinHostPort(p.info.IP, strconv.Itoa(innerAppPort))
	r.log.Info("pod inbound traffic goes through its sidecar", "pod", p.key(), "sidecar", p.info.InboundAddr, "app", p.info.AppAddr)
}

// wantsCapture reports whether, by the configuration now, p's inbound
// traffic should go through its sidecar: Options.InboundCapture says so,
// and the pod runs the built-in app on another port than innerAppPort.
func (r *Runner) wantsCapture(p *pod) bool {
	c := p.container
	if r.opts.InboundCapture == nil || r.opts.Sidecar == nil || c == nil || !isMock(c.Image) || appPort(*c) == innerAppPort {
		return false
	}
	return r.opts.InboundCapture(p.info)
}

// captureCurrent reports whether p was placed as the configuration now
// wants (see wantsCapture). A pod placed otherwise (its lane group became
// permissive, or stopped being) is replaced like one of an old template,
// each new pod ready before an old one stops: lanes work as soon as the
// change is applied, as in ASM, where every pod's inbound traffic passes
// its sidecar.
// r.mu is held; a pod not placed yet is current.
func (r *Runner) captureCurrent(p *pod) bool {
	return !p.placed || (p.info.InboundAddr != "") == r.wantsCapture(p)
}

// probeAddr is where the pod's container port is reached by a probe: the
// app itself, at AppAddr, when the sidecar listens on the port in its
// place (as Istio's probe rewrite reaches the app, not the sidecar).
func (i PodInfo) probeAddr(port uint32) string {
	addr := net.JoinHostPort(i.IP, strconv.Itoa(int(port)))
	if i.AppAddr != "" && addr == i.InboundAddr {
		return i.AppAddr
	}
	return addr
}
