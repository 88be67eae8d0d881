package proxy

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/route"
)

// serverTLS is a filter chain's DownstreamTlsContext, ready to answer
// handshakes. It is immutable but for failing; its sources reload changed
// files.
type serverTLS struct {
	// failing is set while the certificate cannot be loaded, so that the
	// failure is logged once, not on every handshake.
	failing    atomic.Bool
	cert       *certSource
	clientCAs  *caSource // nil: client certificates are not asked for
	clientAuth tls.ClientAuthType
	peer       peerCheck
	params     tlsParams
	alpn       []string
}

// tlsParams are the protocol versions and cipher suites of a context.
type tlsParams struct {
	min, max uint16
	ciphers  []uint16
}

// peerCheck is what a validation context requires of the peer's
// certificate beyond its chain: one of sans, and, when spki or hashes are
// set, one of those (Envoy accepts a match in either list).
type peerCheck struct {
	sans         []sanMatch
	spki, hashes [][]byte
}

// sanMatch is one subject alt name matcher (exact value of a SAN type).
type sanMatch struct {
	typ   tlsv3.SubjectAltNameMatcher_SanType
	exact string
}

// transportTLS unpacks a transport socket: nil for none; only
// envoy.transport_sockets.tls is supported.
func transportTLS[T any, P interface {
	*T
	protoMessage
}](ts *corev3.TransportSocket) (P, error) {
	if ts == nil {
		return nil, nil
	}
	if ts.GetName() != meshxds.TLSTransportSocket || ts.GetTypedConfig() == nil {
		return nil, fmt.Errorf("%w: transport socket %q; lanemesh supports %s with a typed config", route.ErrUnsupported, ts.GetName(), meshxds.TLSTransportSocket)
	}
	var msg P = new(T)
	if err := ts.GetTypedConfig().UnmarshalTo(msg); err != nil {
		return nil, fmt.Errorf("%w: transport socket %q: %w", route.ErrInvalid, ts.GetName(), err)
	}
	return msg, nil
}

// buildServerTLS reads a DownstreamTlsContext.
func buildServerTLS(ctx *tlsv3.DownstreamTlsContext) (*serverTLS, error) {
	common := ctx.GetCommonTlsContext()
	if err := checkCommon(common); err != nil {
		return nil, err
	}
	t := &serverTLS{alpn: slices.Clone(common.GetAlpnProtocols())}
	var err error
	if t.cert, err = certOf(common); err != nil {
		return nil, err
	}
	if t.params, err = buildParams(common.GetTlsParams()); err != nil {
		return nil, err
	}
	if vc := common.GetValidationContext(); vc != nil {
		if vc.GetTrustedCa() == nil {
			return nil, fmt.Errorf("%w: a validation context needs trusted_ca", route.ErrInvalid)
		}
		src, err := sourceOf(vc.GetTrustedCa())
		if err != nil {
			return nil, err
		}
		t.clientCAs = &caSource{src: src}
		t.clientAuth = tls.VerifyClientCertIfGiven
		if ctx.GetRequireClientCertificate().GetValue() {
			t.clientAuth = tls.RequireAndVerifyClientCert
		}
		if t.peer, err = buildPeerCheck(vc); err != nil {
			return nil, err
		}
	} else if ctx.GetRequireClientCertificate().GetValue() {
		return nil, fmt.Errorf("%w: require_client_certificate needs a validation context", route.ErrInvalid)
	}
	return t, nil
}

// checkCommon refuses what lanemesh would otherwise ignore: SDS, several
// certificates, custom validators.
func checkCommon(c *tlsv3.CommonTlsContext) error {
	switch {
	case len(c.GetTlsCertificateSdsSecretConfigs()) > 0 || c.GetValidationContextSdsSecretConfig() != nil || c.GetCombinedValidationContext() != nil:
		return fmt.Errorf("%w: SDS secrets are not supported; give certificates as files or inline bytes", route.ErrUnsupported)
	case len(c.GetTlsCertificates()) > 1:
		return fmt.Errorf("%w: one TLS certificate per context is supported", route.ErrUnsupported)
	case c.GetValidationContext().GetCustomValidatorConfig() != nil:
		return fmt.Errorf("%w: custom certificate validators are not supported", route.ErrUnsupported)
	}
	return nil
}

func certOf(c *tlsv3.CommonTlsContext) (*certSource, error) {
	if len(c.GetTlsCertificates()) == 0 {
		return nil, nil
	}
	tc := c.GetTlsCertificates()[0]
	cert, err := sourceOf(tc.GetCertificateChain())
	if err != nil {
		return nil, err
	}
	key, err := sourceOf(tc.GetPrivateKey())
	if err != nil {
		return nil, err
	}
	return &certSource{cert: cert, key: key}, nil
}

func buildPeerCheck(vc *tlsv3.CertificateValidationContext) (peerCheck, error) {
	var p peerCheck
	for _, m := range vc.GetMatchTypedSubjectAltNames() {
		exact := m.GetMatcher().GetExact()
		if exact == "" {
			return p, fmt.Errorf("%w: subject alt name matchers must be exact", route.ErrUnsupported)
		}
		p.sans = append(p.sans, sanMatch{typ: m.GetSanType(), exact: exact})
	}
	for _, s := range vc.GetVerifyCertificateSpki() {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != sha256.Size {
			return p, fmt.Errorf("%w: verify_certificate_spki %q is not a base64 SHA-256 hash", route.ErrInvalid, s)
		}
		p.spki = append(p.spki, b)
	}
	for _, s := range vc.GetVerifyCertificateHash() {
		b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
		if err != nil || len(b) != sha256.Size {
			return p, fmt.Errorf("%w: verify_certificate_hash %q is not a hex SHA-256 hash", route.ErrInvalid, s)
		}
		p.hashes = append(p.hashes, b)
	}
	return p, nil
}

// verify applies the check to the peer's leaf certificate.
func (p *peerCheck) verify(leaf *x509.Certificate) error {
	if len(p.sans) > 0 && !slices.ContainsFunc(p.sans, func(m sanMatch) bool { return m.matches(leaf) }) {
		return errors.New("peer certificate's subject alt names match none required")
	}
	if len(p.spki) == 0 && len(p.hashes) == 0 {
		return nil
	}
	spki, hash := sha256.Sum256(leaf.RawSubjectPublicKeyInfo), sha256.Sum256(leaf.Raw)
	for _, want := range p.spki {
		if bytes.Equal(want, spki[:]) {
			return nil
		}
	}
	for _, want := range p.hashes {
		if bytes.Equal(want, hash[:]) {
			return nil
		}
	}
	return errors.New("peer certificate matches no verify_certificate_spki or verify_certificate_hash")
}

// matches compares the SANs of the matcher's type: DNS names as Envoy
// does (a wildcard SAN covers one label), the others exactly.
func (m sanMatch) matches(c *x509.Certificate) bool {
	switch m.typ {
	case tlsv3.SubjectAltNameMatcher_DNS:
		return slices.ContainsFunc(c.DNSNames, func(san string) bool { return dnsMatch(san, m.exact) })
	case tlsv3.SubjectAltNameMatcher_URI:
		return slices.ContainsFunc(c.URIs, func(u *url.URL) bool { return u.String() == m.exact })
	case tlsv3.SubjectAltNameMatcher_EMAIL:
		return slices.Contains(c.EmailAddresses, m.exact)
	case tlsv3.SubjectAltNameMatcher_IP_ADDRESS:
		ip := net.ParseIP(m.exact)
		return ip != nil && slices.ContainsFunc(c.IPAddresses, ip.Equal)
	}
	return false
}

// dnsMatch reports whether a certificate's DNS SAN covers name.
func dnsMatch(san, name string) bool {
	san, name = strings.ToLower(san), strings.ToLower(name)
	if san == name {
		return true
	}
	rest, ok := strings.CutPrefix(san, "*.")
	if !ok {
		return false
	}
	_, after, found := strings.Cut(name, ".")
	return found && after == rest
}

// cipherIDs maps the OpenSSL names Istio accepts to Go's suites.
var cipherIDs = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
}

var tlsVersions = map[tlsv3.TlsParameters_TlsProtocol]uint16{
	tlsv3.TlsParameters_TLSv1_0: tls.VersionTLS10, tlsv3.TlsParameters_TLSv1_1: tls.VersionTLS11,
	tlsv3.TlsParameters_TLSv1_2: tls.VersionTLS12, tlsv3.TlsParameters_TLSv1_3: tls.VersionTLS13,
}

// buildParams reads TLS parameters. TLS_AUTO takes Envoy's defaults
// (TLS 1.2 to 1.3). A cipher suite entry "[A|B]" is an equal-preference
// group, read as its members; entries starting with another operator
// (-, +, !) and ALL keep Go's defaults for what they would change.
func buildParams(p *tlsv3.TlsParameters) (tlsParams, error) {
	out := tlsParams{min: tls.VersionTLS12, max: tls.VersionTLS13}
	if v, ok := tlsVersions[p.GetTlsMinimumProtocolVersion()]; ok {
		out.min = v
	}
	if v, ok := tlsVersions[p.GetTlsMaximumProtocolVersion()]; ok {
		out.max = v
	}
	if out.min > out.max {
		return out, fmt.Errorf("%w: minimum TLS version is above the maximum", route.ErrInvalid)
	}
	for _, entry := range p.GetCipherSuites() {
		for _, name := range strings.Split(strings.Trim(entry, "[]"), "|") {
			if name == "" || name == "ALL" || strings.ContainsAny(name[:1], "-+!@") {
				continue
			}
			id, ok := cipherIDs[name]
			if !ok {
				return out, fmt.Errorf("%w: cipher suite %q is not known", route.ErrInvalid, name)
			}
			out.ciphers = append(out.ciphers, id)
		}
	}
	if len(p.GetEcdhCurves()) > 0 || len(p.GetSignatureAlgorithms()) > 0 {
		return out, fmt.Errorf("%w: ecdh_curves and signature_algorithms are not supported", route.ErrUnsupported)
	}
	return out, nil
}

// config is the tls.Config of a handshake that chose this chain.
func (t *serverTLS) config() (*tls.Config, error) {
	cert, err := t.cert.get()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: t.params.min, MaxVersion: t.params.max,
		CipherSuites: t.params.ciphers, NextProtos: t.alpn, ClientAuth: tls.NoClientCert}
	if t.clientCAs != nil {
		if cfg.ClientCAs, err = t.clientCAs.get(); err != nil {
			return nil, err
		}
		cfg.ClientAuth = t.clientAuth
		if len(t.peer.sans)+len(t.peer.spki)+len(t.peer.hashes) > 0 {
			peer := t.peer
			cfg.VerifyPeerCertificate = func(_ [][]byte, chains [][]*x509.Certificate) error {
				if len(chains) == 0 || len(chains[0]) == 0 {
					return nil // no certificate under OPTIONAL_MUTUAL
				}
				return peer.verify(chains[0][0])
			}
		}
	}
	return cfg, nil
}

type protoMessage = proto.Message

// chainFor picks the filter chain for a connection whose client sent sni
// ("" for none), as Envoy matches server_names: an exact name first, then
// the longest "*." wildcard that covers it, then a chain without names.
// nil means no chain takes the connection, which is then closed.
func (lc *listenerConfig) chainFor(sni string) *filterChain {
	sni = strings.ToLower(strings.TrimSuffix(sni, "."))
	var best, catchAll *filterChain
	bestLen := 0
	for _, fc := range lc.chains {
		if len(fc.serverNames) == 0 {
			if catchAll == nil {
				catchAll = fc
			}
			continue
		}
		for _, n := range fc.serverNames {
			n = strings.ToLower(n)
			switch {
			case n == sni && sni != "":
				return fc
			case strings.HasPrefix(n, "*.") && len(sni) > len(n)-1 && strings.HasSuffix(sni, n[1:]) && len(n) > bestLen:
				best, bestLen = fc, len(n)
			}
		}
	}
	if best != nil {
		return best
	}
	return catchAll
}
