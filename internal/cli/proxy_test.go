package cli

import (
	"strings"
	"testing"
)

func TestProxyPathNormalizationFlag(t *testing.T) {
	code, _, errOut := run(t, "", "proxy", "--role", "gateway", "--static", "-f", lanes, "--path-normalization", "MERGE")
	if code != 2 || !strings.Contains(errOut, "--path-normalization") || !strings.Contains(errOut, "DECODE_AND_MERGE_SLASHES") {
		t.Errorf("exit %d, stderr %q; want 2 naming the flag and its values", code, errOut)
	}
}

func TestProxyTracingSamplingFlag(t *testing.T) {
	code, _, errOut := run(t, "", "proxy", "--role", "gateway", "--static", "-f", lanes,
		"--tracing-endpoint", "127.0.0.1:4318", "--tracing-sampling", "150")
	if code != 2 || !strings.Contains(errOut, "--tracing-sampling") || !strings.Contains(errOut, "0 to 100") {
		t.Errorf("exit %d, stderr %q; want 2 naming the flag and its range", code, errOut)
	}
}
