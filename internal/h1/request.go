package h1

import (
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/lanemesh/lanemesh/internal/arena"
)

// parsePlainRequest parses the request head at the start of b into r, if
// the head is plain, and returns its size. r.Header must be an empty map
// and r.URL a URL to overwrite; vals is scratch space for header values,
// returned grown when it was too small; keys, if not nil, canonicalizes
// header names (see keyCache); strs, if not nil, holds the head's text.
//
// A plain head is what nearly every client sends: an HTTP/1.1 request line
// with a method token and an origin-form ("/path?query") or "http://"
// absolute-form target, CRLF line ends, header fields that net/textproto
// takes as they are (no folding, valid names and values), exactly one
// valid Host, at most one Content-Length, and none of Transfer-Encoding,
// Expect, Trailer or Pragma, whose handling belongs to net/http. The result
// must be exactly the request net/http's server would hand its handler for
// the same bytes; the differential test and fuzzer in request_test.go hold
// it to that. Any other head gets headNotPlain (or headIncomplete while no
// blank line has arrived and nothing rules the head out yet), and the
// connection goes to net/http, which parses it and answers every oddity.
func parsePlainRequest(b []byte, r *http.Request, vals []string, keys *keyCache, strs *arena.Strings) (int, []string, headVerdict) {
	size, lines, verdict := headExtent(b)
	switch {
	case verdict != headPlain:
		return 0, vals, verdict
	case lines-1 > MaxHeaderFields:
		return 0, vals, headNotPlain // the screen refuses it
	}
	s := strs.String(b[:size]) // every string below is a substring of s
	line, rest, _ := strings.Cut(s, "\r\n")
	method, line, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(line, " ")
	if !ok1 || !ok2 || proto != "HTTP/1.1" || !ValidName(method) || !parseTarget(target, r.URL) {
		return 0, vals, headNotPlain
	}
	if cap(vals) < lines {
		vals = make([]string, lines)
	}
	vals = vals[:lines]
	h, free := r.Header, vals
	host, hosts, length, lengths := "", 0, int64(0), 0
	for {
		line, rest, _ = strings.Cut(rest, "\r\n")
		if line == "" {
			break
		}
		key, value, ok := parseField(line, keys)
		if !ok {
			return 0, vals, headNotPlain
		}
		switch key {
		case "Host":
			host, hosts = value, hosts+1
			continue // net/http takes Host out of the header map
		case "Content-Length":
			n, ok := parseLength(value)
			if !ok {
				return 0, vals, headNotPlain
			}
			length, lengths = n, lengths+1
		case "Transfer-Encoding", "Expect", "Trailer", "Pragma", "Upgrade":
			// Upgrade: net/http's server can hand over the connection
			// for the tunnel an accepted upgrade becomes.
			return 0, vals, headNotPlain
		}
		free = addValue(h, key, value, free)
	}
	if hosts != 1 || lengths > 1 || !httpguts.ValidHostHeader(host) {
		return 0, vals, headNotPlain
	}
	if r.URL.Host != "" { // absolute form: the target's authority wins over Host
		host = r.URL.Host
	}
	r.Method, r.RequestURI, r.Host = method, target, host
	r.Proto, r.ProtoMajor, r.ProtoMinor = proto, 1, 1
	r.ContentLength = length
	r.Close = httpguts.HeaderValuesContainsToken(h["Connection"], "close")
	return size, vals, headPlain
}

// parseTarget parses a request target into u as url.ParseRequestURI does,
// and reports whether it is origin-form or "http://" absolute-form. A
// path of plain characters (those url.URL keeps as they are) with an
// optional query is taken apart in place; anything else goes through
// url.ParseRequestURI.
func parseTarget(target string, u *url.URL) bool {
	for i := 0; i < len(target); i++ {
		if c := target[i]; c < 0x21 || c == 0x7f {
			return false // url rejects control bytes; a space cannot be here
		}
	}
	switch {
	case strings.HasPrefix(target, "/"):
		if path, query, hasQuery := strings.Cut(target, "?"); plainPath(path) && (!hasQuery || query != "") {
			*u = url.URL{Path: path, RawQuery: query}
			return true
		}
	case !strings.HasPrefix(target, "http://"):
		return false
	}
	parsed, err := url.ParseRequestURI(target)
	if err != nil {
		return false
	}
	*u = *parsed
	return true
}

// plainPath reports whether url.URL would keep every byte of path as it
// is: letters, digits and the characters it never escapes in a path.
// Anything else (percent-escapes included) needs url's own parsing.
func plainPath(path string) bool {
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_.~$&+,/:;=@", c) >= 0:
		default:
			return false
		}
	}
	return true
}
