package local

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/mock"
)

// MockImage is the image name that runs the built-in mock app in-process
// (any tag: lanemesh/mock:latest is the same app).
const MockImage = "lanemesh/mock"

// defaultPort is the port an app is assumed to serve on when its container
// declares none: the mock's default.
const defaultPort = 8000

var errNoContainer = errors.New("pod template has no containers")

// startApp runs the pod's container once, until it exits or ctx is done.
func (r *Runner) startApp(ctx context.Context, p *pod, proxyURL string) error {
	c := p.container
	switch {
	case c == nil:
		return errNoContainer
	case isMock(c.Image):
		return runMock(ctx, *c, envLookup(c.Env), p.info.IP, p.info.AppAddr, proxyURL, p.logs, r.opts.grace())
	default:
		env := processEnv(os.Environ(), *c, p.info.IP, proxyURL)
		if pr := r.opts.PodRange; pr != nil && pr.lockPath != "" {
			// The mark outlives the runner in every descendant, so the next
			// runner to take the lock can find what a killed one left.
			env = append(env, podLockEnv+"="+pr.lockPath)
		}
		argv := append(append([]string(nil), c.Command...), c.Args...)
		return runProcess(ctx, r.starter, argv, c.WorkingDir, env, p.logs, r.opts.grace())
	}
}

func isMock(image string) bool {
	name, _, _ := strings.Cut(image, ":")
	return name == MockImage
}

// runMock runs the mock in-process, configured from getenv, bound to the
// pod's own address (or appAddr, when its sidecar listens there in its
// place) and logging into logs, as the process would. A non-empty proxyURL
// overrides the proxy the environment names.
func runMock(ctx context.Context, c api.Container, getenv func(string) string, ip, appAddr, proxyURL string, logs io.Writer, grace time.Duration) error {
	cfg := mock.ConfigFromEnv(getenv)
	cfg.PodIP = ip
	cfg.Bind = net.JoinHostPort(ip, strconv.Itoa(int(appPort(c))))
	if appAddr != "" {
		cfg.Bind = appAddr
	}
	if proxyURL != "" {
		cfg.HTTPProxy = proxyURL
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg.Grace = grace
	return mock.Run(ctx, cfg)
}

// envLookup looks a variable up in a container's env. A later duplicate
// wins, as in Kubernetes and as in a process's environment.
func envLookup(env []api.EnvVar) func(string) string {
	return func(name string) string {
		for i := len(env) - 1; i >= 0; i-- {
			if env[i].Name == name {
				return env[i].Value
			}
		}
		return ""
	}
}

// appPort is the port the app serves on: its first declared container port,
// else the port of the mock's bind variable, else defaultPort.
func appPort(c api.Container) uint32 {
	if len(c.Ports) > 0 {
		return c.Ports[0].ContainerPort
	}
	if bind := envLookup(c.Env)("bind"); bind != "" {
		if _, port, err := net.SplitHostPort(bind); err == nil {
			if n, err := strconv.ParseUint(port, 10, 16); err == nil && n > 0 {
				return uint32(n)
			}
		}
	}
	return defaultPort
}

// proxyVars are the variables through which the machine's own proxy
// settings would leak into pods; a pod's only proxy is its sidecar.
var proxyVars = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"NO_PROXY": true, "no_proxy": true, "ALL_PROXY": true, "all_proxy": true, "POD_IP": true,
	podLockEnv: true,
}

// processEnv is a process pod's environment: the runner's own (a local
// process needs PATH and HOME, unlike a container) without proxy settings,
// then the container's env, then POD_IP and, with a sidecar, HTTP_PROXY in
// both spellings (Go reads either; curl only the lower-case one).
func processEnv(base []string, c api.Container, ip, proxyURL string) []string {
	env := make([]string, 0, len(base)+len(c.Env)+3)
	for _, kv := range base {
		if k, _, _ := strings.Cut(kv, "="); !proxyVars[k] {
			env = append(env, kv)
		}
	}
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	env = append(env, "POD_IP="+ip)
	if proxyURL != "" {
		env = append(env, "HTTP_PROXY="+proxyURL, "http_proxy="+proxyURL)
	}
	return env
}
