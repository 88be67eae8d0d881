package cli

import (
	"context"
	"fmt"
	"github.com/lanemesh/lanemesh/internal/proxycmd"
	"log/slog"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/lanemesh/lanemesh/deploy"
	"github.com/lanemesh/lanemesh/internal/inject"
)

// injectorFlags configure the sidecar-injection webhook that the control
// plane serves in Kubernetes mode.
type injectorFlags struct {
	addr, image, capture, xdsAddr, service, webhookConfig string
	bindPodIP                                             bool
	tracing                                               proxycmd.TracingFlags
}

func addInjectorFlags(fl *pflag.FlagSet, f *injectorFlags) {
	fl.StringVar(&f.addr, "injector", ":15017", "sidecar-injection webhook (TLS) listen address, Kubernetes mode; empty for none")
	fl.StringVar(&f.image, "image", deploy.Image, "the image of injected sidecars: this control plane's own")
	fl.StringVar(&f.capture, "capture-mode", string(inject.CaptureIPTables),
		"how injected sidecars capture outbound requests: iptables (an init container with NET_ADMIN) or http-proxy (HTTP_PROXY in the app's env); a pod's lanemesh.io/capture-mode annotation overrides it")
	fl.StringVar(&f.xdsAddr, "injector-xds-address", "", "the xDS address injected sidecars dial (default SERVICE.NAMESPACE.svc:15010)")
	fl.StringVar(&f.service, "injector-service", "lanemesh", "the control plane's Service: the injector's certificate is for its DNS names")
	fl.StringVar(&f.webhookConfig, "injector-webhook-config", "lanemesh-sidecar-injector", "the MutatingWebhookConfiguration whose caBundle the injector sets")
	fl.BoolVar(&f.bindPodIP, "injector-bind-pod-ip", false,
		"injected sidecars listen on the pod's IP instead of 127.0.0.1: for rehearsal nodes (lanemesh node), whose pods share the host's loopback")
	proxycmd.AddTracingFlags(fl, &f.tracing, "injected sidecars")
}

// injector checks the flags and returns the webhook's Serve options.
func (f injectorFlags) options(cfg *rest.Config, namespace string, log *slog.Logger) (inject.ServeOptions, error) {
	capture, err := inject.ParseCapture(f.capture)
	if err != nil {
		return inject.ServeOptions{}, usageError{fmt.Errorf("--capture-mode: %w", err)}
	}
	if f.image == "" {
		return inject.ServeOptions{}, usageError{fmt.Errorf("--image must name the sidecar image")}
	}
	tracing, err := f.tracing.Tracing("")
	if err != nil {
		return inject.ServeOptions{}, err
	}
	var traceTo string
	var sampling float64
	if tracing != nil {
		traceTo, sampling = tracing.Endpoint, tracing.Sampling
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return inject.ServeOptions{}, err
	}
	xdsAddr := f.xdsAddr
	if xdsAddr == "" {
		xdsAddr = f.service + "." + namespace + ".svc:15010"
	}
	return inject.ServeOptions{Addr: f.addr, Client: kc, Namespace: namespace, Service: f.service,
		WebhookConfig: f.webhookConfig, Logger: log,
		Webhook: &inject.Webhook{Namespaces: inject.NamespacesFrom(kc), Logger: log,
			Config: inject.Config{Image: f.image, XDSAddress: xdsAddr, Capture: capture, BindPodIP: f.bindPodIP,
				TracingEndpoint: traceTo, TracingSampling: sampling}}}, nil
}

// startInjector serves the webhook until ctx is done. If it cannot serve
// (its port is taken, its RBAC is missing), stop is called, so that the
// control plane exits with the error that wait returns, rather than run on
// while no pod of a labelled namespace can be created.
func startInjector(ctx context.Context, o inject.ServeOptions, stop context.CancelFunc) (wait func() error) {
	done := make(chan error, 1)
	go func() {
		err := inject.Serve(ctx, o)
		if err != nil {
			stop()
		}
		done <- err
	}()
	return func() error { return <-done }
}
