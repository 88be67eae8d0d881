package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// defaultServer is where `lanemesh up` serves its admin API.
const defaultServer = "http://127.0.0.1:15000"

// client talks to a running `lanemesh up`, as kubectl talks to a cluster.
type client struct {
	server string
	http   *http.Client
}

// addServerFlag adds --server, defaulting to $LANEMESH_SERVER.
func addServerFlag(cmd *cobra.Command, c *client) {
	def := os.Getenv("LANEMESH_SERVER")
	if def == "" {
		def = defaultServer
	}
	cmd.Flags().StringVar(&c.server, "server", def, "admin API of a running lanemesh up (env LANEMESH_SERVER)")
	c.http = &http.Client{Timeout: 30 * time.Second}
}

// do sends a request and decodes a JSON answer into out; it returns the
// status code. Transport failures say how to start the server.
func (c *client) do(method, path string, query url.Values, body any, out any) (int, error) {
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
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return 0, usageError{fmt.Errorf("invalid --server %q: %w", c.server, err)}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
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
			return resp.StatusCode, fmt.Errorf("%s", e.Error)
		}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return resp.StatusCode, fmt.Errorf("unexpected answer from %s (%s): %w", c.server, resp.Status, err)
	}
	return resp.StatusCode, nil
}
