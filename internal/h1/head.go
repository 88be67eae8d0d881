package h1

import (
	"bytes"
	"net/http"
	"strings"
)

// headVerdict is what a parser of plain heads made of a buffer.
type headVerdict uint8

const (
	headNotPlain   headVerdict = iota // not a plain head: leave it to http.ReadResponse
	headIncomplete                    // no blank line yet, and nothing seen so far rules the head out
	headPlain
)

// headExtent finds the blank line that ends the head at the start of b: it
// returns the head's size and its number of lines, headIncomplete when b
// has no blank line yet, or headNotPlain at a bare LF.
func headExtent(b []byte) (size, lines int, v headVerdict) {
	for pos := 0; ; lines++ {
		i := bytes.IndexByte(b[pos:], '\n')
		switch {
		case i < 0:
			return 0, 0, headIncomplete
		case i == 0 || b[pos+i-1] != '\r':
			return 0, 0, headNotPlain
		case i == 1 && pos > 0:
			return pos + 2, lines, headPlain
		}
		pos += i + 1
	}
}

// addValue adds value to h[key]. A key's first value is backed by free[0],
// so that a single-valued field, the usual kind, costs no allocation of its
// own; it returns what is left of free.
func addValue(h http.Header, key, value string, free []string) []string {
	if vv := h[key]; vv != nil {
		h[key] = append(vv, value)
		return free
	}
	free[0] = value
	h[key] = free[:1:1]
	return free[1:]
}

// parseField splits a header line into its canonical key and its value
// trimmed of blanks, if textproto would accept the line unchanged. A name
// not in canonical form is canonicalized through keys, if not nil.
func parseField(line string, keys *keyCache) (key, value string, ok bool) {
	name, raw, ok := strings.Cut(line, ":")
	if !ok || name == "" || !ValidValue(raw) {
		return "", "", false
	}
	canonical := true
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isTokenByte(c) {
			return "", "", false
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canonical = false
		}
		upper = c == '-'
	}
	key = name
	if !canonical {
		key = keys.canonical(name)
	}
	return key, strings.Trim(raw, " \t"), true
}

// keyCache remembers the canonical form of the last few header names a
// connection's peer sent in another case. Canonicalizing such a name
// (textproto interns only the most common ones) allocates a string per
// field per request, and a peer that sends one lowercase name, as HTTP/2
// gateways and many clients do for every name, sends it again in its next
// request. A peer cycling through more names than the cache holds only
// pays the lookup: at most len(keys) comparisons of names of the same
// length.
type keyCache struct {
	keys [8]string
	next int
}

// canonical returns http.CanonicalHeaderKey(name) for a valid field name.
func (kc *keyCache) canonical(name string) string {
	if kc == nil {
		return http.CanonicalHeaderKey(name)
	}
	for _, k := range kc.keys {
		if len(k) == len(name) && asciiEqualFold(k, name) {
			// Names that differ only in case have one canonical form.
			return k
		}
	}
	k := http.CanonicalHeaderKey(name)
	kc.keys[kc.next] = k
	kc.next = (kc.next + 1) % len(kc.keys)
	return k
}

// asciiEqualFold reports whether a and b, of equal length, are equal
// but for the case of ASCII letters.
func asciiEqualFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// parseLength reads a Content-Length: decimal digits that fit an int64.
func parseLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range []byte(v) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// ValidName reports whether name is a header field name (a token).
func ValidName(name string) bool {
	for i := 0; i < len(name); i++ {
		if !isTokenByte(name[i]) {
			return false
		}
	}
	return name != ""
}

// isTokenByte reports whether c may appear in a header field name (RFC
// 9110 tchar), as textproto checks.
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// ValidValue reports whether every byte of v may appear in a header field
// value as textproto checks it: visible ASCII, blanks, and obs-text.
func ValidValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
