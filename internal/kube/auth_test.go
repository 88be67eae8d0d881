package kube

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

// reviewer answers TokenReviews from a table of tokens, as the API server
// would for the audiences it is asked about.
func reviewer(tokens map[string]authnv1.TokenReviewStatus) *fake.Clientset {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "tokenreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		tr := action.(k8stesting.CreateAction).GetObject().(*authnv1.TokenReview)
		st, ok := tokens[tr.Spec.Token]
		if !ok {
			st = authnv1.TokenReviewStatus{Error: "invalid bearer token"}
		}
		out := tr.DeepCopy()
		out.Status = st
		return true, out, nil
	})
	return cs
}

func boundTo(ns, sa, pod, uid string, audiences ...string) authnv1.TokenReviewStatus {
	return authnv1.TokenReviewStatus{Authenticated: true, Audiences: audiences, User: authnv1.UserInfo{
		Username: "system:serviceaccount:" + ns + ":" + sa,
		Extra:    map[string]authnv1.ExtraValue{extraPodName: {pod}, extraPodUID: {uid}}}}
}

func TestAuthenticatorServesThePodsIdentity(t *testing.T) {
	mockb := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "mockb-v2-abc", Namespace: "default", UID: "uid-1",
		Labels: map[string]string{"app": "mockb", "version": "v2"}}, Spec: corev1.PodSpec{ServiceAccountName: "mockb"}}
	pods := map[string]*corev1.Pod{"default/mockb-v2-abc": mockb}
	legacy := boundTo("default", "mockb", "", "", DefaultAudience)
	legacy.User.Extra = nil
	a := &Authenticator{
		Reviews: reviewer(map[string]authnv1.TokenReviewStatus{
			"good":         boundTo("default", "mockb", "mockb-v2-abc", "uid-1", DefaultAudience),
			"old-pod":      boundTo("default", "mockb", "mockb-v2-abc", "uid-0", DefaultAudience),
			"other-sa":     boundTo("default", "mocka", "mockb-v2-abc", "uid-1", DefaultAudience),
			"gone-pod":     boundTo("default", "mockb", "mockb-v2-zzz", "uid-9", DefaultAudience),
			"wrong-aud":    boundTo("default", "mockb", "mockb-v2-abc", "uid-1", "https://kubernetes.default.svc"),
			"legacy":       legacy,
			"not-a-sa":     {Authenticated: true, Audiences: []string{DefaultAudience}, User: authnv1.UserInfo{Username: "alice"}},
			"other-ns-pod": boundTo("prod", "mockb", "mockb-v2-abc", "uid-1", DefaultAudience),
		}),
		Audiences: []string{DefaultAudience},
		Pod:       func(ns, name string) *corev1.Pod { return pods[ns+"/"+name] },
	}
	claim := meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "default", Labels: map[string]string{"app": "mockb", "version": "v1"}}

	g, err := a.Authenticate(context.Background(), "good")
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.Serve(claim)
	if err != nil {
		t.Fatal(err)
	}
	if got.Role != meshxds.Sidecar || got.Namespace != "default" || !maps.Equal(got.Labels, mockb.Labels) {
		t.Errorf("served as %+v, want the pod's labels %v", got, mockb.Labels)
	}
	if !strings.Contains(g.Who, "default/mockb-v2-abc") {
		t.Errorf("Who = %q, want the pod named", g.Who)
	}
	if _, err := g.Serve(meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "prod"}); err == nil || !strings.Contains(err.Error(), `namespace "default"`) {
		t.Errorf("claiming another namespace: %v", err)
	}

	for token, want := range map[string]string{
		"":          "no bearer token",
		"forged":    "invalid bearer token",
		"wrong-aud": "is for",
		"legacy":    "not bound to a pod",
		"not-a-sa":  "not a service account",
	} {
		_, err := a.Authenticate(context.Background(), token)
		if !errors.Is(err, xdsserver.ErrUnauthenticated) || !strings.Contains(err.Error(), want) {
			t.Errorf("token %q: %v, want ErrUnauthenticated saying %q", token, err, want)
		}
	}
	for token, want := range map[string]string{
		"old-pod":      "earlier pod",
		"other-sa":     "service account",
		"gone-pod":     "not known",
		"other-ns-pod": `namespace "prod"`,
	} {
		g, err := a.Authenticate(context.Background(), token)
		if err != nil {
			t.Errorf("token %q: %v", token, err)
			continue
		}
		if _, err := g.Serve(claim); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("token %q served: %v, want a refusal saying %q", token, err, want)
		}
	}
}

func TestAuthenticatorReviewFailureIsNotARefusal(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "tokenreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	a := &Authenticator{Reviews: cs, Pod: func(string, string) *corev1.Pod { return nil }}
	_, err := a.Authenticate(context.Background(), "any")
	if err == nil || errors.Is(err, xdsserver.ErrUnauthenticated) {
		t.Errorf("an unreachable API server gave %v; want an error that is not a refusal (the proxy retries)", err)
	}
}
