package proxy

import (
	"testing"

	"github.com/lanemesh/lanemesh/internal/leaktest"
)

// TestMain fails the run if goroutines of the proxy, of HTTP servers or of
// HTTP connection pools outlive the tests: every Run must drain, every
// listener stop and every upstream connection close.
func TestMain(m *testing.M) {
	leaktest.Main(m, "lanemesh/internal/proxy.", "net/http.(*persistConn)", "net/http.(*conn).serve")
}
