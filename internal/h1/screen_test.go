package h1

import (
	"bufio"
	"bytes"
	"net/textproto"
	"strings"
	"testing"
)

func TestScreenHead(t *testing.T) {
	fields := func(n int) string {
		return "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: 1\r\n", n-1) + "\r\n"
	}
	for _, tc := range []struct {
		name, head string
		refused    int
	}{
		{"plain", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
		{"100 fields", fields(100), 0},
		{"101 fields", fields(101), 431},
		{"chunked alone", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
		{"length alone", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", 0},
		{"both", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"both, any case, LF ends", "POST / HTTP/1.1\nHost: a\ntransfer-ENCODING: x\ncontent-length: 3\n\n", 400},
		{"both, blank before the colon", "POST / HTTP/1.1\r\nContent-Length : 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"obs-fold with a space", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", 400},
		{"obs-fold with a tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\t2\r\n\r\n", 400},
		{"a name that only contains one", "POST / HTTP/1.1\r\nX-Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
		{"blank in a value is not a fold", "GET / HTTP/1.1\r\nX-A: 1 2\r\n\r\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			end := headEnd([]byte(tc.head))
			if end != len(tc.head) {
				t.Fatalf("headEnd %d, want %d", end, len(tc.head))
			}
			if got, reason := screenHead([]byte(tc.head)); got != tc.refused || (got == 0) != (reason == "") {
				t.Errorf("refused with %d (%q), want %d", got, reason, tc.refused)
			}
		})
	}
	if headEnd([]byte("GET / HTTP/1.1\r\nHost: a\r\n")) != -1 || headEnd([]byte("\r\nGET /")) != 2 {
		t.Error("headEnd of an incomplete head, or of one that starts blank")
	}
}

// FuzzScreenHead holds the screen to net/textproto, the parser net/http
// reads heads with: whenever textproto (folds unfolded, names
// canonicalised) finds both Content-Length and Transfer-Encoding in a head
// net/http would read, the screen refuses it.
func FuzzScreenHead(f *testing.F) {
	for _, s := range []string{
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\nHost: a\ntransfer-encoding: chunked\n\n",
		"POST / HTTP/1.1\r\nX: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		end := headEnd(raw)
		if end < 0 {
			return
		}
		head := raw[:end]
		_, reason := screenHead(head)
		refused := reason != ""
		tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
		if _, err := tp.ReadLine(); err != nil {
			return
		}
		h, err := tp.ReadMIMEHeader()
		if err != nil {
			return // net/http refuses it itself
		}
		if h["Content-Length"] != nil && h["Transfer-Encoding"] != nil && !refused {
			t.Fatalf("%q: both framings, and the screen let it through", head)
		}
	})
}
