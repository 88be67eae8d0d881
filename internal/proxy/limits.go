package proxy

import (
	"net/http"
	"strconv"
	"syscall"

	"github.com/lanemesh/lanemesh/internal/h1"
)

// fileLimit is the process's soft limit on open files (RLIMIT_NOFILE), or
// 0 when it cannot be read. Go's runtime raises the soft limit to the hard
// limit at start (since Go 1.19), so this is the most the process can open.
func fileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

// defaultConnectionLimit is MaxConnections when Options leave it zero:
// 50,000, or half the file limit when that is lower, since a downstream
// connection may hold an upstream one, and a proxy out of descriptors can
// neither accept nor refuse anyone. At least 64, so that a tiny limit still
// leaves a usable proxy.
func defaultConnectionLimit(files uint64) int {
	if files == 0 || files/2 >= defaultListenerConnections {
		return defaultListenerConnections
	}
	return max(int(files/2), 64)
}

// overloadResponse is what a connection past its listener's limit gets
// before it is closed: Envoy's overload vocabulary (flag OM), the limit
// named, and Connection: close.
func overloadResponse(limit int) []byte {
	body := "overload: this listener is at its limit of " + strconv.Itoa(limit) + " connections (" + flagOM.String() + ")\n"
	return h1.Answer(http.StatusServiceUnavailable, body, flagsHeader, flagOM.String())
}

// refusalResponse is what a request head the HTTP/1.1 server refuses
// (h1's screen) gets: 400, or 431 for too many header fields, flagged DPE
// as the proxy's other refusals are.
func refusalResponse(status int, reason string) []byte {
	return h1.Answer(status, reason+" ("+flagDPE.String()+")\n", flagsHeader, flagDPE.String())
}
