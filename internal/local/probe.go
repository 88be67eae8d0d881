package local

import (
	"context"
	"crypto/tls"
	"fmt"
	"github.com/lanemesh/lanemesh/internal/wait"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/lanemesh/lanemesh/api"
)

// Probe defaults. Kubernetes probes every 10s; a local pod restarts in
// milliseconds and `lanemesh up` is interactive, so local mode probes every
// second unless the probe says otherwise.
const (
	defaultPeriod  = time.Second
	defaultTimeout = time.Second
	defaultFailure = 3
	defaultSuccess = 1
	// startupPoll is how often a pod that has never been ready is probed
	// (never less often than its period). Local apps come up within
	// milliseconds; waiting a whole period for the first success would only
	// delay `up`. Kubernetes users get the same from a startupProbe.
	startupPoll = 100 * time.Millisecond
)

// prober runs one app's readiness checks.
type prober struct {
	check        func(ctx context.Context) error
	initialDelay time.Duration
	period       time.Duration
	timeout      time.Duration
	success      int // consecutive successes that make the app ready
	failure      int // consecutive failures that make a ready app unready
}

// newProbeClient returns the client HTTP probes share: no proxy, no
// connection reuse (each probe is a fresh connection, as the kubelet's), and
// no certificate checks for HTTPS probes, again as the kubelet does.
func newProbeClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // the kubelet does not verify either
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// newProber builds the readiness check of p's container: its readinessProbe
// if it has one, else a TCP connect to the port the app serves on.
func (r *Runner) newProber(p *pod) prober {
	return newProber(r.probes, p.container, p.info.probeAddr)
}

// newProber builds the readiness check of container c, whose port n is at
// addr(n).
func newProber(client *http.Client, c *api.Container, addr func(port uint32) string) prober {
	pr := prober{period: defaultPeriod, timeout: defaultTimeout, success: defaultSuccess, failure: defaultFailure}
	if c == nil {
		pr.check = func(context.Context) error { return errNoContainer }
		return pr
	}
	probe := c.ReadinessProbe
	if probe == nil {
		pr.check = tcpCheck(addr(appPort(*c)))
		return pr
	}
	pr.initialDelay = seconds(probe.InitialDelaySeconds, 0)
	pr.period = seconds(probe.PeriodSeconds, pr.period)
	pr.timeout = seconds(probe.TimeoutSeconds, pr.timeout)
	pr.success = int(orDefault(probe.SuccessThreshold, defaultSuccess))
	pr.failure = int(orDefault(probe.FailureThreshold, defaultFailure))
	pr.check = probeCheck(client, *c, probe, addr)
	return pr
}

func seconds(n int32, def time.Duration) time.Duration {
	if n <= 0 {
		return def
	}
	return time.Duration(n) * time.Second
}

func orDefault(n, def int32) int32 {
	if n <= 0 {
		return def
	}
	return n
}

// probeCheck turns a readinessProbe into a check. A probe that names no
// usable port fails every time, with a message that says why.
func probeCheck(client *http.Client, c api.Container, probe *api.Probe, addr func(uint32) string) func(context.Context) error {
	switch {
	case probe.HTTPGet != nil:
		port, err := resolvePort(c, probe.HTTPGet.Port)
		if err != nil {
			return func(context.Context) error { return err }
		}
		scheme := strings.ToLower(probe.HTTPGet.Scheme)
		if scheme == "" {
			scheme = "http"
		}
		path := probe.HTTPGet.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		return httpCheck(client, scheme+"://"+addr(port)+path)
	case probe.TCPSocket != nil:
		port, err := resolvePort(c, probe.TCPSocket.Port)
		if err != nil {
			return func(context.Context) error { return err }
		}
		return tcpCheck(addr(port))
	default:
		return tcpCheck(addr(appPort(c)))
	}
}

// resolvePort resolves a probe's port: a number, or a container port name.
func resolvePort(c api.Container, port api.IntOrString) (uint32, error) {
	if port.Str == "" {
		if port.Int <= 0 || port.Int > 65535 {
			return 0, fmt.Errorf("readiness probe port %d is not a port", port.Int)
		}
		return uint32(port.Int), nil
	}
	for _, p := range c.Ports {
		if p.Name == port.Str {
			return p.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("readiness probe names port %q, which container %q does not declare", port.Str, c.Name)
}

// httpCheck succeeds when a GET of url answers 2xx or 3xx.
func httpCheck(client *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "lanemesh-probe")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("GET %s answered %d", url, resp.StatusCode)
		}
		return nil
	}
}

// tcpCheck succeeds when addr accepts a connection.
func tcpCheck(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

// run probes until ctx is done, calling report on every result: ready after
// success consecutive successes, unready again after failure consecutive
// failures. The app starts unready.
func (pr prober) run(ctx context.Context, report func(ready bool, msg string)) {
	if !wait.Sleep(ctx, pr.initialDelay) {
		return
	}
	ready, everReady := false, false
	successes, failures := 0, 0
	for {
		cctx, cancel := context.WithTimeout(ctx, pr.timeout)
		err := pr.check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			successes, failures = successes+1, 0
			ready = ready || successes >= pr.success
			everReady = everReady || ready
		} else {
			successes, failures = 0, failures+1
			ready = ready && failures < pr.failure
		}
		report(ready, probeMessage(ready, err))
		if !wait.Sleep(ctx, pr.interval(everReady)) {
			return
		}
	}
}

func (pr prober) interval(everReady bool) time.Duration {
	if everReady {
		return pr.period
	}
	return min(pr.period, startupPoll)
}

func probeMessage(ready bool, err error) string {
	if ready || err == nil {
		return ""
	}
	return "readiness probe failed: " + err.Error()
}
