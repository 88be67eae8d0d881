package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/internal/guard"
)

// defaultServer is where `lanemesh up` serves its admin API.
const defaultServer = "http://127.0.0.1:15000"

// client talks to a running `lanemesh up`, as kubectl talks to a cluster.
type client struct {
	server    string
	tokenFile string // "" means the one `up` wrote for the server's port
	http      *http.Client
}

// addServerFlag adds --server, defaulting to $LANEMESH_SERVER, and
// --token-file, defaulting to $LANEMESH_TOKEN_FILE.
func addServerFlag(cmd *cobra.Command, c *client) {
	def := os.Getenv("LANEMESH_SERVER")
	if def == "" {
		def = defaultServer
	}
	cmd.Flags().StringVar(&c.server, "server", def, "admin API of a running lanemesh up (env LANEMESH_SERVER)")
	cmd.Flags().StringVar(&c.tokenFile, "token-file", os.Getenv("LANEMESH_TOKEN_FILE"),
		"the admin API's token (env LANEMESH_TOKEN_FILE; default: the file up wrote for --server's port in $LANEMESH_HOME or ~/.config/lanemesh)")
	c.http = &http.Client{Timeout: 30 * time.Second}
}

// token reads the admin API's token from --token-file or, without it, from
// the file that `up` wrote for the server's port.
func (c *client) token() (string, error) {
	path := c.tokenFile
	if path == "" {
		u, err := url.Parse(c.server)
		if err != nil || u.Host == "" {
			return "", usageError{fmt.Errorf("invalid --server %q: write http://HOST:PORT", c.server)}
		}
		if !guard.IsLoopback(u.Host) {
			return "", usageError{fmt.Errorf("--server %s is not this machine's loopback, and the token of a lanemesh up or controlplane here goes only there: pass the server's token with --token-file (or LANEMESH_TOKEN_FILE)", c.server)}
		}
		dir, err := guard.HomeDir()
		if err != nil {
			return "", err
		}
		path = guard.TokenPath(dir, u.Host)
	}
	return guard.ReadToken(path)
}

// errNotFound is wrapped by the errors of answers 404 Not Found.
var errNotFound = errors.New("not found")

// apiError is an error answer of the admin API.
type apiError struct {
	status int
	msg    string
}

func (e apiError) Error() string { return e.msg }

func (e apiError) Is(target error) bool {
	return target == errNotFound && e.status == http.StatusNotFound
}

// do sends a request and decodes a JSON answer into out; it returns the
// status code. Transport failures say how to start the server.
func (c *client) do(method, path string, query url.Values, body any, out any) (int, error) {
	return c.doContext(context.Background(), method, path, query, body, out)
}

// doContext is do, abandoned when ctx is done.
func (c *client) doContext(ctx context.Context, method, path string, query url.Values, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	u := c.server + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, usageError{fmt.Errorf("invalid --server %q: %w", c.server, err)}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	token, err := c.token()
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach lanemesh at %s (is `lanemesh up` running? set --server or LANEMESH_SERVER): %w", c.server, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return resp.StatusCode, nil
	}
	if resp.StatusCode >= 400 {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return resp.StatusCode, apiError{resp.StatusCode, e.Error}
		}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return resp.StatusCode, fmt.Errorf("unexpected answer from %s (%s): %w", c.server, resp.Status, err)
	}
	return resp.StatusCode, nil
}

// stream sends a GET and copies the answer's body to w as it arrives, until
// the server ends it or ctx is done (which is no error): logs -f. It has no
// overall timeout, unlike do.
func (c *client) stream(ctx context.Context, path string, query url.Values, w io.Writer) error {
	token, err := c.token()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", c.server+path+"?"+query.Encode(), nil)
	if err != nil {
		return usageError{fmt.Errorf("invalid --server %q: %w", c.server, err)}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Transport: c.http.Transport}).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("cannot reach lanemesh at %s (is `lanemesh up` running? set --server or LANEMESH_SERVER): %w", c.server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return apiError{resp.StatusCode, e.Error}
		}
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	if _, err := io.Copy(w, resp.Body); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
