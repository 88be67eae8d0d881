package mock

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package when goroutines started by mock code outlive
// the tests that started them.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := checkLeaks("lanemesh/internal/mock."); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}

	os.Exit(code)
}

// checkLeaks waits up to five seconds for every goroutine other than the
// caller whose stack mentions marker to end.
func checkLeaks(marker string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		leaked := leakedStacks(marker)
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leaked goroutines:\n%s", strings.Join(leaked, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func leakedStacks(marker string) []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	stacks := strings.Split(string(buf), "\n\n")
	var out []string
	for _, s := range stacks[1:] { // the first is this goroutine
		if strings.Contains(s, marker) {
			out = append(out, s)
		}
	}
	return out
}
