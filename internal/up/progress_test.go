package up

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
)

// TestProgressWhileWaiting: until the mesh is ready, up reports what it
// waits for on Progress, never on Out, and the counts only grow to the
// full set.
func TestProgressWhileWaiting(t *testing.T) {
	out, progress := &lockedBuffer{}, &lockedBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	m, diags, err := Start(ctx, Options{Paths: []string{"../../examples/traffic-lanes"}, PortMap: map[uint32]string{80: "127.0.0.1:0"},
		Admin: "127.0.0.1:0", TokenDir: t.TempDir(), XDS: "127.0.0.1:0", GatewayAdmin: "-", Metrics: "-", Out: out, Progress: progress})
	if err != nil {
		cancel()
		t.Fatal(err, diags)
	}
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitUntil(func() bool { return strings.Contains(out.String(), "ready:") })
	if !strings.Contains(out.String(), "ready: 9 pods") {
		t.Fatalf("never ready:\n%s", out)
	}
	if strings.Contains(out.String(), "waiting") {
		t.Errorf("progress went to Out:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "waiting: pods ready ") || !strings.Contains(lines[0], "/9, proxies in step ") ||
		!strings.HasSuffix(lines[0], "/10") {
		t.Fatalf("progress:\n%s\nwant lines like \"waiting: pods ready N/9, proxies in step N/10\"", progress)
	}
	for i := 1; i < len(lines); i++ {
		if lines[i] == lines[i-1] {
			t.Errorf("progress repeated a line that did not change: %q", lines[i])
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
