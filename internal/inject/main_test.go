package inject

import (
	"testing"

	"github.com/lanemesh/lanemesh/internal/leaktest"
)

func TestMain(m *testing.M) {
	leaktest.Main(m, "lanemesh/internal/inject.", "net/http.(*conn).serve")
}
