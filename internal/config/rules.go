package config

import (
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file holds Istio's and Kubernetes' value rules, as pure functions
// that return "" for a valid value or the reason it is not. They follow
// istio.io/istio/pkg/config/validation (agent.ValidatePort,
// ValidateWildcardDomain, ValidateFQDN, ValidateDuration, validateHTTPRetry)
// and pkg/config/labels (Instance.Validate, which is Kubernetes'
// IsQualifiedName and IsValidLabelValue), rewritten rather than imported so
// the main module does not depend on Istio.

const (
	dns1123LabelFmt  = `[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?`
	qualifiedNameFmt = `(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
)

var (
	labelKeyRE     = regexp.MustCompile(`^(` + dns1123LabelFmt + `(?:\.` + dns1123LabelFmt + `)*/)?(` + qualifiedNameFmt + `)$`)
	labelValueRE   = regexp.MustCompile(`^(?:` + qualifiedNameFmt + `)?$`)
	dnsLabelRE     = regexp.MustCompile(`^` + dns1123LabelFmt + `$`)
	wildcardLabelR = regexp.MustCompile(`^(\*|(\*|\*-)?` + dns1123LabelFmt + `)$`)
)

// labelKeyProblem checks a label key as Kubernetes does: an optional DNS
// prefix of at most 253 characters and "/", then a name of at most 63
// alphanumerics, '-', '_' or '.', starting and ending alphanumeric.
func labelKeyProblem(k string) string {
	m := labelKeyRE.FindStringSubmatch(k)
	switch {
	case m == nil:
		return fmt.Sprintf("label key %q is not valid", k)
	case len(m[1]) > 254:
		return fmt.Sprintf("label key %q has a prefix longer than 253 characters", k)
	case len(m[2]) > 63:
		return fmt.Sprintf("label key %q has a name longer than 63 characters", k)
	}
	return ""
}

// labelValueProblem checks a label value: empty, or at most 63
// alphanumerics, '-', '_' or '.', starting and ending alphanumeric.
func labelValueProblem(v string) string {
	if len(v) > 63 || !labelValueRE.MatchString(v) {
		return fmt.Sprintf("label value %q is not valid", v)
	}
	return ""
}

// labelRules is the hint for label problems.
const labelRules = "label keys and values are up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit; a key may have a DNS prefix and '/', as in app.kubernetes.io/name"

// portProblem is agent.ValidatePort.
func portProblem(n int64) string {
	if n < 1 || n > 65535 {
		return fmt.Sprintf("port number %d must be in the range 1..65535", n)
	}
	return ""
}

// isIP reports whether s is an IPv4 or IPv6 address.
func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// fqdnProblem is agent.ValidateFQDN: DNS-1123 labels, a top-level label
// that is not all digits, an optional trailing dot.
func fqdnProblem(host string) string {
	if p := domainPreconditions(host); p != "" {
		return p
	}
	return dnsLabelsProblem(host, host)
}

// wildcardDomainProblem is agent.ValidateWildcardDomain: as an FQDN, but
// the first label may be "*", "*foo" or "*-foo".
func wildcardDomainProblem(host string) string {
	if p := domainPreconditions(host); p != "" {
		return p
	}
	first, rest, more := strings.Cut(host, ".")
	if len(first) > 63 || !wildcardLabelR.MatchString(first) {
		return labelProblem(host, first)
	}
	if more {
		return dnsLabelsProblem(host, rest)
	}
	return ""
}

func domainPreconditions(host string) string {
	switch {
	case host == "":
		return "host is empty"
	case len(host) > 255:
		return fmt.Sprintf("host %q is too long (max 255)", host)
	}
	return ""
}

func dnsLabelsProblem(host, domain string) string {
	parts := strings.Split(domain, ".")
	if _, err := strconv.Atoi(parts[len(parts)-1]); err == nil {
		return fmt.Sprintf("host %q is not valid: top-level domain %q cannot be all digits", host, parts[len(parts)-1])
	}
	for i, l := range parts {
		if i == len(parts)-1 && l == "" {
			return "" // a trailing dot, as in "istio.io."
		}
		if len(l) > 63 || !dnsLabelRE.MatchString(l) {
			return labelProblem(host, l)
		}
	}
	return ""
}

func labelProblem(host, label string) string {
	why := "letters, digits and '-' only"
	switch {
	case strings.Contains(label, ":"):
		why = "a host has no port; set the port in its own field"
	case strings.IndexFunc(label, func(r rune) bool { return r > 127 }) >= 0:
		why = "non-ASCII characters must be written in punycode (xn--...)"
	case len(label) > 63:
		why = "at most 63 characters per label"
	}
	return fmt.Sprintf("host %q is not valid: label %q (%s)", host, label, why)
}

// hostRules is the hint for host problems.
const hostRules = "write a DNS name (letters, digits, '-' and '.'; a leading '*.' for a wildcard), without port or scheme"

// gatewayHostProblem is agent.ValidateNamespaceSlashWildcardHostname for a
// Gateway server's host: "namespace/host" or "host", where host is "*", a
// wildcard domain or an IP, never a short name or a partial wildcard.
func gatewayHostProblem(h string) string {
	host := h
	if ns, rest, ok := strings.Cut(h, "/"); ok {
		if ns == "" || rest == "" {
			return fmt.Sprintf("host %q: namespace and host cannot be empty", h)
		}
		if ns != "*" && ns != "." && (len(ns) > 63 || !dnsLabelRE.MatchString(ns)) {
			return fmt.Sprintf("host %q: %q is not a valid namespace (write a namespace, '.' or '*')", h, ns)
		}
		host = rest
	}
	if host != "*" && !strings.Contains(host, ".") {
		return fmt.Sprintf("host %q: short names are not allowed in a Gateway; write the full name, e.g. %s.example.com", h, host)
	}
	if p := wildcardDomainProblem(host); p != "" && !isIP(host) {
		return p
	}
	if strings.Contains(host, "*") && host != "*" && !strings.HasPrefix(host, "*.") {
		return fmt.Sprintf("host %q: partial wildcard not allowed; use '*' or a leading '*.'", h)
	}
	return ""
}

// durationProblem is agent.ValidateDuration: at least 1ms, in whole
// milliseconds (Envoy's precision).
func durationProblem(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("duration %v must be at least 1ms", d)
	case d%time.Millisecond != 0:
		return fmt.Sprintf("duration %v is finer than a millisecond, which Envoy cannot apply", d)
	}
	return ""
}

// retryOnPolicies are the policies Istio accepts in retryOn, Envoy's
// x-envoy-retry-on and x-envoy-retry-grpc-on names.
var retryOnPolicies = []string{
	"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx",
	"refused-stream", "retriable-status-codes", "retriable-headers", "envoy-ratelimited",
	"http3-post-connect-failure",
	"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
}

// retryOnProblems returns, for each entry of a retryOn list that is neither
// a supported policy nor an HTTP status code, the reason and a hint.
func retryOnProblems(retryOn string) (problems, hints []string) {
	for _, p := range strings.Split(retryOn, ",") {
		if i, err := strconv.Atoi(p); err == nil && http.StatusText(i) != "" {
			continue
		}
		if slices.Contains(retryOnPolicies, p) {
			continue
		}
		problems = append(problems, fmt.Sprintf("%q is not a valid retryOn policy", p))
		hint := "use a comma-separated list of " + strings.Join(retryOnPolicies, ", ") + ", or HTTP status codes"
		if near := nearRetryOn(p); near != "" {
			hint = near
		}
		hints = append(hints, hint)
	}
	return problems, hints
}

// nearRetryOn proposes the policy a user meant: a near spelling, Envoy's
// name without the "on-" of the header's wording, or, for timeouts, 5xx,
// which is the policy that retries an upstream that does not answer.
func nearRetryOn(p string) string {
	p = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(p)), "on-")
	if strings.Contains(p, "timeout") || strings.Contains(p, "timed-out") {
		return `did you mean "5xx"? It retries an upstream that times out ("reset" retries a reset stream)`
	}
	if near := closest(p, retryOnPolicies); near != "" {
		return fmt.Sprintf("did you mean %q?", near)
	}
	return ""
}

// closest returns the name nearest to s (edit distance under 4, or s
// contained in it), or "".
func closest(s string, names []string) string {
	best, bestDist := "", 4
	for _, n := range names {
		d := editDistance(s, n)
		if d < bestDist {
			best, bestDist = n, d
		}
	}
	if best == "" {
		for _, n := range names {
			if s != "" && (strings.Contains(n, s) || strings.Contains(s, n)) {
				return n
			}
		}
	}
	return best
}

// protocols are the port protocols Istio parses (protocol.Parse), upper
// case; anything else is Unsupported.
var protocols = []string{"TCP", "UDP", "GRPC", "GRPC-WEB", "HTTP", "HTTP_PROXY", "HTTP2", "HTTPS", "TLS", "MONGO", "REDIS", "MYSQL", "THRIFT"}

// isTLSProtocol reports whether a port protocol terminates or passes TLS.
func isTLSProtocol(p string) bool {
	p = strings.ToUpper(p)
	return p == "HTTPS" || p == "TLS"
}

// headerNameRE is RFC 7230's token, what Istio accepts as a header name to
// match on (validHeaderNameRegex).
var headerNameRE = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~A-Za-z0-9]+$")

// ValidSubsetName reports whether s may name a DestinationRule subset: a
// DNS label, as Istio's validation has it.
func ValidSubsetName(s string) bool { return len(s) <= 63 && dnsLabelRE.MatchString(s) }

// ValidHeaderName reports whether h is a header name Istio accepts: an
// RFC 7230 token.
func ValidHeaderName(h string) bool { return headerNameRE.MatchString(h) }

// pseudoHeaders may be matched on although they are not tokens.
var pseudoHeaders = []string{":method", ":scheme", ":authority", ":path", ":status"}

// jwtClaimPrefix starts the "header" names Istio matches on a verified
// JWT's claims instead of on headers.
const jwtClaimPrefix = "@request.auth.claims"

// matchHeaderProblem is ValidateHTTPHeaderNameOrJwtClaimRoute. An empty
// name is reported by the existing match check.
func matchHeaderProblem(name string) string {
	if name == "" || strings.HasPrefix(name, jwtClaimPrefix) || slices.Contains(pseudoHeaders, name) || headerNameRE.MatchString(name) {
		return ""
	}
	return fmt.Sprintf("header name %q is not a valid header name", name)
}

// headerOpProblem is ValidateHTTPHeaderOperationName (and, for request
// add and set, ValidateHTTPHeaderWithAuthorityOperationName, which allows
// ":authority" and "host").
func headerOpProblem(name string, authorityOK bool) string {
	switch {
	case name == "":
		return "header name cannot be empty"
	case authorityOK && (strings.EqualFold(name, ":authority") || strings.EqualFold(name, "host")):
		return ""
	case strings.EqualFold(name, "host"):
		return fmt.Sprintf("invalid header %q: cannot set the Host header here", name)
	case strings.HasPrefix(name, ":"):
		return fmt.Sprintf("invalid header %q: header cannot have \":\" prefix", name)
	}
	return ""
}

// headerValueProblem is ValidateHTTPHeaderValue: no control characters,
// and a valid Envoy format string (headerFormatProblem).
func headerValueProblem(v string) string {
	for _, r := range v {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			return fmt.Sprintf("header value %q holds a control character", v)
		}
	}
	if p := headerFormatProblem(v); p != "" {
		return fmt.Sprintf("header value %q: %s", v, p)
	}
	return ""
}
