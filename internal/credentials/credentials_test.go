package credentials

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDir(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"own/ca.crt", "split-cacert/ca.crt"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("ca"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d := Dir(dir)
	for _, tc := range []struct{ name, cert, ca string }{
		{"own", "own/tls.crt", "own/ca.crt"},
		{"split", "split/tls.crt", "split-cacert/ca.crt"},
		{"absent", "absent/tls.crt", "absent/ca.crt"}, // fails at the handshake, and works once written
	} {
		c, ok := d.Credential("ns", tc.name)
		if !ok || c.Cert.GetFilename() != filepath.Join(dir, tc.cert) || c.CA.GetFilename() != filepath.Join(dir, tc.ca) ||
			c.Key.GetFilename() != filepath.Join(dir, tc.name, "tls.key") {
			t.Errorf("%s: %v %v", tc.name, c, ok)
		}
	}
	for _, bad := range []string{"", "..", "../etc", "a/b"} {
		if _, ok := d.Credential("ns", bad); ok {
			t.Errorf("credential %q resolved: a name must not reach outside the directory", bad)
		}
	}
}

type secrets map[string]map[string][]byte

func (s secrets) Secret(ns, name string) (map[string][]byte, bool) {
	d, ok := s[ns+"/"+name]
	return d, ok
}

func TestSecrets(t *testing.T) {
	s := Secrets{Lookup: secrets{
		"gw/tls":            {"tls.crt": []byte("C"), "tls.key": []byte("K"), "ca.crt": []byte("A")},
		"gw/generic":        {"cert": []byte("C2"), "key": []byte("K2")},
		"gw/generic-cacert": {"cacert": []byte("A2")},
	}}
	c, ok := s.Credential("gw", "tls")
	if !ok || string(c.Cert.GetInlineBytes()) != "C" || string(c.Key.GetInlineBytes()) != "K" || string(c.CA.GetInlineBytes()) != "A" {
		t.Errorf("kubernetes.io/tls keys: %v %v", c, ok)
	}
	c, ok = s.Credential("gw", "generic")
	if !ok || string(c.Cert.GetInlineBytes()) != "C2" || string(c.Key.GetInlineBytes()) != "K2" || string(c.CA.GetInlineBytes()) != "A2" {
		t.Errorf("cert/key/cacert keys with a -cacert Secret: %v %v", c, ok)
	}
	if _, ok := s.Credential("other", "tls"); ok {
		t.Error("a Secret of another namespace resolved")
	}
}
