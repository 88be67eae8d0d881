package xdsserver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/xds"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// authServer starts a server whose OnNode serves every node the
// tutorial's configuration for the identity it is served as, and records
// those identities by node id.
func authServer(t *testing.T, auth Authenticator) (*testServer, func(id string) (meshxds.Proxy, bool)) {
	t.Helper()
	var mu sync.Mutex
	served := map[string]meshxds.Proxy{}
	var srv *testServer
	srv = startServer(t, "127.0.0.1:0", func(id string, p meshxds.Proxy) {
		mu.Lock()
		served[id] = p
		mu.Unlock()
		_, snap := compiled(t, p, nil, baseDir)
		srv.set(t, id, snap)
	})
	srv.Auth = auth
	return srv, func(id string) (meshxds.Proxy, bool) {
		mu.Lock()
		defer mu.Unlock()
		p, ok := served[id]
		return p, ok
	}
}

// authClient runs a Client that presents tok until the end of the test.
func authClient(t *testing.T, target string, node *corev3.Node, tok xds.TokenSource) (*xds.Client, *recorder) {
	t.Helper()
	r := &recorder{}
	c := &xds.Client{Target: target, Node: node, Apply: r.Apply, Token: tok, Logger: (&logBuffer{}).logger(),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c, r
}

// waitRefused waits until the client's last stream failed with code.
func waitRefused(t *testing.T, c *xds.Client, code codes.Code) {
	t.Helper()
	waitUntil(t, "a stream refused with "+code.String(), func() bool {
		return status.Code(c.Status().LastError) == code
	})
}

func TestAuthServesOnlyWhatTheTokenGrants(t *testing.T) {
	checkLeaks(t)
	tokens := &Tokens{}
	tokens.Add("sidecar-secret", Grant{Who: "pod default/mocka-v2-0", Serve: Only(sidecarID)})
	tokens.Add("operator-secret", Grant{Who: "operator", Serve: AnyIdentity})
	srv, servedAs := authServer(t, tokens)

	t.Run("pinned token, its own identity", func(t *testing.T) {
		want, _ := compiled(t, sidecarID, nil, baseDir)
		_, r := authClient(t, srv.addr, meshxds.NodeFor("sidecar-1", sidecarID), xds.StaticToken("sidecar-secret"))
		r.waitApplied(t, want)
	})
	t.Run("pinned token, another identity", func(t *testing.T) {
		c, r := authClient(t, srv.addr, meshxds.NodeFor("thief-1", gatewayID), xds.StaticToken("sidecar-secret"))
		waitRefused(t, c, codes.PermissionDenied)
		if r.last() != nil {
			t.Error("a node claiming an identity its token does not grant was configured")
		}
		if _, ok := servedAs("thief-1"); ok {
			t.Error("OnNode was called for a refused node")
		}
		if !strings.Contains(c.Status().LastError.Error(), "this token is for") {
			t.Errorf("refusal does not say why: %v", c.Status().LastError)
		}
	})
	t.Run("no token", func(t *testing.T) {
		c, _ := authClient(t, srv.addr, meshxds.NodeFor("anon-1", sidecarID), nil)
		waitRefused(t, c, codes.Unauthenticated)
	})
	t.Run("unknown token", func(t *testing.T) {
		c, _ := authClient(t, srv.addr, meshxds.NodeFor("guess-1", sidecarID), xds.StaticToken("sidecar-secreT"))
		waitRefused(t, c, codes.Unauthenticated)
	})
	t.Run("operator token, any identity", func(t *testing.T) {
		want, _ := compiled(t, gatewayID, nil, baseDir)
		_, r := authClient(t, srv.addr, meshxds.NodeFor("gateway-1", gatewayID), xds.StaticToken("operator-secret"))
		r.waitApplied(t, want)
		if p, _ := servedAs("gateway-1"); meshxds.IdentityKey(p) != meshxds.IdentityKey(gatewayID) {
			t.Errorf("served as %v, want %v", p, gatewayID)
		}
	})
}

// TestAuthServesTheGrantedIdentity: a grant may correct what a node claims
// (Kubernetes takes labels from the pod, not from the proxy), and the node
// is compiled for the corrected identity.
func TestAuthServesTheGrantedIdentity(t *testing.T) {
	checkLeaks(t)
	tokens := &Tokens{}
	tokens.Add("pod-token", Grant{Who: "pod default/mocka-v2-0", Serve: func(claimed meshxds.Proxy) (meshxds.Proxy, error) {
		return meshxds.Proxy{Role: claimed.Role, Namespace: sidecarID.Namespace, Labels: sidecarID.Labels}, nil
	}})
	srv, servedAs := authServer(t, tokens)
	claimed := meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "default", Labels: map[string]string{"app": "mocka", "version": "v3"}}
	want, _ := compiled(t, sidecarID, nil, baseDir)
	_, r := authClient(t, srv.addr, meshxds.NodeFor("sidecar-1", claimed), xds.StaticToken("pod-token"))
	r.waitApplied(t, want)
	if p, _ := servedAs("sidecar-1"); meshxds.IdentityKey(p) != meshxds.IdentityKey(sidecarID) {
		t.Errorf("OnNode saw %v, want the granted %v", p, sidecarID)
	}
	if ps, _ := srv.proxy("sidecar-1"); meshxds.IdentityKey(ps.Proxy) != meshxds.IdentityKey(sidecarID) {
		t.Errorf("Proxies lists %v, want the granted %v", ps.Proxy, sidecarID)
	}
}

// TestReidentify: a node whose grant serves another identity than when it
// connected (its Kubernetes pod relabelled) is served the new one, and
// OnNode told, as of a node that connects; nodes whose identity did not
// change are left alone.
func TestReidentify(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	version := "v2"
	tokens := &Tokens{}
	tokens.Add("pod-token", Grant{Who: "pod default/mocka-0", Serve: func(claimed meshxds.Proxy) (meshxds.Proxy, error) {
		mu.Lock()
		defer mu.Unlock()
		return meshxds.Proxy{Role: claimed.Role, Namespace: "default", Labels: map[string]string{"app": "mocka", "version": version}}, nil
	}})
	srv, servedAs := authServer(t, tokens)
	before, _ := compiled(t, sidecarID, nil, baseDir) // mocka v2
	_, r := authClient(t, srv.addr, meshxds.NodeFor("sidecar-1", sidecarID), xds.StaticToken("pod-token"))
	r.waitApplied(t, before)
	srv.Reidentify()
	if p, _ := servedAs("sidecar-1"); p.Labels["version"] != "v2" {
		t.Fatalf("served as %v before any change", p)
	}
	mu.Lock()
	version = "v3"
	mu.Unlock()
	srv.Reidentify()
	v3 := meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "default", Labels: map[string]string{"app": "mocka", "version": "v3"}}
	after, _ := compiled(t, v3, nil, baseDir)
	r.waitApplied(t, after)
	if p, _ := servedAs("sidecar-1"); meshxds.IdentityKey(p) != meshxds.IdentityKey(v3) {
		t.Errorf("OnNode saw %v, want the relabelled %v", p, v3)
	}
	if ps, _ := srv.proxy("sidecar-1"); meshxds.IdentityKey(ps.Proxy) != meshxds.IdentityKey(v3) {
		t.Errorf("Proxies lists %v, want the relabelled %v", ps.Proxy, v3)
	}
}

// TestAuthNodeIDBelongsToOneHolder: while a node id has a stream open, a
// stream of another holder cannot take it over (and with it the snapshot
// the first proxy is served).
func TestAuthNodeIDBelongsToOneHolder(t *testing.T) {
	checkLeaks(t)
	other := meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "default", Labels: map[string]string{"app": "mockb", "version": "v1"}}
	tokens := &Tokens{}
	tokens.Add("a", Grant{Who: "pod a", Serve: Only(sidecarID)})
	tokens.Add("b", Grant{Who: "pod b", Serve: Only(other)})
	srv, _ := authServer(t, tokens)
	want, _ := compiled(t, sidecarID, nil, baseDir)
	_, first := authClient(t, srv.addr, meshxds.NodeFor("shared-id", sidecarID), xds.StaticToken("a"))
	first.waitApplied(t, want)
	c, _ := authClient(t, srv.addr, meshxds.NodeFor("shared-id", other), xds.StaticToken("b"))
	waitRefused(t, c, codes.PermissionDenied)
	if !strings.Contains(c.Status().LastError.Error(), "in use by pod a") {
		t.Errorf("refusal does not name the holder: %v", c.Status().LastError)
	}
	if ps, _ := srv.proxy("shared-id"); meshxds.IdentityKey(ps.Proxy) != meshxds.IdentityKey(sidecarID) {
		t.Errorf("the node's identity changed to %v", ps.Proxy)
	}
}

// TestAuthRefusesUnaryFetch: a fetch names its node by id alone.
func TestAuthRefusesUnaryFetch(t *testing.T) {
	checkLeaks(t)
	tokens := &Tokens{}
	tokens.Add("operator-secret", Grant{Who: "operator", Serve: AnyIdentity})
	srv, _ := authServer(t, tokens)
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer operator-secret")
	_, err = clusterservice.NewClusterDiscoveryServiceClient(conn).FetchClusters(ctx,
		&discoverygrpc.DiscoveryRequest{Node: meshxds.NodeFor("any", sidecarID), TypeUrl: resource.ClusterType})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("fetch answered %v, want PermissionDenied", err)
	}
}

// TestTokenFileIsReadPerStream: a rotated token is presented on the next
// stream, and a missing file fails the stream, not the client.
func TestTokenFileIsReadPerStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	src := xds.TokenFile(path)
	if _, err := src(); err == nil {
		t.Error("a missing token file gave no error")
	}
	for _, tok := range []string{"first\n", "second"} {
		if err := os.WriteFile(path, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := src()
		if err != nil || got != strings.TrimSpace(tok) {
			t.Errorf("token = %q, %v; want %q", got, err, strings.TrimSpace(tok))
		}
	}
	if err := os.WriteFile(path, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := src(); err == nil {
		t.Error("an empty token file gave no error")
	}
}

func TestBearer(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{"Bearer abc", "abc"},
		{"bearer  abc ", "abc"},
		{"Basic abc", ""},
		{"abc", ""},
	} {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", tc.header))
		if got := bearer(ctx); got != tc.want {
			t.Errorf("bearer(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
	if got := bearer(context.Background()); got != "" {
		t.Errorf("bearer without metadata = %q", got)
	}
}
