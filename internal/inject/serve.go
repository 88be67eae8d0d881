package inject

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// ServeOptions configure Serve. Webhook, Client, Namespace, Service and
// WebhookConfig are required.
type ServeOptions struct {
	Addr    string // listen address [:15017]
	Webhook *Webhook
	Client  kubernetes.Interface
	// Namespace and Service name the control plane's Service, whose DNS
	// names the serving certificate carries, and the namespace of the
	// Secret that holds the CA.
	Namespace, Service string
	// CASecret is the Secret the replicas share the CA through
	// [lanemesh-webhook-ca]: each replica issues its own serving
	// certificate, and all are trusted through the one caBundle. With a CA
	// per replica, each would overwrite the others' caBundle and the
	// apiserver would trust only the last to start.
	CASecret string
	// WebhookConfig is the MutatingWebhookConfiguration whose caBundle is
	// set to the CA, at start and again whenever it is found changed.
	WebhookConfig string
	Logger        *slog.Logger
	// Listening, if set, is called with the bound address.
	Listening func(net.Addr)
}

// caRecheck is how often the caBundle is checked after the first patch: a
// re-applied manifest (or a helm upgrade) may reset it.
const caRecheck = time.Minute

// Serve runs the injection webhook over TLS at POST /inject until ctx is
// done.
func Serve(ctx context.Context, o ServeOptions) error {
	if o.Addr == "" {
		o.Addr = ":15017"
	}
	if o.CASecret == "" {
		o.CASecret = "lanemesh-webhook-ca"
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	ca, err := LoadOrCreateCA(ctx, o.Client, o.Namespace, o.CASecret)
	if err != nil {
		return err
	}
	certs := &servingCerts{ca: ca, names: ServiceDNSNames(o.Service, o.Namespace)}
	if _, err := certs.get(time.Now()); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("sidecar injector: %w", err)
	}
	if o.Listening != nil {
		o.Listening(ln.Addr())
	}
	mux := http.NewServeMux()
	mux.Handle("/inject", o.Webhook)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return certs.get(time.Now()) }}}
	go keepCABundle(ctx, o.Client, o.WebhookConfig, ca.CertPEM, log)
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-done:
		return fmt.Errorf("sidecar injector: %w", err)
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
		<-done
		return nil
	}
}

// servingCerts re-issues the serving certificate a day before it ends, so
// a control plane that runs for a year keeps serving.
type servingCerts struct {
	ca    *CA
	names []string
	mu    sync.Mutex
	cur   *tls.Certificate
}

func (s *servingCerts) get(now time.Time) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && now.Before(s.cur.Leaf.NotAfter.Add(-24*time.Hour)) {
		return s.cur, nil
	}
	c, err := s.ca.Serving(s.names, now)
	if err != nil {
		return nil, err
	}
	s.cur = c
	return c, nil
}

// LoadOrCreateCA reads the shared CA from the Secret namespace/name, or
// creates it. Replicas starting together race to create it; the losers
// read the winner's.
func LoadOrCreateCA(ctx context.Context, kc kubernetes.Interface, namespace, name string) (*CA, error) {
	secrets := kc.CoreV1().Secrets(namespace)
	for range 3 {
		s, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			ca, err := ParseCA(s.Data["ca.crt"], s.Data["ca.key"])
			if err != nil {
				return nil, fmt.Errorf("secret %s/%s: %w (delete it, and the control plane makes a new CA)", namespace, name, err)
			}
			return ca, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading the webhook CA from secret %s/%s: %w", namespace, name, err)
		}
		ca, err := NewCA(time.Now())
		if err != nil {
			return nil, err
		}
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace,
				Labels: map[string]string{"app.kubernetes.io/part-of": "lanemesh"}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"ca.crt": ca.CertPEM, "ca.key": ca.KeyPEM},
		}, metav1.CreateOptions{FieldManager: "lanemesh"})
		if err == nil {
			return ca, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating the webhook CA secret %s/%s: %w", namespace, name, err)
		}
	}
	return nil, fmt.Errorf("secret %s/%s: created and deleted under us repeatedly", namespace, name)
}

// PatchCABundle sets the caBundle of every webhook of the
// MutatingWebhookConfiguration name to caPEM. changed reports whether it
// had to.
func PatchCABundle(ctx context.Context, kc kubernetes.Interface, name string, caPEM []byte) (changed bool, err error) {
	mwcs := kc.AdmissionregistrationV1().MutatingWebhookConfigurations()
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		changed = false
		mwc, err := mwcs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range mwc.Webhooks {
			if !bytes.Equal(mwc.Webhooks[i].ClientConfig.CABundle, caPEM) {
				mwc.Webhooks[i].ClientConfig.CABundle = caPEM
				changed = true
			}
		}
		if !changed {
			return nil
		}
		_, err = mwcs.Update(ctx, mwc, metav1.UpdateOptions{FieldManager: "lanemesh"})
		return err
	})
	if apierrors.IsNotFound(err) {
		return false, fmt.Errorf("mutatingwebhookconfiguration %s not found: install lanemesh's manifests (lanemesh install), or name yours with --injector-webhook-config: %w", name, err)
	}
	return changed, err
}

// keepCABundle patches the caBundle now, retrying until it succeeds, then
// checks it every caRecheck.
func keepCABundle(ctx context.Context, kc kubernetes.Interface, name string, caPEM []byte, log *slog.Logger) {
	wait := time.Second
	for {
		changed, err := PatchCABundle(ctx, kc, name, caPEM)
		switch {
		case errors.Is(ctx.Err(), context.Canceled):
			return
		case err != nil:
			log.Error("sidecar injector: cannot set the webhook's caBundle; the apiserver will not trust the injector", "err", err, "retry_in", wait)
			wait = min(2*wait, caRecheck)
		default:
			if changed {
				log.Info("sidecar injector: caBundle set", "mutatingwebhookconfiguration", name)
			}
			wait = caRecheck
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// NamespacesFrom looks namespaces up in the apiserver.
func NamespacesFrom(kc kubernetes.Interface) NamespaceLabels {
	return func(ctx context.Context, name string) (map[string]string, error) {
		ns, err := kc.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return ns.Labels, nil
	}
}
