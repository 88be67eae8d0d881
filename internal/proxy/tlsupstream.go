package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"

	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// upstreamTLS is a cluster's UpstreamTlsContext, ready to dial. roots nil
// means the server is not verified (insecureSkipVerify).
type upstreamTLS struct {
	sni    string
	cert   *certSource
	roots  *caSource
	peer   peerCheck
	params tlsParams
}

// buildUpstreamTLS reads a cluster's transport socket; nil for plain text.
func buildUpstreamTLS(ts *corev3.TransportSocket) (*upstreamTLS, string, error) {
	ctx, err := transportTLS[tlsv3.UpstreamTlsContext](ts)
	if err != nil || ctx == nil {
		return nil, "", err
	}
	common := ctx.GetCommonTlsContext()
	if err := checkCommon(common); err != nil {
		return nil, "", err
	}
	t := &upstreamTLS{sni: ctx.GetSni()}
	if t.cert, err = certOf(common); err != nil {
		return nil, "", err
	}
	if t.params, err = buildParams(common.GetTlsParams()); err != nil {
		return nil, "", err
	}
	if vc := common.GetValidationContext(); vc != nil {
		src, err := sourceOf(vc.GetTrustedCa())
		if err != nil {
			return nil, "", err
		}
		if src == nil {
			src = &pemSource{file: meshxds.SystemRoots}
		}
		t.roots = &caSource{src: src}
		if t.peer, err = buildPeerCheck(vc); err != nil {
			return nil, "", err
		}
	}
	key, err := marshalKey(ctx)
	return t, key, err
}

// autoName is the name an auto_sni connection sends and, with
// auto_san_validation (san), checks the server's certificate against:
// its request's host.
type autoName struct {
	sni string
	san bool
}

// client wraps a dialled connection in TLS; the handshake is the caller's.
// auto, when set, replaces the context's SNI (auto_sni), and may require
// the server's certificate to be valid for it.
func (t *upstreamTLS) client(nc net.Conn, auto *autoName) (*tls.Conn, error) {
	sni := t.sni
	if auto != nil {
		sni = auto.sni
	}
	cfg := &tls.Config{ServerName: sni, MinVersion: t.params.min, MaxVersion: t.params.max, CipherSuites: t.params.ciphers,
		NextProtos: []string{"http/1.1"}, InsecureSkipVerify: true} // verified below, as Envoy does: chain, then SANs
	if t.cert != nil {
		cert, err := t.cert.get()
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{*cert}
	}
	if t.roots != nil {
		roots, err := t.roots.get()
		if err != nil {
			return nil, err
		}
		peer := t.peer
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("upstream sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			leaf := cs.PeerCertificates[0]
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
				return err
			}
			if auto != nil && auto.san {
				if err := leaf.VerifyHostname(sni); err != nil { // fails for a request without a host, too
					return err
				}
			}
			return peer.verify(leaf)
		}
	}
	return tls.Client(nc, cfg), nil
}

// handshake originates TLS on a dialled connection, within the connect
// timeout (Envoy counts the handshake in the connection's setup). A
// failure closes nc and, like a refused connection, is a connect failure
// (503 UF): the error is a dial *net.OpError.
func (t *upstreamTLS) handshake(ctx context.Context, nc net.Conn, timeout time.Duration, auto *autoName) (net.Conn, error) {
	failed := func(err error) error {
		_ = nc.Close()
		return &net.OpError{Op: "dial", Net: "tcp", Addr: nc.RemoteAddr(), Err: &upstreamTLSError{err}}
	}
	tc, err := t.client(nc, auto)
	if err != nil {
		return nil, failed(err)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, failed(err)
	}
	return tc, nil
}

// upstreamTLSError is a failed upstream handshake: why, for the access
// log and the 503 UF a client gets, as Envoy gives its transport failure
// reason.
type upstreamTLSError struct{ err error }

func (e *upstreamTLSError) Error() string { return "TLS error: " + e.err.Error() }
func (e *upstreamTLSError) Unwrap() error { return e.err }

// marshalKey is a context's deterministic encoding: the pool key that keeps
// a cluster's connections across updates that leave its TLS as it was.
func marshalKey(m proto.Message) (string, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	return string(b), err
}
