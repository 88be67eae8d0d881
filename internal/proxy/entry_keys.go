package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/lanemesh/lanemesh/internal/entry"
)

// Timings of key sets fetched from a URI or read from a file.
const (
	// jwksTimeout bounds one fetch, and how long a request waits for the
	// first one: Istio's default jwtRules timeout.
	jwksTimeout = 5 * time.Second
	// jwksRetry is how long a failed fetch is remembered, so that a
	// broken issuer costs one fetch per interval, not one per request.
	jwksRetry = 5 * time.Second
)

// keyCache holds the key sets of URI and file sources by source, in the
// store, so that a configuration update keeps what was fetched.
type keyCache struct {
	mu   sync.Mutex
	byID map[entry.Source]*remoteKeys
}

// get returns the (shared) keys of src.
func (c *keyCache) get(src entry.Source) entry.Keys {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = map[entry.Source]*remoteKeys{}
	}
	k := c.byID[src]
	if k == nil {
		k = &remoteKeys{src: src, fetch: fetchJWKS}
		c.byID[src] = k
	}
	return k
}

// remoteKeys is one source's key set, fetched when first needed and again
// once it is CacheDuration old, as Envoy's remote_jwks does. A request
// that finds the keys stale still uses them while one fetch runs in the
// background; only a request that finds no keys at all waits for a fetch,
// and no longer than jwksTimeout.
type remoteKeys struct {
	src   entry.Source
	fetch func(entry.Source) (*entry.KeySet, error)

	mu       sync.Mutex
	ks       *entry.KeySet
	err      error     // the last fetch's failure, while no keys were had
	at       time.Time // of the last fetch, successful or not
	inFlight chan struct{}
}

// Keys implements entry.Keys.
func (k *remoteKeys) Keys() (*entry.KeySet, error) {
	k.mu.Lock()
	now := time.Now()
	fresh := k.ks != nil && now.Sub(k.at) < k.src.CacheDuration || k.ks == nil && k.err != nil && now.Sub(k.at) < jwksRetry
	if fresh {
		ks, err := k.ks, k.err
		k.mu.Unlock()
		return ks, err
	}
	if k.inFlight == nil {
		done := make(chan struct{})
		k.inFlight = done
		go k.refresh(done)
	}
	ks, wait := k.ks, k.inFlight
	k.mu.Unlock()
	if ks != nil {
		return ks, nil // stale, while the fetch runs
	}
	select {
	case <-wait:
	case <-time.After(jwksTimeout):
		return nil, errors.New("key set fetch timed out")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ks, k.err
}

// refresh fetches once and publishes the result; a failure keeps the
// keys already had.
func (k *remoteKeys) refresh(done chan struct{}) {
	ks, err := k.fetch(k.src)
	k.mu.Lock()
	k.at, k.inFlight = time.Now(), nil
	if err == nil {
		k.ks, k.err = ks, nil
	} else if k.ks == nil {
		k.err = err
	}
	k.mu.Unlock()
	close(done)
}

var jwksClient = &http.Client{Timeout: jwksTimeout}

// fetchJWKS reads a key set from its file or URI.
func fetchJWKS(src entry.Source) (*entry.KeySet, error) {
	if src.File != "" {
		f, err := os.Open(src.File)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readJWKS(f)
	}
	resp, err := jwksClient.Get(src.URI)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", src.URI, resp.Status)
	}
	return readJWKS(resp.Body)
}

func readJWKS(r io.Reader) (*entry.KeySet, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
	if err != nil {
		return nil, err
	}
	return entry.ParseJWKS(b)
}
