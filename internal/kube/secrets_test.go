package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/lanemesh/lanemesh/internal/credentials"
)

// TestCredentialsFromSecrets: credentialName reads the Secret of the
// proxy's namespace through the informer's cache, in either key form, and
// a Source that does not watch Secrets resolves nothing.
func TestCredentialsFromSecrets(t *testing.T) {
	cs := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gw-cert", Namespace: "istio-system"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("CERT"), "tls.key": []byte("KEY")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gw-cert-cacert", Namespace: "istio-system"},
			Data: map[string][]byte{"cacert": []byte("CA")}},
	)
	f := informers.NewSharedInformerFactory(cs, 0)
	lister := f.Core().V1().Secrets().Lister()
	f.Start(t.Context().Done())
	f.WaitForCacheSync(t.Context().Done())

	src := &Source{secrets: lister}
	c, ok := src.Credentials().Credential("istio-system", "gw-cert")
	if !ok || string(c.Cert.GetInlineBytes()) != "CERT" || string(c.Key.GetInlineBytes()) != "KEY" || string(c.CA.GetInlineBytes()) != "CA" {
		t.Errorf("gw-cert: %v %v, want its certificate and key, and the CA of gw-cert-cacert", c, ok)
	}
	if _, ok := src.Credentials().Credential("default", "gw-cert"); ok {
		t.Error("a proxy of another namespace resolved istio-system's Secret")
	}
	var none credentials.Secrets = (&Source{}).Credentials()
	if _, ok := none.Credential("istio-system", "gw-cert"); ok {
		t.Error("a Source that watches no Secrets resolved one")
	}
}
