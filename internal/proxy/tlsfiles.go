package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/route"
)

// pemSource is one PEM data source of a TLS context: a file, read again
// whenever its modification time or size changes (Istio rotates
// certificates without restarting the proxy), or inline bytes.
type pemSource struct {
	file   string
	inline []byte
}

// sourceOf reads an Envoy data source; nil for none.
func sourceOf(ds *corev3.DataSource) (*pemSource, error) {
	switch s := ds.GetSpecifier().(type) {
	case nil:
		return nil, nil
	case *corev3.DataSource_Filename:
		return &pemSource{file: s.Filename}, nil
	case *corev3.DataSource_InlineBytes:
		return &pemSource{inline: s.InlineBytes}, nil
	case *corev3.DataSource_InlineString:
		return &pemSource{inline: []byte(s.InlineString)}, nil
	}
	return nil, fmt.Errorf("%w: data source %T is not supported; use filename or inline bytes", route.ErrUnsupported, ds.GetSpecifier())
}

// stamp identifies a version of a file.
type stamp struct {
	mod  time.Time
	size int64
}

func (s *pemSource) stamp() (stamp, error) {
	if s == nil || s.file == "" {
		return stamp{}, nil
	}
	fi, err := os.Stat(s.file)
	if err != nil {
		return stamp{}, err
	}
	return stamp{fi.ModTime(), fi.Size()}, nil
}

func (s *pemSource) read() ([]byte, error) {
	if s.file == "" {
		return s.inline, nil
	}
	return os.ReadFile(s.file)
}

// certSource is a certificate and its key, loaded on first use and again
// when either file changes. A handshake calls get; it blocks only while a
// changed pair is read.
type certSource struct {
	cert, key *pemSource

	mu     sync.Mutex
	stamps [2]stamp
	loaded *tls.Certificate
}

// get returns the current certificate, reloading it if its files changed.
// While the files do not make a certificate (mid-rotation: one file
// written, the other not yet; a file removed), the last one they made
// is kept, as Envoy keeps a secret whose update it cannot load.
func (c *certSource) get() (*tls.Certificate, error) {
	if c == nil || c.cert == nil || c.key == nil {
		return nil, errors.New("no certificate is configured (is the credential missing?)")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pair, stamps, err := c.load()
	switch {
	case err == nil:
		c.loaded, c.stamps = pair, stamps
	case c.loaded == nil:
		return nil, err
	}
	return c.loaded, nil
}

// load reads the pair, unless its files are as when last loaded (pair is
// then the loaded one). c.mu is held.
func (c *certSource) load() (*tls.Certificate, [2]stamp, error) {
	cs, err := c.cert.stamp()
	if err != nil {
		return nil, [2]stamp{}, err
	}
	ks, err := c.key.stamp()
	if err != nil {
		return nil, [2]stamp{}, err
	}
	stamps := [2]stamp{cs, ks}
	if c.loaded != nil && c.stamps == stamps {
		return c.loaded, stamps, nil
	}
	certPEM, err := c.cert.read()
	if err != nil {
		return nil, stamps, err
	}
	keyPEM, err := c.key.read()
	if err != nil {
		return nil, stamps, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, stamps, fmt.Errorf("certificate %s: %w", c.cert.name(), err)
	}
	return &pair, stamps, nil
}

func (s *pemSource) name() string {
	if s.file != "" {
		return s.file
	}
	return "(inline)"
}

// caSource is a CA bundle, reloaded like certSource. The file
// meshxds.SystemRoots stands for the system's roots.
type caSource struct {
	src *pemSource

	mu     sync.Mutex
	stamp  stamp
	loaded *x509.CertPool
}

func (c *caSource) get() (*x509.CertPool, error) {
	if c.src.file == meshxds.SystemRoots {
		return x509.SystemCertPool()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pool, st, err := c.load()
	switch {
	case err == nil:
		c.loaded, c.stamp = pool, st
	case c.loaded == nil:
		return nil, err
	}
	return c.loaded, nil // a bundle that does not load keeps the last that did, as certSource
}

// load reads the bundle, unless its file is as when last loaded. c.mu is
// held.
func (c *caSource) load() (*x509.CertPool, stamp, error) {
	st, err := c.src.stamp()
	if err != nil {
		return nil, st, err
	}
	if c.loaded != nil && c.stamp == st {
		return c.loaded, st, nil
	}
	data, err := c.src.read()
	if err != nil {
		return nil, st, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, st, fmt.Errorf("CA bundle %s holds no PEM certificate", c.src.name())
	}
	return pool, st, nil
}
