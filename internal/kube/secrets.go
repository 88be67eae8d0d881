package kube

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	listersv1 "k8s.io/client-go/listers/core/v1"

	"github.com/lanemesh/lanemesh/internal/credentials"
)

// secretsFieldSelector leaves out the Secrets that can never hold a
// credential and are often the largest in a cluster, as istiod's secret
// controller does: Helm's release records and service-account tokens.
const secretsFieldSelector = "type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token"

// watchSecrets registers the Secrets informer: its own factory, for the
// field selector.
func (s *Source) watchSecrets() {
	f := informers.NewSharedInformerFactoryWithOptions(s.kube, s.opts.Resync,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = secretsFieldSelector }))
	inf := f.Core().V1().Secrets()
	inf.Informer().AddEventHandler(handler(s.secretKick))
	s.synced = append(s.synced, inf.Informer().HasSynced)
	s.secretFactory, s.secrets = f, inf.Lister()
}

// secretLister answers credentials.Secrets from the informer's cache.
type secretLister struct{ l listersv1.SecretLister }

var _ credentials.SecretLookup = secretLister{}

func (s secretLister) Secret(namespace, name string) (map[string][]byte, bool) {
	if s.l == nil {
		return nil, false
	}
	sec, err := s.l.Secrets(namespace).Get(name)
	if err != nil {
		return nil, false
	}
	return sec.Data, true
}

// Credentials resolves credentialName to the cluster's Secrets, as Istio
// does: the Secret of that name in the namespace of the proxy that uses
// it, with the keys Istio reads. Only a Source made with Options.Secrets
// watches Secrets; any other resolves nothing.
func (s *Source) Credentials() credentials.Secrets {
	return credentials.Secrets{Lookup: secretLister{s.secrets}}
}
