package compile

import (
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// Credentials resolves a credentialName (of a Gateway server or a
// DestinationRule) to its certificate, key and CA, as Envoy data sources:
// files the proxy reads (local mode) or inline bytes (a Kubernetes
// Secret). ok is false when the credential does not exist; the server or
// cluster that names it then gets no certificate, and its handshakes fail.
//
// Implementations must answer from what they hold, without blocking: a
// compilation calls them for every server and policy that names one.
type Credentials interface {
	Credential(namespace, name string) (c Credential, ok bool)
}

// Credential is one resolved credential. CA is nil when it has none.
type Credential struct {
	Cert, Key, CA *corev3.DataSource
}

// Options are what a compilation takes besides the configuration, the
// instances and the proxy: the mesh-wide settings Istio takes from
// istiod's environment. The zero value resolves no credentialName and
// refuses HTTP/1.0.
type Options struct {
	Credentials Credentials
	// HTTP10 is Istio's PILOT_HTTP10: every HTTP connection manager
	// accepts HTTP/1.0 requests. Off, Istio's default, Envoy answers them
	// 426 Upgrade Required.
	HTTP10 bool
	// RegistryOnly is MeshConfig's outboundTrafficPolicy REGISTRY_ONLY: a
	// sidecar answers 502 to a request for a host the mesh does not know.
	// Off, Istio's ALLOW_ANY, it passes such a request on to where the
	// app sent it.
	RegistryOnly bool
}

// FileSource is a data source that names a file.
func FileSource(path string) *corev3.DataSource {
	if path == "" {
		return nil
	}
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

// credential resolves name, or returns the zero Credential. The namespace
// is the proxy's, not that of the Gateway or DestinationRule that names
// it: Istio reads a credentialName from the Secrets of the namespace the
// gateway (or sidecar) runs in, and a proxy may read no other namespace's.
func (b *builder) credential(name string) Credential {
	if b.opts.Credentials == nil {
		return Credential{}
	}
	c, _ := b.opts.Credentials.Credential(b.proxy.Namespace, name)
	return c
}

// downstreamTLS is the DownstreamTlsContext of a Gateway server that
// terminates TLS (mode SIMPLE, MUTUAL or OPTIONAL_MUTUAL), as Istio builds
// it: the certificate, the client CA and its restrictions, the protocol
// versions and ciphers, and ALPN http/1.1 (lanemesh serves HTTP/1.1).
func (b *builder) downstreamTLS(t *api.ServerTLSSettings) *tlsv3.DownstreamTlsContext {
	cert := Credential{Cert: FileSource(t.ServerCertificate), Key: FileSource(t.PrivateKey), CA: FileSource(t.CACertificates)}
	if t.CredentialName != "" {
		cert = b.credential(t.CredentialName)
	}
	common := &tlsv3.CommonTlsContext{AlpnProtocols: []string{"http/1.1"}, TlsParams: tlsParams(t)}
	if cert.Cert != nil || cert.Key != nil {
		common.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: cert.Cert, PrivateKey: cert.Key}}
	}
	mode := config.ServerTLSMode(t)
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: common}
	if mode == "MUTUAL" || mode == "OPTIONAL_MUTUAL" {
		ctx.RequireClientCertificate = wrapperspb.Bool(mode == "MUTUAL")
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa:                 cert.CA,
			MatchTypedSubjectAltNames: sanMatchers(t.SubjectAltNames),
			VerifyCertificateSpki:     slices.Clone(t.VerifyCertificateSpki),
			VerifyCertificateHash:     slices.Clone(t.VerifyCertificateHash),
		}}
	}
	return ctx
}

// tlsParams are a server's protocol versions and cipher suites; nil when it
// sets none. Invalid and repeated suites are dropped, as Istio drops them
// (the analyzer warns).
func tlsParams(t *api.ServerTLSSettings) *tlsv3.TlsParameters {
	var suites []string
	for _, cs := range t.CipherSuites {
		if config.ValidCipherSuite(cs) && !slices.Contains(suites, cs) {
			suites = append(suites, cs)
		}
	}
	if t.MinProtocolVersion == "" && t.MaxProtocolVersion == "" && len(suites) == 0 {
		return nil
	}
	return &tlsv3.TlsParameters{
		TlsMinimumProtocolVersion: tlsVersion(t.MinProtocolVersion),
		TlsMaximumProtocolVersion: tlsVersion(t.MaxProtocolVersion),
		CipherSuites:              suites,
	}
}

func tlsVersion(v string) tlsv3.TlsParameters_TlsProtocol {
	switch v {
	case "TLSV1_0":
		return tlsv3.TlsParameters_TLSv1_0
	case "TLSV1_1":
		return tlsv3.TlsParameters_TLSv1_1
	case "TLSV1_2":
		return tlsv3.TlsParameters_TLSv1_2
	case "TLSV1_3":
		return tlsv3.TlsParameters_TLSv1_3
	}
	return tlsv3.TlsParameters_TLS_AUTO
}

// sanMatchers matches each name exactly as a DNS or a URI SAN, as Istio
// writes subjectAltNames.
func sanMatchers(names []string) []*tlsv3.SubjectAltNameMatcher {
	var out []*tlsv3.SubjectAltNameMatcher
	for _, n := range names {
		for _, t := range []tlsv3.SubjectAltNameMatcher_SanType{tlsv3.SubjectAltNameMatcher_DNS, tlsv3.SubjectAltNameMatcher_URI} {
			out = append(out, &tlsv3.SubjectAltNameMatcher{SanType: t,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: n}}})
		}
	}
	return out
}

// upstreamTLS is the UpstreamTlsContext of a cluster whose policy
// originates TLS (mode SIMPLE or MUTUAL), or nil. host is the service host,
// the SNI when the policy names none. The server is verified against the
// CA (the system's roots when there is none, as Istio's
// VERIFY_CERTIFICATE_AT_CLIENT does), and its SANs against
// subjectAltNames or, when none are listed, the SNI (Envoy's
// auto_san_validation, which Istio enables with auto SNI).
func (b *builder) upstreamTLS(t *api.ClientTLSSettings, host string) *tlsv3.UpstreamTlsContext {
	mode := config.ClientTLSMode(t)
	if mode != "SIMPLE" && mode != "MUTUAL" {
		return nil
	}
	cred := Credential{CA: FileSource(t.CACertificates)}
	if mode == "MUTUAL" {
		cred.Cert, cred.Key = FileSource(t.ClientCertificate), FileSource(t.PrivateKey)
	}
	if t.CredentialName != "" {
		cred = b.credential(t.CredentialName)
		if mode == "SIMPLE" {
			cred.Cert, cred.Key = nil, nil
		}
	}
	sni := t.SNI
	if sni == "" && !strings.HasPrefix(host, "*") {
		sni = host
	}
	common := &tlsv3.CommonTlsContext{}
	if cred.Cert != nil || cred.Key != nil {
		common.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: cred.Cert, PrivateKey: cred.Key}}
	}
	if t.InsecureSkipVerify == nil || !*t.InsecureSkipVerify {
		sans := t.SubjectAltNames
		if len(sans) == 0 && sni != "" {
			sans = []string{sni}
		}
		vc := &tlsv3.CertificateValidationContext{TrustedCa: cred.CA, MatchTypedSubjectAltNames: sanMatchers(sans)}
		if cred.CA == nil {
			vc.TrustedCa = &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: meshxds.SystemRoots}}
		}
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}
	}
	return &tlsv3.UpstreamTlsContext{CommonTlsContext: common, Sni: sni}
}
