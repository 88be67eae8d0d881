package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/bootstrap"
)

// TestWatchedFileConflictIsReported: an apply survives reloads of its
// watched file that leave its object alone; an edit of the object in the
// file wins and is reported as a Warning event that get events and
// describe show.
func TestWatchedFileConflictIsReported(t *testing.T) {
	home, dir := t.TempDir(), t.TempDir()
	t.Setenv("LANEMESH_HOME", home)
	t.Setenv("LANEMESH_TOKEN_FILE", "")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "dr.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const a = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a, namespace: default}\nspec: {host: a}\n"
	const b = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: b, namespace: default}\nspec: {host: b}\n"
	write(a + "---\n" + b)
	ctx, cancel := context.WithCancel(t.Context())
	srv, _, err := bootstrap.Start(ctx, bootstrap.Options{Paths: []string{dir}, XDS: "127.0.0.1:0", Admin: "127.0.0.1:0", TokenDir: home})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	t.Setenv("LANEMESH_SERVER", srv.AdminURL())

	waitFor(t, 5*time.Second, "the admin API", func() bool { code, _, _ := run(t, "", "get", "dr"); return code == 0 })
	if code, out, errOut := run(t, strings.Replace(a, "host: a", "host: applied", 1), "apply", "-f", "-"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	host := func(name string) string {
		_, out, _ := run(t, "", "get", "dr", name, "-o", "json")
		return out
	}
	write(a + "---\n" + strings.Replace(b, "host: b", "host: b2", 1))
	waitFor(t, 5*time.Second, "the file's edit of b", func() bool { return strings.Contains(host("b"), `"host": "b2"`) })
	if !strings.Contains(host("a"), `"host": "applied"`) {
		t.Fatalf("reloading the file reverted the apply of a:\n%s", host("a"))
	}
	if _, out, _ := run(t, "", "get", "events"); !strings.Contains(out, "No resources found") {
		t.Fatalf("an event for an edit that overrode nothing:\n%s", out)
	}
	write(strings.Replace(a, "host: a", "host: a2", 1) + "---\n" + strings.Replace(b, "host: b", "host: b2", 1))
	waitFor(t, 5*time.Second, "the file's edit of a", func() bool { return strings.Contains(host("a"), `"host": "a2"`) })
	_, out, _ := run(t, "", "get", "events")
	if !strings.Contains(out, "FileOverrodeChange") || !strings.Contains(out, "destinationrule/a") || !strings.Contains(out, "lanemesh apply") {
		t.Fatalf("get events:\n%s\nwant the file's override of the apply of a", out)
	}
	_, out, _ = run(t, "", "describe", "dr", "a")
	if !strings.Contains(out, "Warning  FileOverrodeChange") || !strings.Contains(out, "Last written by: file") {
		t.Fatalf("describe dr a:\n%s", out)
	}
}
