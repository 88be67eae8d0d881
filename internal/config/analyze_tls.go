package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lanemesh/lanemesh/api"
)

// Gateway server TLS modes (Istio's ServerTLSSettings.TLSmode). The empty
// mode is PASSTHROUGH, Istio's zero value.
var serverTLSModes = []string{"PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"}

// Client TLS modes (Istio's ClientTLSSettings.TLSmode). The empty mode is
// DISABLE.
var clientTLSModes = []string{"DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"}

// TLSProtocolVersions are the values of min/maxProtocolVersion.
var TLSProtocolVersions = []string{"TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"}

// CipherSuites are the cipher suite names Istio accepts on a Gateway
// server (pkg/config/security.ValidCipherSuites): BoringSSL's OpenSSL-style
// names without PSK.
var CipherSuites = []string{
	"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
	"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
	"ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA",
	"ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES256-SHA",
	"AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA", "AES256-SHA", "DES-CBC3-SHA",
}

// ServerTLSMode is a server's mode with Istio's default filled in.
func ServerTLSMode(t *api.ServerTLSSettings) string {
	if t == nil || t.Mode == "" {
		return "PASSTHROUGH"
	}
	return t.Mode
}

// ClientTLSMode is a policy's mode with Istio's default filled in.
func ClientTLSMode(t *api.ClientTLSSettings) string {
	if t == nil || t.Mode == "" {
		return "DISABLE"
	}
	return t.Mode
}

// serverTLS is Istio's validateTLSOptions and validateServer's TLS rule,
// then lanemesh's own limits: the modes it cannot serve are refused with
// LM0003, naming what to do instead.
func (a *analyzer) serverTLS(o object, s api.Server, path string) {
	t := s.TLS
	tlsPort := isTLSProtocol(s.Port.Protocol)
	switch {
	case tlsPort && t == nil:
		a.badValue(o, path+".tls", "server must have TLS settings for HTTPS/TLS protocols",
			"add tls with mode SIMPLE and the certificate, or use protocol HTTP")
		return
	case t == nil:
		return
	}
	path += ".tls"
	mode := ServerTLSMode(t)
	a.enum(o, t.Mode, serverTLSModes, path+".mode")
	passthrough := mode == "PASSTHROUGH" || mode == "AUTO_PASSTHROUGH"
	if !tlsPort {
		if !IsHTTPProtocol(s.Port.Protocol) {
			a.badValue(o, path, "server cannot have TLS settings for non HTTPS/TLS ports", "remove tls, or use protocol HTTPS")
		} else if !passthrough || t.CACertificates != "" || t.PrivateKey != "" || t.ServerCertificate != "" {
			a.badValue(o, path, "server cannot have TLS settings for plain text HTTP ports",
				"remove tls (keep only httpsRedirect: true to redirect), or use protocol HTTPS")
		}
	}
	if !IsHTTPProtocol(s.Port.Protocol) && t.HTTPSRedirect {
		a.warnf(o, CodeSchema, path+".httpsRedirect", "tls.httpsRedirect should only be used with http servers", "remove httpsRedirect")
	}
	a.enum(o, t.MinProtocolVersion, TLSProtocolVersions, path+".minProtocolVersion")
	a.enum(o, t.MaxProtocolVersion, TLSProtocolVersions, path+".maxProtocolVersion")
	a.cipherSuites(o, t, path)
	if a.serverTLSSources(o, t, mode, path) && tlsPort {
		a.serverTLSSupport(o, t, mode, path, s.Port.Protocol)
	}
}

// serverTLSSources checks where a mode takes its certificates from, as
// validateTLSOptions does. It reports whether the settings are valid.
func (a *analyzer) serverTLSSources(o object, t *api.ServerTLSSettings, mode, path string) bool {
	ok := true
	bad := func(field, msg, hint string) {
		a.badValue(o, path+field, msg, hint)
		ok = false
	}
	switch mode {
	case "ISTIO_MUTUAL":
		for _, f := range []struct{ name, value, what string }{
			{"serverCertificate", t.ServerCertificate, "server certificate"}, {"privateKey", t.PrivateKey, "private key"},
			{"caCertificates", t.CACertificates, "CA bundle"}, {"credentialName", t.CredentialName, "credentialName"},
		} {
			if f.value != "" {
				bad("."+f.name, "ISTIO_MUTUAL TLS cannot have associated "+f.what, "remove "+f.name+": ISTIO_MUTUAL uses the mesh's own certificates")
			}
		}
		return ok
	case "PASSTHROUGH", "AUTO_PASSTHROUGH":
		if t.ServerCertificate != "" || t.PrivateKey != "" || t.CACertificates != "" || t.CredentialName != "" {
			a.warnf(o, CodeSchema, path, mode+" mode does not use certificates, they will be ignored", "remove the certificate fields, or set mode: SIMPLE to terminate TLS")
		}
	}
	if t.ServerCertificate != "" && t.PrivateKey != "" && t.CredentialName != "" {
		bad(".credentialName", "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified",
			"use either credentialName or serverCertificate and privateKey")
	}
	if mode != "SIMPLE" && mode != "MUTUAL" && mode != "OPTIONAL_MUTUAL" || t.CredentialName != "" {
		return ok
	}
	prefix := "SIMPLE TLS"
	if mode != "SIMPLE" {
		prefix = "MUTUAL TLS"
		if t.CACertificates == "" {
			bad(".caCertificates", prefix+" requires a client CA bundle", "set caCertificates to the PEM file of the CAs that sign client certificates, or use credentialName")
		}
	}
	if t.ServerCertificate == "" {
		bad(".serverCertificate", prefix+" requires a server certificate", "set serverCertificate and privateKey to PEM files, or use credentialName")
	}
	if t.PrivateKey == "" {
		bad(".privateKey", prefix+" requires a private key", "set serverCertificate and privateKey to PEM files, or use credentialName")
	}
	return ok
}

// serverTLSSupport refuses, with LM0003, the valid settings of a TLS port
// lanemesh cannot serve.
func (a *analyzer) serverTLSSupport(o object, t *api.ServerTLSSettings, mode, path, protocol string) {
	switch mode {
	case "PASSTHROUGH", "AUTO_PASSTHROUGH":
		hint := "set mode: SIMPLE (or MUTUAL) with the server's certificate, so that the gateway terminates TLS and routes HTTP"
		if t.Mode == "" {
			hint = "mode is unset, which is Istio's PASSTHROUGH: " + hint
		}
		a.errorf(o, CodeUnsupported, path+".mode", fmt.Sprintf("tls mode %s is valid Istio but lanemesh does not implement it: it routes TLS by SNI without terminating it, and lanemesh routes HTTP only", mode), hint)
	case "ISTIO_MUTUAL":
		a.errorf(o, CodeUnsupported, path+".mode", "tls mode ISTIO_MUTUAL is valid Istio but lanemesh does not implement it: lanemesh issues no mesh identities",
			"use mode MUTUAL with caCertificates (or credentialName) holding the CA that signs your clients' certificates")
	default:
		if !strings.EqualFold(protocol, "HTTPS") {
			a.errorf(o, CodeUnsupported, path, fmt.Sprintf("a %s server that terminates TLS is valid Istio but lanemesh does not implement it: it would carry TCP, and lanemesh routes HTTP only", strings.ToUpper(protocol)),
				"use protocol HTTPS to terminate TLS and route HTTP")
		}
	}
}

// cipherSuites warns, as Istio does, about unknown and repeated suites
// (the proxy ignores them), and about TLS 1.0/1.1 without suites.
func (a *analyzer) cipherSuites(o object, t *api.ServerTLSSettings, path string) {
	if (t.MinProtocolVersion == "TLSV1_0" || t.MinProtocolVersion == "TLSV1_1") && len(t.CipherSuites) == 0 {
		a.warnf(o, CodeSchema, path+".minProtocolVersion", "TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.",
			"list cipherSuites that the old version supports, or use TLSV1_2")
	}
	seen := map[string]bool{}
	for i, cs := range t.CipherSuites {
		field := fmt.Sprintf("%s.cipherSuites[%d]", path, i)
		switch {
		case !ValidCipherSuite(cs):
			a.warnf(o, CodeSchema, field, fmt.Sprintf("ignoring invalid cipher suite %q", cs), "use one of "+strings.Join(CipherSuites, ", "))
		case seen[cs]:
			a.warnf(o, CodeSchema, field, fmt.Sprintf("ignoring duplicate cipher suite %q", cs), "list each suite once")
		}
		seen[cs] = true
	}
}

// ValidCipherSuite is Istio's IsValidCipherSuite: a known name, "ALL", or
// an expression starting with an operator, which Istio lets through.
func ValidCipherSuite(cs string) bool {
	if cs == "" || cs == "ALL" {
		return true
	}
	if c := cs[0]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return true
	}
	return slices.Contains(CipherSuites, cs)
}

// clientTLS is Istio's ValidateTLS for a DestinationRule's tls, then
// lanemesh's limits (LM0003 for ISTIO_MUTUAL).
func (a *analyzer) clientTLS(o object, t *api.ClientTLSSettings, path string) {
	if t == nil {
		return
	}
	path += ".tls"
	a.enum(o, t.Mode, clientTLSModes, path+".mode")
	mode := ClientTLSMode(t)
	skip := t.InsecureSkipVerify != nil && *t.InsecureSkipVerify
	ok := true
	bad := func(field, msg, hint string) {
		a.badValue(o, path+field, msg, hint)
		ok = false
	}
	switch {
	case skip && mode == "SIMPLE" && (t.CACertificates != "" || t.CredentialName != "" || t.SubjectAltNames != nil):
		bad(".insecureSkipVerify", "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true",
			"remove insecureSkipVerify to verify the server, or remove the verification settings")
	case skip && mode == "MUTUAL" && (t.CACertificates != "" || t.SubjectAltNames != nil):
		bad(".insecureSkipVerify", "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true",
			"remove insecureSkipVerify to verify the server, or remove caCertificates and subjectAltNames")
	}
	switch {
	case (mode == "SIMPLE" || mode == "MUTUAL") && t.CredentialName != "":
		if t.ClientCertificate != "" || t.CACertificates != "" || t.PrivateKey != "" {
			bad(".credentialName", "cannot specify client certificates or CA certificate or CA CRL If credentialName is set",
				"use either credentialName or the certificate files")
		}
	case mode == "MUTUAL":
		if t.ClientCertificate == "" {
			bad(".clientCertificate", "client certificate required for mutual tls", "set clientCertificate and privateKey to PEM files, or use credentialName")
		}
		if t.PrivateKey == "" {
			bad(".privateKey", "private key required for mutual tls", "set clientCertificate and privateKey to PEM files, or use credentialName")
		}
	}
	if mode == "ISTIO_MUTUAL" && ok {
		a.errorf(o, CodeUnsupported, path+".mode", "tls mode ISTIO_MUTUAL is valid Istio but lanemesh does not implement it: lanemesh issues no mesh identities",
			"use mode MUTUAL with clientCertificate, privateKey and caCertificates (or credentialName), or DISABLE")
	}
}

// isHTTPProtocol is protocol.Parse(p).IsHTTP(): an unset protocol is not
// HTTP to Istio's parser, but lanemesh's gateway serves it as HTTP, so it
// counts here too.
// IsHTTPProtocol reports whether a port protocol carries HTTP, in any
// case (Istio's protocol.Instance.IsHTTP, which parses ignoring case);
// lanemesh serves each of them as HTTP/1.1. "" counts, for ports that
// leave the protocol out.
func IsHTTPProtocol(p string) bool {
	switch strings.ToUpper(p) {
	case "", "HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY":
		return true
	}
	return false
}
