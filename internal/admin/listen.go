package admin

import (
	"fmt"
	"net"
	"os"

	"github.com/lanemesh/lanemesh/internal/guard"
)

// Listener is the admin API's socket and the token that guards it.
type Listener struct {
	net.Listener
	// Requested is the address as the user asked for it ("localhost:15000"); a
	// host name in it is one a request's Host may name.
	Requested string
	// Token is this instance's secret, written to TokenFile (mode 0600).
	Token     string
	TokenFile string
}

// Listen binds addr and writes a new token for it into tokenDir (see
// guard.TokenPath), where lanemesh's commands find it from --server alone.
// The error says what to do when the address is taken.
func Listen(addr, tokenDir string) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w (is another lanemesh running? pass --admin)", err)
	}
	path := guard.TokenPath(tokenDir, ln.Addr().String())
	token, err := guard.WriteToken(path)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &Listener{Listener: ln, Requested: addr, Token: token, TokenFile: path}, nil
}

// URL is the API's base URL.
func (l *Listener) URL() string { return "http://" + l.Listener.Addr().String() }

// Close closes the socket and removes the token file, so that a stale
// token never outlives its server.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	os.Remove(l.TokenFile)
	return err
}
