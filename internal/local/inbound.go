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
	if r.opts.InboundCapture == nil || r.opts.Sidecar == nil || c == nil || !isMock(c.Image) {
		return
	}
	port := appPort(*c)
	if port == innerAppPort {
		r.log.Warn("the app's port is the one its sidecar would move it to: inbound traffic is not intercepted", "pod", p.key(), "port", port)
		return
	}
	if !r.opts.InboundCapture(p.info) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p.info.InboundAddr = net.JoinHostPort(p.info.IP, strconv.Itoa(int(port)))
	p.info.AppAddr = net.JoinHostPort(p.info.IP, strconv.Itoa(innerAppPort))
	r.log.Info("pod inbound traffic goes through its sidecar", "pod", p.key(), "sidecar", p.info.InboundAddr, "app", p.info.AppAddr)
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
