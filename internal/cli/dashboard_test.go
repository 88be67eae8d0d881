package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDashboardPrintsTheURL: dashboard checks the server with the token
// and prints the page's URL with the token in its fragment, which a
// browser keeps to itself; a server that refuses the token is an error.
func TestDashboardPrintsTheURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/dashboard" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"missing or wrong token"}`))
			return
		}
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	os.WriteFile(good, []byte("s3cret\n"), 0o600)
	os.WriteFile(bad, []byte("other\n"), 0o600)

	code, out, errOut := run(t, "", "dashboard", "--server", srv.URL, "--token-file", good)
	if want := srv.URL + "/ui/#token=s3cret\n"; code != 0 || out != want {
		t.Errorf("exit %d, printed %q (%s), want %q", code, out, errOut, want)
	}
	code, out, errOut = run(t, "", "dashboard", "--server", srv.URL, "--token-file", bad)
	if code == 0 || out != "" || !strings.Contains(errOut, "wrong token") {
		t.Errorf("with a refused token: exit %d, %q, %q; want a failure that says why", code, out, errOut)
	}
}
