package up

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/lanemesh/lanemesh/internal/compile"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/lanemesh/lanemesh/internal/dashboard"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/proxy"
	"github.com/lanemesh/lanemesh/internal/workload"
)

// sidecar is one running sidecar proxy of a pod.
type sidecar struct {
	stop context.CancelFunc // stops the proxy and its xDS client

	mu     sync.Mutex
	nacked error // why the last update was rejected, nil if none was
}

// sidecarStartTimeout bounds how long a sidecar may take to get and apply
// its first configuration before its start counts as failed.
const sidecarStartTimeout = 10 * time.Second

// startSidecar is the runner's SidecarFunc: a sidecar proxy on the pod's
// own address, fed by the control plane, alive until ctx is done or it
// stops by itself, which the returned Done reports to the runner, so that
// the pod goes unready at once and the sidecar is restarted.
func (m *Mesh) startSidecar(ctx context.Context, pod local.PodInfo) (local.Sidecar, error) {
	key := pod.Namespace + "/" + pod.Name
	addr := net.JoinHostPort(pod.IP, fmt.Sprint(meshxds.SidecarListenerPort))
	identity := meshxds.Proxy{Role: meshxds.Sidecar, Namespace: pod.Namespace, Labels: pod.Labels, Inbound: pod.AppAddr != ""}
	reg, unregister := m.scrape.add(pod.Namespace, pod.Name)
	logs := m.sidecarLogs(key)
	accessLog := io.Writer(logs)
	if m.opts.AccessLog != nil {
		accessLog = io.MultiWriter(m.opts.AccessLog, logs)
	}
	// The pod's sidecar log (`lanemesh logs POD -c sidecar`) is its access
	// log and its own messages from info up, whatever --log-level says
	// about the mesh's log.
	logger := slog.New(slog.NewMultiHandler(m.log.Handler(), slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	p, err := proxy.New(proxy.Options{Role: meshxds.Sidecar, OutboundAddr: addr, AccessLog: accessLog,
		InboundAddr: pod.InboundAddr, InboundApp: pod.AppAddr,
		PathNormalization: m.opts.PathNormalization, Registry: reg,
		Logger: logger.With("part", "sidecar", "pod", key),
		Source: proxy.SourceInfo{Namespace: pod.Namespace, Name: pod.Name, Workload: workload.NameFromOwner(pod.Owner, pod.Name),
			Labels: pod.Labels},
		Tracing: m.opts.tracingFor("sidecar~" + key)})
	if err != nil {
		unregister()
		return local.Sidecar{}, fmt.Errorf("sidecar of %s: %w", key, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	sc := &sidecar{stop: cancel}
	m.track(ctx, "sidecar~"+key, dashboard.Gathered{Name: cmp.Or(pod.Labels["app"], pod.Name), Gatherer: reg})
	apply := func(res *meshxds.Resources) error {
		err := p.Apply(res)
		sc.mu.Lock()
		sc.nacked = err
		sc.mu.Unlock()
		return err
	}
	ran := m.connect(ctx, p, "sidecar~"+key, identity, apply)
	done := make(chan error, 1)
	m.draining.Add(1)
	go func() { <-ran; m.draining.Done() }()
	go func() {
		// The sidecar has stopped serving as soon as it is told to stop:
		// its listener closes first, and the requests it still finishes
		// are no reason to keep its pod ready a moment longer.
		var err error
		select {
		case err = <-ran:
		case <-ctx.Done():
		}
		cancel() // the xDS client goes with its proxy
		unregister()
		m.mu.Lock()
		if m.sidecars[key] == sc {
			delete(m.sidecars, key)
		}
		m.mu.Unlock()
		done <- err
	}()
	if err := waitReady(ctx, p, sc, addr); err != nil {
		cancel()
		<-done
		return local.Sidecar{}, fmt.Errorf("sidecar of %s: %w", key, err)
	}
	m.mu.Lock()
	m.sidecars[key] = sc
	m.mu.Unlock()
	outbound := p.OutboundAddr().String()
	go func() {
		if err := watchListener(ctx, outbound, sidecarProbe); err != nil {
			m.log.Error("sidecar stopped accepting connections; restarting it", "pod", key, "err", err)
			cancel()
		}
	}()
	return local.Sidecar{ProxyURL: "http://" + outbound, Done: done}, nil
}

// inboundCapture is the runner's InboundCapture: a pod's inbound traffic
// passes its sidecar when the sidecar has lane propagation to do there (a
// permissive lane group whose apps do not carry the route header), and
// only then, since it costs every request to the pod a hop.
func (m *Mesh) inboundCapture(pod local.PodInfo) bool {
	m.mu.Lock()
	cfg := m.cfg
	m.mu.Unlock()
	return cfg != nil && compile.Propagation(cfg, meshxds.Proxy{Role: meshxds.Sidecar, Namespace: pod.Namespace, Labels: pod.Labels}) != nil
}

// sidecarLogs returns the log buffer of the pod's sidecar, the same one
// across restarts of the sidecar, as a container's log survives restarts.
func (m *Mesh) sidecarLogs(key string) *local.LogBuffer {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.proxyLogs[key]
	if b == nil {
		b = local.NewLogBuffer(sidecarLogLimit)
		m.proxyLogs[key] = b
	}
	return b
}

// sidecarLogLimit is how much of each sidecar's log is kept.
const sidecarLogLimit = 128 << 10

// probeSettings are a liveness check's period, timeout and the consecutive
// failures that fail it.
type probeSettings struct {
	period, timeout time.Duration
	failures        int
}

// sidecarProbe checks a sidecar's outbound listener as the kubelet probes
// istio-proxy: a sidecar whose Run still runs but whose socket is gone
// (closed under it, so connections are refused) is as dead as one that
// exited, and is stopped so that the runner restarts it.
var sidecarProbe = probeSettings{period: time.Second, timeout: time.Second, failures: 3}

// watchListener connects to addr every period until ctx is done (nil) or
// failures connections in a row have failed (the last error).
func watchListener(ctx context.Context, addr string, ps probeSettings) error {
	failed := 0
	tick := time.NewTicker(ps.period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		d := net.Dialer{Timeout: ps.timeout}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			conn.Close()
			failed = 0
			continue
		}
		if failed++; failed >= ps.failures {
			return err
		}
	}
}

// waitReady waits for a sidecar's first configuration, so its app never
// starts with a proxy that would answer 404 NR. A configuration rejected
// because the pod's address is taken fails at once, naming what holds it;
// when it times out, the error carries the last rejection.
func waitReady(ctx context.Context, p *proxy.Proxy, sc *sidecar, addr string) error {
	deadline := time.After(sidecarStartTimeout)
	for !p.Ready() {
		sc.mu.Lock()
		nacked := sc.nacked
		sc.mu.Unlock()
		if errors.Is(nacked, errAddrInUse) {
			if h := local.Holder(addr); h != "" {
				return fmt.Errorf("%s is in use by %s: %w", addr, h, nacked)
			}
			return nacked
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			sc.mu.Lock()
			nacked := sc.nacked
			sc.mu.Unlock()
			if nacked != nil {
				return fmt.Errorf("no configuration applied within %v: %w", sidecarStartTimeout, nacked)
			}
			return fmt.Errorf("got no configuration within %v", sidecarStartTimeout)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// errNoSidecar is returned by KillSidecar for a pod without a running
// sidecar.
var errNoSidecar = errors.New("no running sidecar")

// KillSidecar stops the sidecar of pod namespace/name as if it had died:
// its listener closes at once (requests in flight drain as on SIGTERM) and
// its xDS client disconnects. The runner sees a sidecar that stopped by
// itself and treats it as a crashed container: the pod goes unready at
// once and the sidecar is restarted after a back-off. It is the fault
// behind the tests that prove a dead sidecar makes traffic fall back.
func (m *Mesh) KillSidecar(namespace, name string) error {
	m.mu.Lock()
	sc := m.sidecars[namespace+"/"+name]
	m.mu.Unlock()
	if sc == nil {
		return fmt.Errorf("pod %s/%s: %w", namespace, name, errNoSidecar)
	}
	sc.stop()
	return nil
}
