package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

// DefaultAudience is the audience of the service-account token a proxy
// presents, the one Istio's proxies present to istiod; the injector
// mounts a projected token for it.
const DefaultAudience = "istio-ca"

// Extra keys the API server sets on a TokenReview of a token bound to a
// pod (every projected service-account token is).
const (
	extraPodName = "authentication.kubernetes.io/pod-name"
	extraPodUID  = "authentication.kubernetes.io/pod-uid"
)

// Authenticator proves a proxy's pod with a TokenReview of its
// service-account token, as istiod does, and serves the proxy as that pod:
// its namespace and its labels as the API server has them, whatever the
// proxy claims. A proxy may still choose its role (a gateway is a pod too;
// a Gateway only configures the pods its selector picks), but never
// another pod's labels or namespace. Tokens not bound to a pod (legacy
// Secret tokens) are refused: they name no pod to take the labels of.
type Authenticator struct {
	// Reviews creates TokenReviews; the control plane's RBAC needs
	// "create tokenreviews".
	Reviews kubernetes.Interface
	// Audiences the token must be for; empty means the API server's own.
	Audiences []string
	// Pod returns a pod by namespace and name from the informer's cache,
	// nil if it is not there. It does no I/O: Serve runs under the xDS
	// server's lock.
	Pod func(namespace, name string) *corev1.Pod
}

// Authenticator returns an Authenticator over this source's pods.
func (s *Source) Authenticator(audiences ...string) *Authenticator {
	lister := s.typed.Core().V1().Pods().Lister()
	return &Authenticator{Reviews: s.kube, Audiences: audiences, Pod: func(ns, name string) *corev1.Pod {
		p, err := lister.Pods(ns).Get(name)
		if err != nil {
			return nil
		}
		return p
	}}
}

var _ xdsserver.Authenticator = (*Authenticator)(nil)

// Authenticate implements xdsserver.Authenticator.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (xdsserver.Grant, error) {
	if token == "" {
		return xdsserver.Grant{}, fmt.Errorf("%w: no bearer token; mount a projected service-account token (audience %s) and pass it with --xds-token-file, as the injected sidecar does",
			xdsserver.ErrUnauthenticated, strings.Join(a.audiences(), ","))
	}
	review, err := a.Reviews.AuthenticationV1().TokenReviews().Create(ctx,
		&authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token, Audiences: a.Audiences}}, metav1.CreateOptions{})
	if err != nil {
		return xdsserver.Grant{}, fmt.Errorf("token review: %w", err)
	}
	st := review.Status
	if !st.Authenticated {
		return xdsserver.Grant{}, fmt.Errorf("%w: the API server refused the token: %s", xdsserver.ErrUnauthenticated, st.Error)
	}
	if len(a.Audiences) > 0 && !slices.ContainsFunc(st.Audiences, func(aud string) bool { return slices.Contains(a.Audiences, aud) }) {
		return xdsserver.Grant{}, fmt.Errorf("%w: the token is for %v, not %v", xdsserver.ErrUnauthenticated, st.Audiences, a.Audiences)
	}
	ns, sa, ok := serviceAccount(st.User.Username)
	if !ok {
		return xdsserver.Grant{}, fmt.Errorf("%w: %q is not a service account; a proxy presents its pod's service-account token", xdsserver.ErrUnauthenticated, st.User.Username)
	}
	podName, podUID := first(st.User.Extra[extraPodName]), first(st.User.Extra[extraPodUID])
	if podName == "" {
		return xdsserver.Grant{}, fmt.Errorf("%w: the token of %s/%s is not bound to a pod; use a projected service-account token, as the injected sidecar does", xdsserver.ErrUnauthenticated, ns, sa)
	}
	who := fmt.Sprintf("pod %s/%s (service account %s)", ns, podName, sa)
	return xdsserver.Grant{Who: who, Serve: func(claimed meshxds.Proxy) (meshxds.Proxy, error) {
		if claimed.Namespace != ns {
			return meshxds.Proxy{}, fmt.Errorf("it claims namespace %q, but its token is for namespace %q", claimed.Namespace, ns)
		}
		pod := a.Pod(ns, podName)
		switch {
		case pod == nil:
			return meshxds.Proxy{}, fmt.Errorf("its pod is not known (yet) to the control plane")
		case string(pod.UID) != podUID:
			return meshxds.Proxy{}, fmt.Errorf("its token is for an earlier pod of that name (uid %s, now %s)", podUID, pod.UID)
		case pod.Spec.ServiceAccountName != sa:
			return meshxds.Proxy{}, fmt.Errorf("its pod runs as service account %q, not %q", pod.Spec.ServiceAccountName, sa)
		}
		return meshxds.Proxy{Role: claimed.Role, Namespace: ns, Labels: pod.Labels}, nil
	}}, nil
}

func (a *Authenticator) audiences() []string {
	if len(a.Audiences) == 0 {
		return []string{"the API server's"}
	}
	return a.Audiences
}

// serviceAccount splits "system:serviceaccount:NAMESPACE:NAME".
func serviceAccount(user string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, "system:serviceaccount:")
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	return namespace, name, ok && namespace != "" && name != ""
}

func first(v authnv1.ExtraValue) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
