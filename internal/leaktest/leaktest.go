// Package leaktest fails a test binary whose tests leave goroutines
// behind: every server must stop, every Run return, every connection close.
// It is for tests only.
package leaktest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// grace is how long goroutines get to finish after the last test.
const grace = 5 * time.Second

// Main runs the tests and then, if they passed, fails the binary when a
// goroutine whose stack mentions any of markers (such as
// "lanemesh/internal/proxy." or "net/http.(*conn).serve") is still running
// after a grace period. Call it from TestMain.
func Main(m *testing.M, markers ...string) {
	code := m.Run()
	if code == 0 {
		if leaked := Lingering(grace, markers...); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// Lingering waits up to d for the goroutines (other than the caller) whose
// stacks mention a marker to end, and returns the stacks of those that did
// not ("" when none).
func Lingering(d time.Duration, markers ...string) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
		var bad []string
		for _, s := range stacks[1:] { // the first is the caller's
			for _, m := range markers {
				if strings.Contains(s, m) {
					bad = append(bad, s)
					break
				}
			}
		}
		if len(bad) == 0 || time.Now().After(deadline) {
			return strings.Join(bad, "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
