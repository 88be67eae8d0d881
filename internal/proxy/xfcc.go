package proxy

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/lanemesh/lanemesh/internal/route"
)

// xfccFields are the parts of a client certificate x-forwarded-client-cert
// carries, as set_current_client_cert_details names them; Hash always.
type xfccFields struct {
	subject, cert, dns, uri bool
}

// buildXFCC reads a connection manager's forward_client_cert_details:
// SANITIZE (Envoy's default) removes the header, as every proxy does, and
// SANITIZE_SET, Istio's on gateways, replaces it with the client's
// certificate when there is one. lanemesh forwards no client's header.
func buildXFCC(hcm *hcmv3.HttpConnectionManager) (*xfccFields, error) {
	switch hcm.GetForwardClientCertDetails() {
	case hcmv3.HttpConnectionManager_SANITIZE:
		return nil, nil
	case hcmv3.HttpConnectionManager_SANITIZE_SET:
		d := hcm.GetSetCurrentClientCertDetails()
		return &xfccFields{subject: d.GetSubject().GetValue(), cert: d.GetCert(), dns: d.GetDns(), uri: d.GetUri()}, nil
	}
	return nil, fmt.Errorf("%w: forward_client_cert_details %v; lanemesh sanitizes, or sets the header (SANITIZE_SET)", route.ErrUnsupported, hcm.GetForwardClientCertDetails())
}

// value is the header for the client certificate of cs, in Envoy's format:
// Hash, then Cert (URL-encoded PEM), Subject (RFC 2253), each URI and DNS
// name, joined by ";"; "" without a client certificate.
func (f *xfccFields) value(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return ""
	}
	leaf := cs.PeerCertificates[0]
	sum := sha256.Sum256(leaf.Raw)
	parts := []string{"Hash=" + hex.EncodeToString(sum[:])}
	if f.cert {
		parts = append(parts, `Cert="`+url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})))+`"`)
	}
	if f.subject {
		parts = append(parts, `Subject="`+strings.ReplaceAll(leaf.Subject.String(), `"`, `\"`)+`"`)
	}
	if f.uri {
		for _, u := range leaf.URIs {
			parts = append(parts, "URI="+u.String())
		}
	}
	if f.dns {
		for _, d := range leaf.DNSNames {
			parts = append(parts, "DNS="+d)
		}
	}
	return strings.Join(parts, ";")
}
