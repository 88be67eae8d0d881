package inject

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

const svcName = "lanemesh.lanemesh-system.svc"

func review(t *testing.T, uid string, kind string, obj any) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: types.UID(uid), Kind: metav1.GroupVersionKind{Version: "v1", Kind: kind},
			Operation: admissionv1.Create, Namespace: "default", Object: runtime.RawExtension{Raw: raw}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// trusting is an HTTPS client that trusts only caPEM and checks the
// webhook Service's name, as the apiserver does.
func trusting(caPEM []byte) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: svcName}}}
}

func post(t *testing.T, c *http.Client, url string, body []byte) (int, *admissionv1.AdmissionReview) {
	t.Helper()
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("response %s: %v", b, err)
	}
	return resp.StatusCode, &out
}

func namespaces(labels map[string]map[string]string) NamespaceLabels {
	return func(_ context.Context, ns string) (map[string]string, error) {
		l, ok := labels[ns]
		if !ok {
			return nil, fmt.Errorf("namespace %s not found", ns)
		}
		return l, nil
	}
}

// TestWebhookOverTLS sends real AdmissionReviews over TLS, with a client
// that verifies the server against the generated CA.
func TestWebhookOverTLS(t *testing.T) {
	ca, err := NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Serving(ServiceDNSNames("lanemesh", "lanemesh-system"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	wh := &Webhook{Config: testConfig, Namespaces: namespaces(map[string]map[string]string{"default": {IstioInjectionLabel: "enabled"}})}
	srv := httptest.NewUnstartedServer(wh)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	srv.StartTLS()
	defer srv.Close()
	client := trusting(ca.CertPEM)

	app := pod(map[string]string{"app": "mockb", "version": "v2"}, nil, "default")
	code, out := post(t, client, srv.URL, review(t, "uid-1", "Pod", app))
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	r := out.Response
	if !r.Allowed || r.UID != "uid-1" || r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("response %+v", r)
	}
	patched := applyPatch(t, app, r.Patch)
	if count(patched.Spec.Containers, ProxyContainer) != 1 || count(patched.Spec.InitContainers, InitContainer) != 1 {
		t.Errorf("patched pod: containers %v, init %v", patched.Spec.Containers, patched.Spec.InitContainers)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" {
		t.Errorf("response type %s %s", out.APIVersion, out.Kind)
	}

	// Refusals and non-answers.
	code, out = post(t, client, srv.URL, review(t, "uid-2", "Pod", pod(nil, map[string]string{CaptureAnnotation: "tproxy"}, "app")))
	if code != http.StatusOK || out.Response.Allowed || !strings.Contains(out.Response.Result.Message, "tproxy") || out.Response.UID != "uid-2" {
		t.Errorf("bad annotation: %d %+v", code, out)
	}
	code, out = post(t, client, srv.URL, review(t, "uid-3", "Pod", pod(map[string]string{InjectKey: "false"}, nil, "app")))
	if code != http.StatusOK || !out.Response.Allowed || out.Response.Patch != nil {
		t.Errorf("opted out: %d %+v", code, out)
	}
	code, out = post(t, client, srv.URL, review(t, "uid-4", "Service", &corev1.Service{}))
	if code != http.StatusOK || !out.Response.Allowed || out.Response.Patch != nil {
		t.Errorf("a Service: %d %+v", code, out)
	}
	if code, _ := post(t, client, srv.URL, []byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}`)); code != http.StatusBadRequest {
		t.Errorf("v1beta1 review: status %d, want 400", code)
	}
	if code, _ := post(t, client, srv.URL, []byte(`not json`)); code != http.StatusBadRequest {
		t.Errorf("garbage: status %d, want 400", code)
	}
	other := pod(nil, nil, "app")
	other.Namespace = "gone"
	body := bytes.Replace(review(t, "uid-5", "Pod", other), []byte(`"namespace":"default"`), []byte(`"namespace":"gone"`), 1)
	if code, _ := post(t, client, srv.URL, body); code != http.StatusInternalServerError {
		t.Errorf("namespace lookup failure: status %d, want 500 (the failurePolicy decides)", code)
	}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}

	// The TLS is real: a client trusting another CA refuses the server.
	otherCA, err := NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = trusting(otherCA.CertPEM).Post(srv.URL, "application/json", bytes.NewReader(nil))
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("a client trusting another CA: %v, want an unknown-authority error", err)
	}
}

func TestServingCertificate(t *testing.T) {
	ca, err := NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.Serving(ServiceDNSNames("lanemesh", "lanemesh-system"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, name := range []string{"lanemesh.lanemesh-system.svc", "lanemesh.lanemesh-system.svc.cluster.local"} {
		if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "evil.example.com", Roots: pool}); err == nil {
		t.Error("verifies for a name it was not issued for")
	}
	again, err := ParseCA(ca.CertPEM, ca.KeyPEM)
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Errorf("ParseCA round trip: %v", err)
	}
	other, _ := NewCA(time.Now())
	if _, err := ParseCA(ca.CertPEM, other.KeyPEM); err == nil {
		t.Error("ParseCA accepts a key that is not the certificate's")
	}
	// Re-issued a day before it ends.
	s := &servingCerts{ca: ca, names: []string{svcName}}
	first, _ := s.get(time.Now())
	if same, _ := s.get(time.Now()); same != first {
		t.Error("re-issued while fresh")
	}
	if later, _ := s.get(first.Leaf.NotAfter.Add(-time.Hour)); later == first {
		t.Error("not re-issued an hour before the end")
	}
}

// TestServe runs the whole webhook as the control plane does, against a
// fake apiserver: the CA goes to a Secret, the caBundle is patched into
// both webhooks, and a client that trusts only that caBundle gets a pod
// injected.
func TestServe(t *testing.T) {
	kc := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: map[string]string{LanemeshInjectionLabel: "enabled"}}},
		&admregv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "lanemesh-sidecar-injector"},
			Webhooks: []admregv1.MutatingWebhook{{Name: "a.sidecar-injector.lanemesh.io"}, {Name: "b.sidecar-injector.lanemesh.io"}}},
	)
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeOptions{Addr: "127.0.0.1:0", Client: kc, Namespace: "lanemesh-system", Service: "lanemesh",
			WebhookConfig: "lanemesh-sidecar-injector", Listening: func(a net.Addr) { addr <- a },
			Webhook: &Webhook{Config: testConfig, Namespaces: NamespacesFrom(kc)}})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var url string
	select {
	case a := <-addr:
		url = "https://" + a.String() + "/inject"
	case err := <-done:
		t.Fatal(err)
	}
	var bundle []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		mwc, err := kc.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "lanemesh-sidecar-injector", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if b0, b1 := mwc.Webhooks[0].ClientConfig.CABundle, mwc.Webhooks[1].ClientConfig.CABundle; len(b0) > 0 && bytes.Equal(b0, b1) {
			bundle = b0
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("caBundle not patched into both webhooks within 10s")
		}
		time.Sleep(10 * time.Millisecond) // polling the fake apiserver for a condition
	}
	code, out := post(t, trusting(bundle), url, review(t, "u", "Pod", pod(map[string]string{"app": "web"}, nil, "web")))
	if code != http.StatusOK || !out.Response.Allowed || out.Response.Patch == nil {
		t.Fatalf("injection through Serve: %d %+v", code, out)
	}
	// The CA is shared: a second replica reads the same one.
	ca, err := LoadOrCreateCA(ctx, kc, "lanemesh-system", "lanemesh-webhook-ca")
	if err != nil || !bytes.Equal(ca.CertPEM, bundle) {
		t.Errorf("second replica's CA differs from the caBundle (%v)", err)
	}
}

func TestPatchCABundleMissing(t *testing.T) {
	_, err := PatchCABundle(context.Background(), fake.NewClientset(), "nope", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "lanemesh install") {
		t.Errorf("missing configuration: %v", err)
	}
}
