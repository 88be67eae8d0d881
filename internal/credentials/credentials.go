// Package credentials resolves the credentialName of Gateway servers and
// DestinationRules to certificates, for the compiler (compile.Credentials):
// from a directory in local mode (Dir), or from Kubernetes Secrets through
// a small lookup interface the Kubernetes source feeds (Secrets).
package credentials

import (
	"os"
	"path/filepath"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/lanemesh/lanemesh/internal/compile"
)

// File names of a credential, as in a Kubernetes TLS Secret.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
	CAFile   = "ca.crt"
	// CASuffix names the separate credential that may hold the CA, as
	// Istio looks for a Secret "<name>-cacert".
	CASuffix = "-cacert"
)

// Dir is the local mode's credentials: credential NAME is the directory
// Dir/NAME holding tls.crt and tls.key, and ca.crt for the CA, or, when
// that file does not exist, Dir/NAME-cacert/ca.crt. Credentials are
// global, as a gateway's are in Istio's namespace-less view of local mode:
// the namespace is not part of the path. The proxy reads the files on
// each handshake that finds them changed, so certificates rotate in place.
//
// Dir "" is the working directory.
type Dir string

var _ compile.Credentials = Dir("")

// Credential returns the files of credential name. It never fails: a
// credential whose files are missing fails at the handshake, which the
// proxy logs, and works as soon as they appear.
func (d Dir) Credential(_, name string) (compile.Credential, bool) {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return compile.Credential{}, false // a name must not reach outside the directory
	}
	base := filepath.Join(string(d), name)
	c := compile.Credential{Cert: compile.FileSource(filepath.Join(base, CertFile)), Key: compile.FileSource(filepath.Join(base, KeyFile)),
		CA: compile.FileSource(filepath.Join(base, CAFile))}
	if _, err := os.Stat(filepath.Join(base, CAFile)); err != nil {
		if alt := filepath.Join(string(d), name+CASuffix, CAFile); exists(alt) {
			c.CA = compile.FileSource(alt)
		}
	}
	return c, true
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// SecretLookup finds a Secret's data by namespace and name, from a cache:
// it must not block (the Kubernetes source answers from its informer).
type SecretLookup interface {
	Secret(namespace, name string) (data map[string][]byte, ok bool)
}

// Secrets is Kubernetes mode's credentials: the Secret named by a
// credentialName in the namespace of the proxy that uses it (as Istio
// reads it, never another namespace's), with keys
// tls.crt/tls.key/ca.crt or cert/key/cacert (both forms Istio accepts),
// and the CA alternatively in the Secret "<name>-cacert". The bytes go to
// the proxy inline.
type Secrets struct {
	Lookup SecretLookup
}

var _ compile.Credentials = Secrets{}

// Credential returns the Secret's certificate, key and CA.
func (s Secrets) Credential(namespace, name string) (compile.Credential, bool) {
	data, ok := s.Lookup.Secret(namespace, name)
	if !ok {
		return compile.Credential{}, false
	}
	c := compile.Credential{Cert: inline(data, CertFile, "cert"), Key: inline(data, KeyFile, "key"), CA: inline(data, CAFile, "cacert")}
	if c.CA == nil {
		if ca, ok := s.Lookup.Secret(namespace, name+CASuffix); ok {
			c.CA = inline(ca, CAFile, "cacert")
		}
	}
	return c, c.Cert != nil || c.CA != nil
}

// inline is the first of keys that data holds, as inline bytes.
func inline(data map[string][]byte, keys ...string) *corev3.DataSource {
	for _, k := range keys {
		if v, ok := data[k]; ok && len(v) > 0 {
			return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: v}}
		}
	}
	return nil
}
