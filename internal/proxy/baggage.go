package proxy

import (
	"strings"
)

// W3C Baggage (https://www.w3.org/TR/baggage/), the part a sidecar needs to
// carry a lane in it: find one member's value, and set one member while
// keeping the others as they were. Baggage comes from the app, and through
// it from anyone who called the app, so it is parsed strictly and bounded:
//
//	baggage-string = list-member 0*179( OWS "," OWS list-member )
//	list-member    = key OWS "=" OWS value *( OWS ";" OWS property )
//	property       = key OWS "=" OWS value / key
//	key            = token
//	value          = *baggage-octet (percent-encoded UTF-8)
//
// Limits are OpenTelemetry's, which is what an instrumented app parses
// with: 180 members and 8,192 bytes in all (W3C asks every platform to
// carry at least 64 members and 8,192 bytes). A header that breaks the
// grammar or the limits is invalid as a whole, as OpenTelemetry treats it.
const (
	maxBaggageMembers = 180
	maxBaggageBytes   = 8192
)

// baggageValue returns the decoded value of member key in the baggage
// header lines hs (several lines are one comma-separated list), and false
// when there is none or the baggage is invalid.
func baggageValue(hs []string, key string) (string, bool) {
	if len(hs) == 0 {
		return "", false
	}
	// The whole header is checked (invalid baggage is ignored whole), but
	// without collecting its members: this runs on every outgoing call.
	var value string
	found := false
	ok := scanBaggage(hs, func(m baggageMember) {
		if !found && m.key == key {
			value, found = m.value, true
		}
	})
	if !ok || !found {
		return "", false
	}
	return percentDecode(value)
}

// withBaggageMember returns one baggage header value: member key=value
// first, then the members of hs other than key, in their order, with their
// properties. Members that would take the header past its limits are
// dropped from the end, as W3C allows; invalid baggage is replaced by the
// one member. key must be a token and value at most maxLaneNameBytes.
func withBaggageMember(hs []string, key, value string) string {
	var b strings.Builder
	b.WriteString(key)
	b.WriteByte('=')
	percentEncode(&b, value)
	members, ok := splitBaggage(hs)
	if !ok {
		return b.String()
	}
	n := 1
	for _, m := range members {
		if m.key == key {
			continue
		}
		if n == maxBaggageMembers || b.Len()+1+len(m.raw) > maxBaggageBytes {
			break
		}
		b.WriteByte(',')
		b.WriteString(m.raw)
		n++
	}
	return b.String()
}

// baggageMember is one list member: its key and raw value, and the member
// as written (without surrounding whitespace) for copying it unchanged.
type baggageMember struct {
	key, value, raw string
}

// splitBaggage parses baggage header lines. Empty list entries (",,") are
// skipped, as OpenTelemetry skips them; anything else off the grammar, or
// over the limits, makes the whole baggage invalid.
func splitBaggage(hs []string) ([]baggageMember, bool) {
	var out []baggageMember
	if !scanBaggage(hs, func(m baggageMember) { out = append(out, m) }) {
		return nil, false
	}
	return out, true
}

// scanBaggage calls each with every member of baggage header lines hs, in
// order, and reports whether the baggage is valid; when it is not, each
// may have seen some members already.
func scanBaggage(hs []string, each func(baggageMember)) bool {
	total, n := 0, 0
	for _, h := range hs {
		total += len(h)
		if total > maxBaggageBytes {
			return false
		}
		for h != "" {
			part, rest, _ := strings.Cut(h, ",")
			h = rest
			raw := trimOWS(part)
			if raw == "" {
				continue
			}
			m, ok := parseMember(raw)
			if !ok || n == maxBaggageMembers {
				return false
			}
			n++
			each(m)
		}
	}
	return true
}

// parseMember parses one list member.
func parseMember(raw string) (baggageMember, bool) {
	kv, props, _ := strings.Cut(raw, ";")
	k, v, ok := strings.Cut(kv, "=")
	k, v = trimOWS(k), trimOWS(v)
	if !ok || !isToken(k) || !isBaggageValue(v) {
		return baggageMember{}, false
	}
	for props != "" {
		var p string
		p, props, _ = strings.Cut(props, ";")
		pk, pv, hasValue := strings.Cut(p, "=")
		if pk = trimOWS(pk); !isToken(pk) || hasValue && !isBaggageValue(trimOWS(pv)) {
			return baggageMember{}, false
		}
	}
	return baggageMember{key: k, value: v, raw: raw}, true
}

func trimOWS(s string) string { return strings.Trim(s, " \t") }

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChar(s[i]) {
			return false
		}
	}
	return true
}

func tokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// baggageOctet reports whether c may appear in a value unencoded:
// printable ASCII but space, DQUOTE, comma, semicolon and backslash.
func baggageOctet(c byte) bool {
	return c == 0x21 || c >= 0x23 && c <= 0x2B || c >= 0x2D && c <= 0x3A || c >= 0x3C && c <= 0x5B || c >= 0x5D && c <= 0x7E
}

func isBaggageValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if !baggageOctet(s[i]) {
			return false
		}
	}
	return true
}

// percentEncode writes s with every byte that is not a baggage octet, and
// '%' itself, percent-encoded.
func percentEncode(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if baggageOctet(c) && c != '%' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

// percentDecode decodes a value's %XX escapes; a malformed escape makes
// the value invalid.
func percentDecode(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		out = append(out, hi<<4|lo)
		i += 2
	}
	return string(out), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
