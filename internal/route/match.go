package route

import (
	"regexp"
	"strings"
)

// This file holds the compiled matchers that Decide runs on every request. Each is a small
// struct with a kind tag rather than an interface so that a Route's matchers sit in one
// contiguous slice and a match costs a switch, not a dynamic call; none of them allocates
// unless a header has several values or a query parameter is percent-encoded.

// pathKind says how a pathMatcher compares the request path.
type pathKind uint8

const (
	pathPrefix          pathKind = iota // RouteMatch.prefix
	pathExact                           // RouteMatch.path
	pathSeparatedPrefix                 // RouteMatch.path_separated_prefix
	pathRegex                           // RouteMatch.safe_regex, anchored at New
)

// pathMatcher matches the path without its query string, as Envoy does for every path specifier.
type pathMatcher struct {
	kind       pathKind
	value      string // lowered at New when ignoreCase
	ignoreCase bool   // RouteMatch.case_sensitive == false; never set for regexes
	re         *regexp.Regexp
}

func (m *pathMatcher) match(path string) bool {
	switch m.kind {
	case pathPrefix:
		return hasPrefix(path, m.value, m.ignoreCase)
	case pathExact:
		return equal(path, m.value, m.ignoreCase)
	case pathSeparatedPrefix:
		// The prefix must end at a segment boundary: "/api" matches "/api" and "/api/x",
		// never "/apix".
		return hasPrefix(path, m.value, m.ignoreCase) &&
			(len(path) == len(m.value) || path[len(m.value)] == '/')
	default:
		return m.re.MatchString(path)
	}
}

// stringKind says how a stringMatcher compares a value (envoy.type.matcher.v3.StringMatcher).
type stringKind uint8

const (
	strExact stringKind = iota
	strPrefix
	strSuffix
	strContains
	strRegex
)

// stringMatcher is a compiled envoy StringMatcher. ignore_case is ASCII-only, like Envoy's
// absl::EqualsIgnoreCase, so that Unicode folding (the Kelvin sign and friends) cannot make us
// match where Envoy would not.
type stringMatcher struct {
	kind       stringKind
	value      string // lowered at New when ignoreCase
	ignoreCase bool
	re         *regexp.Regexp // anchored, whole-string
}

func (m *stringMatcher) match(v string) bool {
	switch m.kind {
	case strExact:
		return equal(v, m.value, m.ignoreCase)
	case strPrefix:
		return hasPrefix(v, m.value, m.ignoreCase)
	case strSuffix:
		return len(v) >= len(m.value) && equal(v[len(v)-len(m.value):], m.value, m.ignoreCase)
	case strContains:
		if !m.ignoreCase {
			return strings.Contains(v, m.value)
		}
		for i := 0; i+len(m.value) <= len(v); i++ {
			if hasPrefix(v[i:], m.value, true) {
				return true
			}
		}
		return false
	default:
		return m.re.MatchString(v)
	}
}

// headerSource says where a header matcher reads its value. Go's net/http keeps the method,
// the Host header and the request target outside Request.Header, so Envoy's pseudo-headers (and
// the legacy "host" name, which Envoy aliases to :authority) map to Request fields.
type headerSource uint8

const (
	fromHeader headerSource = iota
	fromMethod
	fromAuthority
	fromPath
)

// headerKind is the HeaderMatcher specifier family.
type headerKind uint8

const (
	headerString headerKind = iota // string_match and the legacy exact/prefix/suffix/contains/regex fields
	headerPresent
	headerRange
)

// headerMatcher is a compiled envoy HeaderMatcher.
type headerMatcher struct {
	source         headerSource
	key            string // canonical MIME key, computed once at New so Decide can index Header directly
	kind           headerKind
	str            stringMatcher
	present        bool  // present_match value
	start, end     int64 // range_match, [start, end)
	invert         bool
	missingAsEmpty bool // treat_missing_header_as_empty
}

// match implements Envoy's header matchers. A present_match compares presence with the
// wanted value. Every other kind never matches a missing header, even when inverted, unless
// treat_missing_header_as_empty is set; this is why Istio's withoutHeaders needs that flag to
// match requests that lack the header.
func (m *headerMatcher) match(r *Request) bool {
	v, ok := m.lookup(r)
	switch {
	case m.kind == headerPresent:
		return (ok == m.present) != m.invert
	case !ok && !m.missingAsEmpty:
		return false
	case m.kind == headerRange:
		n, isInt := parseInt64(v)
		return (isInt && n >= m.start && n < m.end) != m.invert
	default:
		return m.str.match(v) != m.invert
	}
}

// lookup returns the header's value. Several values are joined with "," as Envoy's
// getAllOfHeaderAsString does; only that case allocates. (Envoy 1.39 reportedly moved to
// matching each value on its own, behind the runtime guard match_headers_individually; if
// lanemesh follows, only this function and its tests change.) An empty pseudo-header field
// counts as absent because net/http leaves it empty when the request did not carry it.
func (m *headerMatcher) lookup(r *Request) (string, bool) {
	switch m.source {
	case fromMethod:
		return r.Method, r.Method != ""
	case fromAuthority:
		return r.Authority, r.Authority != ""
	case fromPath:
		return r.Path, r.Path != ""
	}
	vals := r.Header[m.key]
	switch len(vals) {
	case 0:
		return "", false
	case 1:
		return vals[0], true
	}
	return strings.Join(vals, ","), true
}

// queryMatcher is a compiled envoy QueryParameterMatcher. As in Envoy only the first
// occurrence of the name counts.
type queryMatcher struct {
	name     string
	presence bool // present_match, or no specifier at all: compare presence with present
	present  bool
	str      stringMatcher
}

func (m *queryMatcher) match(query string) bool {
	v, ok := queryValue(query, m.name)
	if m.presence {
		return ok == m.present
	}
	return ok && m.str.match(v)
}

// queryValue scans a raw query string for the first parameter called name and returns its
// percent-decoded value. It splits on '&' and the first '=' like Envoy's
// QueryParamsMulti::parseParameters ("+" is not a space there either), and decodes a name or
// value only when it contains '%', so the common case does not allocate.
func queryValue(query, name string) (string, bool) {
	for query != "" {
		param := query
		if i := strings.IndexByte(query, '&'); i >= 0 {
			param, query = query[:i], query[i+1:]
		} else {
			query = ""
		}
		key, val, _ := strings.Cut(param, "=")
		if key != name && (strings.IndexByte(key, '%') < 0 || percentDecode(key) != name) {
			continue
		}
		if strings.IndexByte(val, '%') >= 0 {
			val = percentDecode(val)
		}
		return val, true
	}
	return "", false
}

// percentDecode decodes %XX escapes and, like Envoy's PercentEncoding::decode, keeps malformed
// escapes verbatim instead of failing.
func percentDecode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// splitTarget splits a request target into the path Envoy matches path specifiers against
// (query and fragment removed, as Http::PathUtil::removeQueryAndFragment does) and the raw query.
func splitTarget(target string) (path, query string) {
	// A byte loop: strings.IndexAny with two needles costs a sixth of a small-table Decide.
	i := 0
	for i < len(target) && target[i] != '?' && target[i] != '#' {
		i++
	}
	if i == len(target) {
		return target, ""
	}
	path = target[:i]
	if target[i] == '#' {
		return path, ""
	}
	query = target[i+1:]
	if j := strings.IndexByte(query, '#'); j >= 0 {
		query = query[:j]
	}
	return path, query
}

// parseInt64 parses a header value for range_match the way absl::SimpleAtoi does (surrounding
// ASCII whitespace and one sign allowed) without strconv's allocating error on bad input.
func parseInt64(s string) (int64, bool) {
	s = strings.Trim(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	if s == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<63)/10 { // n*10 would pass 1<<63 (and might wrap)
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > 1<<63 {
			return 0, false
		}
	}
	if neg {
		return -int64(n), true // -(1<<63) wraps to math.MinInt64, which is right
	}
	if n == 1<<63 {
		return 0, false
	}
	return int64(n), true
}

// equal reports whether s equals want; when fold is set, want is already lower-case and s is
// compared ASCII-case-insensitively.
func equal(s, want string, fold bool) bool {
	if !fold {
		return s == want
	}
	if len(s) != len(want) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower(s[i]) != want[i] {
			return false
		}
	}
	return true
}

// hasPrefix is strings.HasPrefix with the same folding rule as equal.
func hasPrefix(s, prefix string, fold bool) bool {
	return len(s) >= len(prefix) && equal(s[:len(prefix)], prefix, fold)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// asciiLower lower-cases ASCII letters only (like absl::AsciiStrToLower) and returns s itself,
// without allocating, when there is nothing to change.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lower(b[j])
			}
			return string(b)
		}
	}
	return s
}
