package proxycmd

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// ParsePortMap reads PORT=[HOST:]PORT pairs; a bare port binds 127.0.0.1.
func ParsePortMap(pairs []string) (map[uint32]string, error) {
	out := map[uint32]string{}
	for _, p := range pairs {
		from, to, ok := strings.Cut(p, "=")
		port, err := strconv.ParseUint(from, 10, 16)
		if !ok || err != nil || to == "" {
			return nil, fmt.Errorf("invalid --port-map %q: write PORT=[HOST:]PORT, e.g. 80=8080", p)
		}
		if !strings.Contains(to, ":") {
			to = "127.0.0.1:" + to
		}
		out[uint32(port)] = to
	}
	return out, nil
}

// NewLogger is a text logger to w at a --log-level.
func NewLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// OpenLog opens an access log destination: "" none, "-" stdout, else a
// file appended to.
func OpenLog(path string, stdout io.Writer) (io.Writer, error) {
	switch path {
	case "":
		return nil, nil
	case "-":
		return stdout, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return f, nil
}

// ParseLabels reads k=v,k2=v2.
func ParseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("invalid label %q in : write k=v,k2=v2", kv)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}
