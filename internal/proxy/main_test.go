package proxy

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if goroutines of the proxy, of HTTP servers or of
// HTTP connection pools outlive the tests: every Run must drain, every
// listener stop and every upstream connection close.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := lingering(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// lingering waits up to d for suspicious goroutines to end and returns the
// stacks of those that did not.
func lingering(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var bad []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "proxy.TestMain") || strings.Contains(g, "proxy.lingering") {
				continue
			}
			if strings.Contains(g, "lanemesh/internal/proxy.") || strings.Contains(g, "net/http.(*persistConn)") ||
				strings.Contains(g, "net/http.(*conn).serve") {
				bad = append(bad, g)
			}
		}
		if len(bad) == 0 || time.Now().After(deadline) {
			return strings.Join(bad, "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
