package xds

import (
	"context"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc/credentials"
)

// TokenSource returns the token a Client presents on each new stream.
type TokenSource func() (string, error)

// StaticToken is a TokenSource of a fixed token.
func StaticToken(token string) TokenSource { return func() (string, error) { return token, nil } }

// TokenFile is a TokenSource that reads path on every new stream, so that a
// rotated token (Kubernetes refreshes projected service-account tokens in
// place) is picked up at the next reconnect.
func TokenFile(path string) TokenSource {
	return func() (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("xds token: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("xds token: %s is empty", path)
		}
		return tok, nil
	}
}

// bearerCreds sends a TokenSource's token as "authorization: Bearer".
// It does not require transport security: xDS on loopback, or inside a
// cluster's pod network, is plaintext like Istio's port 15010; the token is
// audience-bound there (Kubernetes) or local to one machine.
type bearerCreds struct{ src TokenSource }

func (b bearerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	tok, err := b.src()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

func (bearerCreds) RequireTransportSecurity() bool { return false }

var _ credentials.PerRPCCredentials = bearerCreds{}
