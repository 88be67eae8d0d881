//go:build !(linux && (amd64 || arm64 || 386 || arm || riscv64 || ppc64le || s390x || loong64))

package proxy

import (
	"errors"
	"net"
)

// reusePortListener is Linux's; see reuseport_linux.go.
type reusePortListener struct {
	net.Listener
	selectorErr error
}

// listenReusePort is Linux's; elsewhere ReusePort is refused.
func listenReusePort(string) (net.Listener, error) {
	return nil, errors.New("ReusePort (SO_REUSEPORT with a socket selector) is supported on Linux only")
}

// takeQueued is Linux's; elsewhere the close resets what is queued.
func takeQueued(net.Listener) []net.Conn { return nil }
