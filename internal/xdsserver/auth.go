package xdsserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"google.golang.org/grpc/metadata"
)

// ErrUnauthenticated is wrapped by every error an Authenticator returns
// for credentials it does not accept, so that the server can answer
// Unauthenticated rather than Unavailable.
var ErrUnauthenticated = errors.New("unauthenticated")

// Authenticator proves who opens an xDS stream, from the bearer token the
// stream presents in its "authorization" metadata (as Istio's proxies
// present their service-account token to istiod). It runs once per stream,
// on the stream's goroutine, before the first request is read, so it may do
// I/O (a TokenReview); it must return within the stream's context.
//
// Without an Authenticator the server serves any identity a node claims:
// acceptable only where every process that can reach it is trusted.
type Authenticator interface {
	// Authenticate returns what the holder of token ("" when the stream
	// presented none) may be served as, or an error wrapping
	// ErrUnauthenticated.
	Authenticate(ctx context.Context, token string) (Grant, error)
}

// Grant is what an authenticated stream may claim: Serve maps the identity
// a node claims in its metadata to the identity the control plane compiles
// for, or refuses it. Who names the holder in logs and errors.
type Grant struct {
	Who   string
	Serve func(claimed meshxds.Proxy) (meshxds.Proxy, error)
}

// AnyIdentity is the Serve of a grant that lets its holder claim any
// identity: an operator's token for proxies the control plane cannot
// otherwise tell apart.
func AnyIdentity(claimed meshxds.Proxy) (meshxds.Proxy, error) { return claimed, nil }

// Only returns the Serve of a grant pinned to one identity: a node claiming
// any other is refused.
func Only(p meshxds.Proxy) func(meshxds.Proxy) (meshxds.Proxy, error) {
	want := meshxds.IdentityKey(p)
	return func(claimed meshxds.Proxy) (meshxds.Proxy, error) {
		if meshxds.IdentityKey(claimed) != want {
			return meshxds.Proxy{}, fmt.Errorf("this token is for %s, not %s", want, meshxds.IdentityKey(claimed))
		}
		return p, nil
	}
}

// Tokens is an Authenticator of shared secrets, each bound to a Grant: the
// local runner pins one token to each proxy it starts, and a control plane
// fed by files hands its operator a token for any identity. Tokens are held
// as SHA-256 digests, so a map lookup reveals nothing about a secret's
// bytes. The zero value refuses every token; methods are safe for
// concurrent use.
type Tokens struct {
	mu     sync.RWMutex
	grants map[[sha256.Size]byte]Grant
}

// Add binds token to g, replacing any earlier grant of the same token.
func (t *Tokens) Add(token string, g Grant) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.grants == nil {
		t.grants = map[[sha256.Size]byte]Grant{}
	}
	t.grants[sha256.Sum256([]byte(token))] = g
}

// Remove forgets token; streams already open keep what they were granted.
func (t *Tokens) Remove(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.grants, sha256.Sum256([]byte(token)))
}

// Authenticate implements Authenticator.
func (t *Tokens) Authenticate(_ context.Context, token string) (Grant, error) {
	if token == "" {
		return Grant{}, fmt.Errorf("%w: no bearer token; pass the control plane's xDS token (lanemesh proxy --xds-token-file)", ErrUnauthenticated)
	}
	t.mu.RLock()
	g, ok := t.grants[sha256.Sum256([]byte(token))]
	t.mu.RUnlock()
	if !ok {
		return Grant{}, fmt.Errorf("%w: the bearer token is not one this control plane issued", ErrUnauthenticated)
	}
	return g, nil
}

var _ Authenticator = (*Tokens)(nil)

// bearer returns the token of the "authorization: Bearer TOKEN" metadata of
// an incoming stream, "" if there is none.
func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if scheme, tok, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "bearer") {
			return strings.TrimSpace(tok)
		}
	}
	return ""
}

// FirstOf is an Authenticator that asks each of its members in turn and
// takes the first grant; a member that does not know the token (an error
// wrapping ErrUnauthenticated) passes it on, any other error stops the
// search. With every member refusing, the last refusal is returned.
type FirstOf []Authenticator

// Authenticate implements Authenticator.
func (f FirstOf) Authenticate(ctx context.Context, token string) (Grant, error) {
	err := fmt.Errorf("%w: no authenticator", ErrUnauthenticated)
	for _, a := range f {
		var g Grant
		if g, err = a.Authenticate(ctx, token); err == nil || !errors.Is(err, ErrUnauthenticated) {
			return g, err
		}
	}
	return Grant{}, err
}
