package mock

import (
	"testing"

	"github.com/lanemesh/lanemesh/internal/leaktest"
)

// TestMain fails the package when goroutines started by mock code outlive
// the tests that started them.
func TestMain(m *testing.M) {
	leaktest.Main(m, "lanemesh/internal/mock.")
}
