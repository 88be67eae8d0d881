package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// plainHeads are response heads parsePlainHead must parse itself; the
// differential check below holds each to http.ReadResponse's result.
var plainHeads = []string{
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 9\r\n\r\nmocka-v1\n",
	"HTTP/1.1 200 OK\r\nDate: Tue, 25 Nov 2026 22:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nX-Pod: a\r\n\r\nbusy",
	"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok",                                      // no reason phrase
	"HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok",                                     // an empty one
	"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-lower-case: v\r\nETAG: \"x\"\r\n\r\nok", // canonicalised names
	"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-Blanks:  \t spaced out \t \r\nX-Empty:\r\nX-Colon: a:b\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 404 Not Found\r\nX-Obs-Text: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n",
	"HTTP/1.1 599 Custom\r\nX-!#$%&'*+-.^_`|~: tchar\r\nContent-Length: 1\r\n\r\nx",
}

// notPlainHeads are heads the fast path must leave to http.ReadResponse
// (whether that accepts them or not).
var notPlainHeads = []string{
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\n\r\nclose-delimited",
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\nContent-Length: 0\n\n",                          // bare LF
	"HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n",                      // one bare LF
	"HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 0\r\n\r\n", // obs-fold
	"HTTP/1.1 200 OK\r\nX-Space : a\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-Nul: a\x00b\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-Cr: a\rb\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
	"HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTrailer: X-T\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 20x OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\n : leading space\r\nContent-Length: 0\r\n\r\n",
	"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
}

func TestPlainHeadMatchesReadResponse(t *testing.T) {
	for _, raw := range plainHeads {
		if v := checkPlainHead(t, []byte(raw)); v != headPlain {
			t.Errorf("%q: verdict %d, want plain", raw, v)
		}
	}
	for _, raw := range notPlainHeads {
		if v := checkPlainHead(t, []byte(raw)); v != headNotPlain {
			t.Errorf("%q: verdict %d, want not plain", raw, v)
		}
	}
}

// FuzzPlainHead checks that whatever the fast path accepts, it parses as
// http.ReadResponse does.
func FuzzPlainHead(f *testing.F) {
	for _, raw := range append(append([]string(nil), plainHeads...), notPlainHeads...) {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkPlainHead(t, raw) })
}

// checkPlainHead runs parsePlainHead on raw and, if it accepts the head,
// checks its result against http.ReadResponse's, and that no shorter prefix
// of raw is accepted.
func checkPlainHead(t *testing.T, raw []byte) headVerdict {
	t.Helper()
	h := http.Header{}
	head, v := parsePlainHead(raw, h, nil, nil)
	if v != headPlain {
		return v
	}
	for n := range head.size {
		if _, pv := parsePlainHead(raw[:n], http.Header{}, nil, nil); pv == headPlain {
			t.Fatalf("%q: the prefix of %d bytes is accepted as a whole head of %d", raw, n, head.size)
		}
	}
	br := bufio.NewReaderSize(bytes.NewReader(raw), len(raw)+16)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("%q: the fast path accepts what http.ReadResponse rejects: %v", raw, err)
	}
	consumed := len(raw) - br.Buffered()
	got := []any{head.status, head.code, head.contentLength, head.size, h}
	want := []any{resp.Status, resp.StatusCode, resp.ContentLength, consumed, resp.Header}
	if !reflect.DeepEqual(got, want) || resp.Close || resp.ProtoMajor != 1 || resp.ProtoMinor != 1 || resp.TransferEncoding != nil {
		t.Fatalf("%q:\nfast path %#v\nReadResponse %#v (close %v, proto %s, TE %v)", raw, got, want, resp.Close, resp.Proto, resp.TransferEncoding)
	}
	return v
}

// TestPlainBodyReadsLikeNetHTTP checks the Content-Length body reader:
// io.EOF with the last bytes, io.ErrUnexpectedEOF when the upstream stops
// short.
func TestPlainBodyReadsLikeNetHTTP(t *testing.T) {
	for _, tc := range []struct {
		name, stream string
		length       int64
		want         string
		err          error
	}{
		{"whole", "hello, and the next response", 5, "hello", nil},
		{"short", "hel", 5, "hel", io.ErrUnexpectedEOF},
		{"empty", "", 0, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &ClientConn{br: bufio.NewReader(strings.NewReader(tc.stream))}
			b := &Body{c: c, remaining: tc.length}
			buf := make([]byte, 64)
			n, err := 0, error(nil)
			for err == nil {
				var m int
				m, err = b.Read(buf[n:])
				n += m
			}
			if got := string(buf[:n]); got != tc.want || (tc.err == nil && err != io.EOF) || (tc.err != nil && err != tc.err) {
				t.Errorf("read %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
			if tc.err == nil && !b.eof {
				t.Error("the body did not record its end")
			}
		})
	}
}
