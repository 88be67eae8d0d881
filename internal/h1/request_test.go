package h1

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"sync"
	"testing"
	"time"
)

// plainRequests are request heads parsePlainRequest must parse itself; the
// differential check holds each to what net/http's server hands its handler.
var plainRequests = []string{
	"GET /mock HTTP/1.1\r\nHost: gw\r\nX-Asm-Prefer-Tag: v2\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", // wrk
	"GET /mock HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nx-asm-prefer-tag: v2\r\n\r\n",
	"GET /mock HTTP/1.1\r\nHost: gw\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n",
	"GET http://mockb:8000/ HTTP/1.1\r\nHost: mockb:8000\r\nUser-Agent: Go-http-client/1.1\r\n\r\n", // through HTTP_PROXY
	"GET http://user:pw@mockb:8000/a?b=c HTTP/1.1\r\nHost: elsewhere\r\n\r\n",
	"GET http:///nohost HTTP/1.1\r\nHost: fromheader\r\n\r\n",
	"POST /api?x=1&y=2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
	"PUT /a HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n",
	"GET /a HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
	"GET /a HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
	"GET /a%20b/caf%C3%A9?q=%41 HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a!*'()|{}\"<>^`\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a? HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a?b?c#d HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET //double/slash HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a HTTP/1.1\r\nhost: [::1]:8080\r\nx-lower: v\r\nX-A: 1\r\nx-a: 2\r\nX-Empty:\r\nX-Blanks:  \t b \t \r\nX-Obs: caf\xc3\xa9\r\n\r\n",
	"PURGE /cache HTTP/1.1\r\nHost: a\r\nX-!#$%&'*+-.^_`|~: tchar\r\n\r\n",
}

// notPlainRequests are heads the fast path must leave to net/http, whether
// net/http serves them or refuses them.
var notPlainRequests = []string{
	"GET /a HTTP/1.0\r\nHost: a\r\n\r\n",
	"GET /a HTTP/1.1\r\n\r\n",                       // no Host
	"GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", // two
	"GET /a HTTP/1.1\r\nHost: a b\r\n\r\n",          // not a host
	"GET http://a/ HTTP/1.1\r\n\r\n",                // no Host, though the target has one
	"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: a\r\nTrailer: X-T\r\nContent-Length: 0\r\n\r\n",
	"GET /a HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
	"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx",
	"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\nx",
	"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
	"CONNECT gw:443 HTTP/1.1\r\nHost: gw:443\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	"GET HTTP://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET https://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET  /a HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a HTTP/1.1 \r\nHost: a\r\n\r\n",
	"GE(T /a HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a HTTP/1.1\nHost: a\n\n",                          // bare LF
	"GET /a HTTP/1.1\r\nHost: a\r\nX-Fold: a\r\n b\r\n\r\n", // obs-fold
	"GET /a HTTP/1.1\r\nHost: a\r\nX-Space : a\r\n\r\n",
	"GET /a HTTP/1.1\r\nHost: a\r\nX-Nul: a\x00b\r\n\r\n",
	"GET /a HTTP/1.1\r\nHost: a\r\nX-Cr: a\rb\r\n\r\n",
	"GET /a HTTP/1.1\r\nHost: a\r\n : leading\r\n\r\n",
	"\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", // to net/http, which can hand over the connection
}

func TestPlainRequestMatchesNetHTTP(t *testing.T) {
	ref := newRequestReference(t)
	var keys keyCache // shared, as by a connection's requests, so that names hit it
	for _, raw := range plainRequests {
		if v := checkPlainRequest(t, ref, &keys, []byte(raw)); v != headPlain {
			t.Errorf("%q: verdict %d, want plain", raw, v)
		}
	}
	for _, raw := range notPlainRequests {
		if v := checkPlainRequest(t, ref, &keys, []byte(raw)); v != headNotPlain {
			t.Errorf("%q: verdict %d, want not plain", raw, v)
		}
	}
}

// FuzzPlainRequest checks that whatever the fast path accepts, net/http's
// server accepts too and hands its handler the same request.
func FuzzPlainRequest(f *testing.F) {
	for _, raw := range append(append([]string(nil), plainRequests...), notPlainRequests...) {
		f.Add([]byte(raw))
	}
	ref := newRequestReference(f)
	var keys keyCache // shared by every input, as by a connection's requests
	f.Fuzz(func(t *testing.T, raw []byte) { checkPlainRequest(t, ref, &keys, raw) })
}

// parsedRequest is what a handler sees of a request head.
type parsedRequest struct {
	Method, RequestURI, Proto string
	ProtoMajor, ProtoMinor    int
	URL                       url.URL
	Host                      string
	Header                    http.Header
	ContentLength             int64
	Close                     bool
	TransferEncoding          []string
}

func parsedOf(r *http.Request) parsedRequest {
	return parsedRequest{r.Method, r.RequestURI, r.Proto, r.ProtoMajor, r.ProtoMinor, *r.URL, r.Host, r.Header,
		r.ContentLength, r.Close, r.TransferEncoding}
}

// checkPlainRequest runs parsePlainRequest on raw, with keys, and if it
// accepts the head, checks that net/http's server hands its handler the
// same request, and that no shorter prefix of raw is accepted.
func checkPlainRequest(t *testing.T, ref *requestReference, keys *keyCache, raw []byte) headVerdict {
	t.Helper()
	r := &http.Request{Header: http.Header{}, URL: &url.URL{}}
	size, _, v := parsePlainRequest(raw, r, nil, keys, nil)
	if v != headPlain {
		return v
	}
	for n := range size {
		if _, _, pv := parsePlainRequest(raw[:n], &http.Request{Header: http.Header{}, URL: &url.URL{}}, nil, keys, nil); pv == headPlain {
			t.Fatalf("%q: the prefix of %d bytes is accepted as a whole head of %d", raw, n, size)
		}
	}
	want, status := ref.parse(t, raw[:size])
	if want == nil {
		t.Fatalf("%q: the fast path accepts what net/http's server answers with %d", raw, status)
	}
	if got := parsedOf(r); !reflect.DeepEqual(got, *want) {
		t.Fatalf("%q:\nfast path %+v\nnet/http  %+v", raw, got, *want)
	}
	return v
}

// requestReference is a net/http server on loopback that records the
// first request of each connection as its handler sees it.
type requestReference struct {
	addr string
	mu   sync.Mutex
	seen map[string]*parsedRequest // by client address
}

func newRequestReference(t testing.TB) *requestReference {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ref := &requestReference{addr: ln.Addr().String(), seen: map[string]*parsedRequest{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := parsedOf(r)
		ref.mu.Lock()
		if ref.seen[r.RemoteAddr] == nil {
			ref.seen[r.RemoteAddr] = &p
		}
		ref.mu.Unlock()
	}), ReadHeaderTimeout: 2 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ref
}

// parse sends head (and no body) to the server, and returns the request
// its handler saw, or nil and the status it answered with.
func (ref *requestReference) parse(t *testing.T, head []byte) (*parsedRequest, int) {
	c, err := net.Dial("tcp", ref.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(head); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	out, _ := io.ReadAll(c)
	ref.mu.Lock()
	defer ref.mu.Unlock()
	key := c.LocalAddr().String()
	seen := ref.seen[key]
	delete(ref.seen, key) // a later connection may get the same port
	return seen, statusOf(string(out))
}

// TestKeyCache checks that the cache gives every name textproto's
// canonical form, whatever the cases of the names before it, and
// allocates nothing for a name it holds.
func TestKeyCache(t *testing.T) {
	var kc keyCache
	names := []string{"x-lane", "X-LANE", "x-Lane", "content-type", "x-lanes", "x-lan-e", "a", "A",
		"x-1", "x-2", "x-3", "x-4", "x-5", "x-6", "x-7", "x-8", "x-9", "X-LANE", "x-b3-traceid"}
	for range 3 {
		for _, n := range names {
			if got, want := kc.canonical(n), http.CanonicalHeaderKey(n); got != want {
				t.Fatalf("canonical(%q) = %q, want %q", n, got, want)
			}
		}
	}
	kc.canonical("x-asm-prefer-tag")
	if n := testing.AllocsPerRun(100, func() { kc.canonical("x-asm-prefer-tag") }); n != 0 {
		t.Errorf("a cached name costs %v allocations, want 0", n)
	}
	var none *keyCache
	if got := none.canonical("x-lane"); got != "X-Lane" {
		t.Errorf("without a cache: %q", got)
	}
}
