package guard

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// DefaultDir is where tokens live when the user names no directory:
// $XDG_CONFIG_HOME/lanemesh or ~/.config/lanemesh, as kubeconfig lives in
// ~/.kube.
func DefaultDir() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no directory for lanemesh's admin token: %w (set LANEMESH_HOME)", err)
	}
	return filepath.Join(dir, "lanemesh"), nil
}

// HomeDir is where a command looks for tokens when told no file:
// $LANEMESH_HOME, else DefaultDir.
func HomeDir() (string, error) {
	if d := os.Getenv("LANEMESH_HOME"); d != "" {
		return d, nil
	}
	return DefaultDir()
}

// TokenPath is the file that holds the token of the admin API listening
// at addr ("127.0.0.1:15000", or a URL's host). Tokens are kept per port,
// so several `lanemesh up` on one machine each have their own, and a
// client finds the right one from --server alone.
func TokenPath(dir, addr string) string { return tokenPath(dir, "admin", addr) }

// XDSTokenPath is the file that holds the operator's token of the xDS
// server listening at addr: a proxy that presents it may be served any
// identity (lanemesh proxy finds it from --xds alone, as the CLI finds
// the admin token from --server).
func XDSTokenPath(dir, addr string) string { return tokenPath(dir, "xds", addr) }

// IsLoopback reports whether addr ("host:port", or a bare host) is this
// machine's loopback: localhost, 127.0.0.0/8, ::1, or no host at all. The
// CLI and the proxies send the token a server on this machine wrote only
// to such an address: the same port elsewhere is another server, which
// must not learn it.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = strings.Trim(addr, "[]")
	}
	if host == "" || strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func tokenPath(dir, kind, addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		port = "80"
	}
	return filepath.Join(dir, kind+"-"+port+".token")
}

// WriteToken makes a new random token and writes it to path, readable and
// writable by the current user only (and the directory, if it makes it),
// replacing any earlier one at once: the file is written aside and renamed.
func WriteToken(path string) (string, error) {
	dir := filepath.Dir(path)
	// A directory made here is the user's alone; one that exists (say
	// $LANEMESH_HOME=/tmp) is left as it is: the file itself is 0600.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("token directory: %w", err)
	}
	token := rand.Text()
	f, err := os.CreateTemp(dir, ".token-*") // mode 0600
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	_, werr := f.WriteString(token + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("token: %w", werr)
	}
	return token, nil
}

// ReadToken reads a token written by WriteToken. A file that others could
// read is refused, as ssh refuses such a key: its token may be known.
func ReadToken(path string) (string, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no token at %s: it is written by `lanemesh up` (or `controlplane`) when it starts; is it running, as this user, with that admin port? (or pass --token-file)", path)
	}
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("token %s is accessible by other users (mode %v); refusing to use it: restart the server, or chmod 600 it", path, info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("token %s is empty: restart the server that wrote it", path)
	}
	return token, nil
}
