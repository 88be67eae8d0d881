// Package pathnorm normalizes request paths before route matching, as
// Istio's meshConfig pathNormalization defines it. The normalized path is
// both what routes match and what the proxy forwards, so that a prefix
// match on /admin cannot be bypassed with /x/../admin while the upstream
// still serves /admin.
//
// The modes, Istio's names, each doing what the one before it does and more:
//
//   - NONE: the path as received.
//   - BASE, Istio's default (Envoy's normalize_path): percent-encoded
//     unreserved characters (ALPHA, DIGIT, "-", ".", "_", "~") are decoded,
//     so %2e is a dot; backslashes become slashes; dot segments are removed
//     as RFC 3986 §5.2.4 says. A ".." at the root stays at the root, as in
//     Envoy (its canonicalizer is Chromium's): "/../a" is "/a". Other
//     percent-escapes stay as they are, in the case they came in.
//   - MERGE_SLASHES: runs of slashes become one.
//   - DECODE_AND_MERGE_SLASHES: %2F and %5C (either case) are decoded
//     first, so they separate segments too.
//
// A path with a NUL (%00) or a malformed percent-escape is refused, as Envoy
// refuses it. Normalize does not allocate for a path it leaves unchanged.
package pathnorm

import (
	"errors"
	"fmt"
	"strings"
)

// Mode is a pathNormalization setting. The zero Mode is Base, Istio's
// default.
type Mode uint8

const (
	Base Mode = iota
	None
	MergeSlashes
	DecodeAndMergeSlashes
)

var names = [...]string{Base: "BASE", None: "NONE", MergeSlashes: "MERGE_SLASHES", DecodeAndMergeSlashes: "DECODE_AND_MERGE_SLASHES"}

// String returns Istio's name for m.
func (m Mode) String() string {
	if int(m) < len(names) {
		return names[m]
	}
	return fmt.Sprintf("Mode(%d)", m)
}

// ParseMode reads Istio's name for a mode, in any case; "" is Base.
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return Base, nil
	}
	for m, name := range names {
		if strings.EqualFold(s, name) {
			return Mode(m), nil
		}
	}
	return 0, fmt.Errorf("unknown path normalization %q: use NONE, BASE, MERGE_SLASHES or DECODE_AND_MERGE_SLASHES", s)
}

// ErrInvalid is returned for a path that cannot be normalized: a NUL or a
// percent sign not followed by two hex digits. The request is a bad one.
var ErrInvalid = errors.New("the path has a NUL or a malformed percent-escape")

// Normalize returns path p (escaped, as in the request target, without the
// query) normalized by mode m. It returns p itself when nothing changes.
func Normalize(p string, m Mode) (string, error) {
	if m == None || unchanged(p, m) {
		return p, nil
	}
	b, err := decode(p, m)
	if err != nil {
		return "", err
	}
	b = removeDots(b)
	if m >= MergeSlashes {
		b = mergeSlashes(b)
	}
	if string(b) == p { // the compiler does not allocate for this comparison
		return p, nil
	}
	return string(b), nil
}

// NormalizeTarget normalizes the path of a request target ("/a/../b?q=1")
// and keeps its query as it is. The target "*" (OPTIONS *) is no path.
func NormalizeTarget(target string, m Mode) (string, error) {
	if target == "*" {
		return target, nil
	}
	path, query, hasQuery := strings.Cut(target, "?")
	norm, err := Normalize(path, m)
	if err != nil || norm == path {
		return target, err
	}
	if hasQuery {
		return norm + "?" + query, nil
	}
	return norm, nil
}

// unchanged reports, without allocating, whether normalizing p by m leaves
// it as it is: it starts with a slash and has no backslash, no dot segment,
// no percent-escape that normalization decodes or refuses, and for the
// merging modes no "//". Only a path it rejects takes the slow way.
func unchanged(p string, m Mode) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			return false
		case '/':
			if m >= MergeSlashes && i+1 < len(p) && p[i+1] == '/' {
				return false
			}
		case '.':
			if dotSegment(p, i) {
				return false
			}
		case '%':
			v, ok := escape(p, i)
			if !ok || decodes(v, m) {
				return false
			}
			i += 2
		}
	}
	return true
}

// dotSegment reports whether the dot at p[i] starts a "." or ".." segment.
func dotSegment(p string, i int) bool {
	if i == 0 || p[i-1] != '/' {
		return false
	}
	rest := p[i+1:]
	if strings.HasPrefix(rest, ".") {
		rest = rest[1:]
	}
	return rest == "" || rest[0] == '/'
}

// escape reads the percent-escape at p[i], if it is one.
func escape(p string, i int) (byte, bool) {
	if i+2 >= len(p) {
		return 0, false
	}
	hi, ok1 := unhex(p[i+1])
	lo, ok2 := unhex(p[i+2])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodes reports whether an escape of v is decoded (or refused) by m.
func decodes(v byte, m Mode) bool {
	return v == 0 || unreserved(v) || m == DecodeAndMergeSlashes && (v == '/' || v == '\\')
}

// unreserved reports RFC 3986 §2.3 unreserved characters.
func unreserved(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '.' || c == '_' || c == '~'
}

// decode copies p with the escapes m decodes decoded, backslashes turned
// into slashes, and a slash in front if p has none.
func decode(p string, m Mode) ([]byte, error) {
	b := make([]byte, 0, len(p)+1)
	if p == "" || p[0] != '/' && p[0] != '\\' {
		b = append(b, '/')
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case 0:
			return nil, ErrInvalid
		case '\\':
			c = '/'
		case '%':
			v, ok := escape(p, i)
			switch {
			case !ok || v == 0:
				return nil, ErrInvalid
			case !decodes(v, m):
				b = append(b, p[i:i+3]...)
				i += 2
				continue
			}
			c, i = v, i+2
			if c == '\\' {
				c = '/'
			}
		}
		b = append(b, c)
	}
	return b, nil
}

// removeDots removes dot segments from b, which starts with a slash, as
// RFC 3986 §5.2.4 does, in place. Empty segments are segments: "/a//../b"
// is "/a/b". A ".." above the root is dropped.
func removeDots(b []byte) []byte {
	out := b[:0] // "/seg/seg...", never longer than what has been read
	for rest := b[1:]; ; {
		seg, after, more := cut(rest)
		dots := string(seg) == "." || string(seg) == ".."
		switch {
		case string(seg) == "..":
			if i := lastSlash(out); i >= 0 {
				out = out[:i]
			}
		case !dots:
			// The copy may overlap seg, which is not read again.
			out = append(out, '/')
			out = append(out, seg...)
		}
		if !more {
			if dots { // "/a/.." is "/", "/a/." is "/a/"
				out = append(out, '/')
			}
			break
		}
		rest = after
	}
	if len(out) == 0 {
		out = append(out, '/')
	}
	return out
}

// cut splits b at its first slash.
func cut(b []byte) (seg, after []byte, found bool) {
	for i, c := range b {
		if c == '/' {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

func lastSlash(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '/' {
			return i
		}
	}
	return -1
}

// mergeSlashes turns each run of slashes in b into one, in place.
func mergeSlashes(b []byte) []byte {
	out := b[:0]
	for i, c := range b {
		if c == '/' && i > 0 && b[i-1] == '/' {
			continue
		}
		out = append(out, c)
	}
	return out
}
